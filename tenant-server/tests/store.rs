//! The store backends behave alike: embedded (a file) and Redis (a real redis-server on
//! 127.0.0.1, started here; skipped with a message when redis-server is not installed).

// A test crate: helpers fail loudly like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{process::Stdio, time::Duration};

use mcp_tenant_server::store::{EmbeddedStore, RedisStore, Store};

async fn exercise(store: &dyn Store) {
    store.ping().await.unwrap();
    store
        .put("code/a", b"one".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get("code/a").await.unwrap().as_deref(), Some(&b"one"[..]));
    store
        .put("code/a", b"two".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.take("code/a").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(store.take("code/a").await.unwrap(), None, "take is single use");
    store
        .put("gone", b"x".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    store.delete("gone").await.unwrap();
    assert_eq!(store.get("gone").await.unwrap(), None);
    store
        .put("short", b"x".to_vec(), Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(store.get("short").await.unwrap(), None, "expired");
}

#[tokio::test]
async fn embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&EmbeddedStore::open(&dir.path().join("store.json")).await.unwrap()).await;
}

#[tokio::test]
async fn redis_store() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let mut store = None;
    for _ in 0..50 {
        if let Ok(s) = RedisStore::connect(&url, "contoso").await {
            store = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = store.expect("redis-server accepts connections within 5 s");
    exercise(&store).await;
    // Keys are namespaced by tenant.
    let other = RedisStore::connect(&url, "fabrikam").await.unwrap();
    store
        .put("shared-name", b"contoso".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(other.get("shared-name").await.unwrap(), None);
    server.kill().await.unwrap();
    assert!(store.ping().await.is_err(), "a stopped Redis is not ready");
}
