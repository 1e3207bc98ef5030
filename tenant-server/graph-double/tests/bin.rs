//! The `mcp-graph-double` binary serves the seeded tenant on the address it is given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::Duration,
};

fn get(addr: &str, path: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_on_the_given_address_with_the_dev_token() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-graph-double"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--messages",
            "30",
            "--accept-token",
            "extra-token",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let me = get(&addr, "/v1.0/me", mcp_graph_double::DEFAULT_TOKEN);
    assert!(me.starts_with("HTTP/1.1 200"), "{me}");
    assert!(me.contains("adele@contoso.example"));
    let page = get(
        &addr,
        "/v1.0/me/mailFolders/inbox/messages?$top=50",
        "extra-token",
    );
    assert!(
        page.starts_with("HTTP/1.1 200") && !page.contains("@odata.nextLink"),
        "30 messages fit one page"
    );
    let denied = get(&addr, "/v1.0/me", "wrong");
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    child.kill().unwrap();
    child.wait().unwrap();
}
