//! The real OpenID provider (npm `oidc-provider`) in `tests/support/oidc`, started on
//! 127.0.0.1 for one test and stopped when dropped (its stdin closes, and it is killed).

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub struct Provider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

fn dir() -> PathBuf {
    // From the workspace root, so the adapter's tests can include this file too.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tenant-server/tests/support/oidc")
}

fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs the provider's npm packages (from package-lock.json) unless present. Test processes
/// may run in parallel (nextest), so installs are serialised by a file lock.
fn npm_ci() {
    let lock_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oidc-npm-ci.lock");
    let lock = std::fs::File::create(&lock_path).expect("create the npm lock file");
    lock.lock().expect("lock the npm lock file");
    if !dir().join("node_modules/oidc-provider").exists() {
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(dir())
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in tests/support/oidc failed");
    }
    drop(lock);
}

impl Provider {
    /// Starts the provider, or returns None (after saying so) when node is not installed. A
    /// provider that has not said it is ready within 30 s is killed and started once more (a
    /// start was once seen to stall on a loaded CI machine); its stderr is in the panic message.
    pub async fn start() -> Option<Self> {
        if !node_available() {
            eprintln!("SKIPPED: node is not installed; the OpenID provider tests need Node.js (>= 20)");
            return None;
        }
        npm_ci();
        let mut failures = Vec::new();
        for attempt in 1..=2 {
            match Self::spawn(attempt).await {
                Ok(provider) => return Some(provider),
                Err(failure) => failures.push(format!("attempt {attempt}: {failure}")),
            }
        }
        panic!("the OpenID provider did not start:\n{}", failures.join("\n"));
    }

    async fn spawn(attempt: u32) -> Result<Self, String> {
        let stderr_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("oidc-provider-{}-{attempt}.stderr", std::process::id()));
        let stderr = std::fs::File::create(&stderr_path).expect("create the provider's stderr file");
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await;
        let failure = match line {
            Ok(Ok(Some(line))) => {
                let ready: Value = serde_json::from_str(&line).expect("a JSON ready line");
                let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
                return Ok(Self {
                    issuer,
                    child,
                    http: reqwest::Client::new(),
                });
            }
            Ok(Ok(None)) => "it exited before printing its issuer".to_owned(),
            Ok(Err(error)) => format!("reading its stdout: {error}"),
            Err(_) => "not ready within 30 s".to_owned(),
        };
        let _ = child.kill().await;
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        Err(format!("{failure}; stderr: {stderr}"))
    }

    /// A client_credentials access token for one of the provider's test clients.
    pub async fn token(&self, client: &str, resource: &str) -> String {
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", &format!("{client}-secret")),
                ("resource", resource),
                ("scope", "mcp"),
            ])
            .send()
            .await
            .expect("token request");
        let body: Value = response.json().await.expect("token response");
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"))
            .to_owned()
    }

    /// Replaces the provider's signing keys (new kids).
    pub async fn rotate_keys(&self) {
        let response = self
            .http
            .post(format!("{}/__test/rotate", self.issuer))
            .send()
            .await
            .expect("rotate");
        assert!(response.status().is_success());
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The tenant server's client at the provider (builtin mode's upstream sign-in).
pub const TENANT_SERVER_CLIENT: &str = "tenant-server";
pub const TENANT_SERVER_SECRET: &str = "tenant-server-secret";

impl Provider {
    /// Registers the tenant server's redirect URIs (its `/oauth/callback`), replacing any given
    /// before or by `OIDC_REDIRECT_URIS`; the client exists once it has one.
    pub async fn set_redirect_uris(&self, uris: &[&str]) {
        let response = self
            .http
            .post(format!("{}/__test/redirect_uris", self.issuer))
            .json(&serde_json::json!({ "redirect_uris": uris }))
            .send()
            .await
            .expect("set the redirect URIs");
        assert!(response.status().is_success());
    }
}

/// Completes an upstream sign-in as `user` without a browser: follows the redirects from
/// `authorization_url` (keeping the provider's cookies), posts the sign-in form, and returns the
/// final redirect to the tenant server's callback (with `code` and `state`, or an `error`).
/// `http` must not follow redirects; cookies are kept here, so it needs no cookie store.
pub async fn sign_in(http: &reqwest::Client, authorization_url: &str, user: &str) -> String {
    let mut url = url::Url::parse(authorization_url).expect("an authorization URL");
    let redirect_uri = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("the authorization URL names its redirect_uri");
    let mut cookies = std::collections::BTreeMap::<String, String>::new();
    let mut form: Option<Vec<(&str, &str)>> = None;
    for _ in 0..10 {
        let cookie_header = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = match form.take() {
            Some(fields) => http.post(url.clone()).form(&fields),
            None => http.get(url.clone()),
        };
        // A fresh connection per step: node closes a kept-alive socket after the interaction's
        // form post, and reqwest would send the next step into the closed socket.
        let response = request
            .header(http::header::CONNECTION, "close")
            .header(http::header::COOKIE, cookie_header)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the provider answers {url} (cookies {cookies:?}): {e}"));
        for value in response.headers().get_all(http::header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            cookies.insert(name.trim().to_owned(), value.to_owned());
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response.headers()[http::header::LOCATION].to_str().unwrap();
            let next = url.join(location).unwrap();
            if next.as_str().starts_with(&redirect_uri) {
                return next.to_string();
            }
            url = next;
            continue;
        }
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{url} answered {status}: {body}");
        // The sign-in page: post its form with the user's login.
        let action = body
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no sign-in form at {url}: {body}"));
        url = url.join(action).unwrap();
        form = Some(vec![("login", user)]);
    }
    panic!("the sign-in did not reach {redirect_uri} within 10 steps");
}
