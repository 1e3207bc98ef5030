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
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/oidc")
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
    /// Starts the provider, or returns None (after saying so) when node is not installed.
    pub async fn start() -> Option<Self> {
        if !node_available() {
            eprintln!("SKIPPED: node is not installed; the OpenID provider tests need Node.js (>= 20)");
            return None;
        }
        npm_ci();
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the provider starts within 20 s")
            .expect("reading the provider's stdout")
            .expect("the provider prints its issuer");
        let ready: Value = serde_json::from_str(&line).expect("a JSON ready line");
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        Some(Self {
            issuer,
            child,
            http: reqwest::Client::new(),
        })
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
