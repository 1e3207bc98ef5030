//! A real `redis-server` on a free loopback port for tests and benchmarks, killed on drop;
//! optionally TLS-only, with a CA made here. `None` (after a message) when redis-server is not
//! installed, so that a machine without it skips rather than fails.
// Fixtures are test code: failing loudly is what they should do.

use std::{process::Stdio, time::Duration};

use tokio::process::{Child, Command};

pub struct RedisServer {
    child: Child,
    pub port: u16,
    args: Vec<String>,
    /// TLS: the CA that signed the server's certificate (PEM), and the files it was written to.
    pub ca_pem: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn installed() -> bool {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

impl RedisServer {
    /// Plain TCP, no password.
    pub async fn start() -> Option<Self> {
        Self::with_args(Vec::new(), None, None).await
    }

    /// TLS only (no plain port), with a password: the server's certificate is for `localhost`
    /// and `127.0.0.1`, signed by a CA made here ([`Self::ca_pem`]).
    pub async fn start_tls(password: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test Redis CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let args = vec![
            "--tls-port".into(),
            String::new(), // the port, filled in by `with_args`
            "--port".into(),
            "0".into(),
            "--tls-cert-file".into(),
            write("server.crt", cert.pem()),
            "--tls-key-file".into(),
            write("server.key", key.serialize_pem()),
            "--tls-ca-cert-file".into(),
            write("ca.crt", ca.pem()),
            "--tls-auth-clients".into(),
            "no".into(),
            "--requirepass".into(),
            password.into(),
        ];
        Self::with_args(args, Some(ca.pem()), Some(dir)).await
    }

    async fn with_args(
        mut extra: Vec<String>,
        ca_pem: Option<String>,
        dir: Option<tempfile::TempDir>,
    ) -> Option<Self> {
        if !installed() {
            return None;
        }
        let port = free_port();
        let mut args = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
        ];
        args.extend(["--appendonly".into(), "no".into()]);
        match extra.iter().position(|a| a == "--tls-port") {
            Some(at) => extra[at + 1] = port.to_string(),
            None => extra.extend(["--port".into(), port.to_string()]),
        }
        args.extend(extra);
        let server = Self {
            child: spawn(&args),
            port,
            args,
            ca_pem,
            _dir: dir,
        };
        server.wait_listening().await;
        Some(server)
    }

    async fn wait_listening(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server listens on {} within 5 s", self.port)
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (every key is lost: it saves nothing).
    pub async fn stop(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.child = spawn(&self.args);
        self.wait_listening().await;
    }
}
