//! The store backends behave alike: one suite of behaviours runs against the embedded store (a
//! journal file, and in memory) and Redis (a real redis-server on 127.0.0.1, started here; skipped
//! with a message when redis-server is not installed). Then what only the embedded journal does:
//! restarts, torn and corrupt records, the old format, compaction.

// A test crate: helpers fail loudly like the tests themselves.

use std::{path::Path, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use mcp_tenancy_config::RateLimit;
use mcp_tenant_server::store::{
    EmbeddedStore, MAX_KEY_BYTES, MAX_SET_MEMBERS, MAX_VALUE_BYTES, RedisOptions, RedisStore, Shared, Store,
    StoreError,
};

use crate::support::redis::RedisServer;

const MINUTE: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(300);
/// Long enough for a `SHORT` TTL to run out.
const PAST_SHORT: Duration = Duration::from_millis(500);

fn too_large(result: Result<impl std::fmt::Debug, StoreError>, limit: &str) {
    match result {
        Err(StoreError::TooLarge(message)) => assert!(message.contains(limit), "{message}"),
        other => panic!("expected TooLarge naming {limit}, got {other:?}"),
    }
}

async fn sorted_members(store: &dyn Store, key: &str) -> Vec<String> {
    let mut members = store.set_members(key).await.unwrap();
    members.sort();
    members
}

/// Every behaviour of the `Store` contract, on a fresh store.
async fn behaviours(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    values(&*store).await;
    put_new(&*store).await;
    touch_and_expiry(&*store).await;
    take_is_single_use(&store).await;
    expiry(&*store).await;
    sets(&*store).await;
    set_limit(&*store).await;
    kinds_share_one_key_space(&*store).await;
    oversize_is_refused(&*store).await;
}

async fn values(store: &dyn Store) {
    assert_eq!(store.get("v/absent").await.unwrap(), None);
    store.put("v/a", b"one".to_vec(), MINUTE).await.unwrap();
    assert_eq!(store.get("v/a").await.unwrap().as_deref(), Some(&b"one"[..]));
    store.put("v/a", b"two".to_vec(), MINUTE).await.unwrap();
    assert_eq!(store.get("v/a").await.unwrap().as_deref(), Some(&b"two"[..]));
    store.put("v/binary", vec![0, 255, 10, 13], MINUTE).await.unwrap();
    assert_eq!(store.get("v/binary").await.unwrap(), Some(vec![0, 255, 10, 13]));
    store.put("v/empty", Vec::new(), MINUTE).await.unwrap();
    assert_eq!(store.get("v/empty").await.unwrap(), Some(Vec::new()));
    store.delete("v/a").await.unwrap();
    assert_eq!(store.get("v/a").await.unwrap(), None);
    store.delete("v/a").await.unwrap();
    store.delete("v/never").await.unwrap();
}

async fn put_new(store: &dyn Store) {
    assert!(store.put_new("n/a", b"first".to_vec(), SHORT).await.unwrap());
    assert!(!store.put_new("n/a", b"second".to_vec(), SHORT).await.unwrap());
    assert_eq!(store.get("n/a").await.unwrap().as_deref(), Some(&b"first"[..]));
    tokio::time::sleep(PAST_SHORT).await;
    assert!(
        store.put_new("n/a", b"third".to_vec(), MINUTE).await.unwrap(),
        "an expired key holds nothing"
    );
    assert_eq!(store.get("n/a").await.unwrap().as_deref(), Some(&b"third"[..]));
    store.delete("n/a").await.unwrap();
    assert!(store.put_new("n/a", b"fourth".to_vec(), MINUTE).await.unwrap());
}

async fn touch_and_expiry(store: &dyn Store) {
    assert_eq!(store.touch("x/a", MINUTE).await.unwrap(), None);
    assert_eq!(store.expires_in("x/a").await.unwrap(), None);
    assert_eq!(store.get("x/a").await.unwrap(), None, "touch stores nothing");
    store.put("x/a", b"one".to_vec(), SHORT).await.unwrap();
    let left = store.expires_in("x/a").await.unwrap().unwrap();
    assert!(left <= SHORT && left > SHORT / 2, "{left:?}");
    assert_eq!(
        store.touch("x/a", MINUTE).await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        store.get("x/a").await.unwrap().as_deref(),
        Some(&b"one"[..]),
        "touch renews the TTL"
    );
    let left = store.expires_in("x/a").await.unwrap().unwrap();
    assert!(
        left > MINUTE - Duration::from_secs(5) && left <= MINUTE,
        "{left:?}"
    );
    store.set_add("x/set", "m", MINUTE).await.unwrap();
    assert_eq!(
        store.touch("x/set", MINUTE).await.unwrap(),
        None,
        "a set is no value"
    );
    assert!(
        store.expires_in("x/set").await.unwrap().is_some(),
        "but it has a TTL"
    );
    store.put("x/b", b"short".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(
        store.touch("x/b", MINUTE).await.unwrap(),
        None,
        "an expired key holds nothing"
    );
    assert_eq!(store.expires_in("x/b").await.unwrap(), None);
}

async fn take_is_single_use(store: &Arc<dyn Store>) {
    store.put("t/a", b"code".to_vec(), MINUTE).await.unwrap();
    assert_eq!(store.take("t/a").await.unwrap().as_deref(), Some(&b"code"[..]));
    assert_eq!(store.take("t/a").await.unwrap(), None, "take is single use");
    assert_eq!(store.get("t/a").await.unwrap(), None);
    assert_eq!(store.take("t/never").await.unwrap(), None);

    // Fifty concurrent redemptions of one code: exactly one wins.
    for round in 0..3 {
        let key = format!("t/race/{round}");
        store.put(&key, b"once".to_vec(), MINUTE).await.unwrap();
        let takers = (0..50)
            .map(|_| {
                let store = Arc::clone(store);
                let key = key.clone();
                tokio::spawn(async move { store.take(&key).await.unwrap() })
            })
            .collect::<Vec<_>>();
        let mut winners = 0;
        for taker in takers {
            if let Some(value) = taker.await.unwrap() {
                assert_eq!(value, b"once");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn expiry(store: &dyn Store) {
    store.put("e/short", b"x".to_vec(), SHORT).await.unwrap();
    store.put("e/long", b"y".to_vec(), MINUTE).await.unwrap();
    store.put("e/take", b"z".to_vec(), SHORT).await.unwrap();
    assert!(store.get("e/short").await.unwrap().is_some());
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(store.get("e/short").await.unwrap(), None, "expired");
    assert_eq!(store.take("e/take").await.unwrap(), None, "expired, not taken");
    assert_eq!(store.get("e/long").await.unwrap().as_deref(), Some(&b"y"[..]));
    // A put resets the TTL.
    store.put("e/long", b"y".to_vec(), SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(store.get("e/long").await.unwrap(), None);
}

async fn sets(store: &dyn Store) {
    assert!(store.set_members("s/absent").await.unwrap().is_empty());
    store.set_add("s/a", "one", MINUTE).await.unwrap();
    store.set_add("s/a", "two", MINUTE).await.unwrap();
    store.set_add("s/a", "two", MINUTE).await.unwrap();
    store.set_add("s/a", "", MINUTE).await.unwrap();
    assert_eq!(sorted_members(store, "s/a").await, ["", "one", "two"]);
    store.set_remove("s/a", "one").await.unwrap();
    store.set_remove("s/a", "never").await.unwrap();
    store.set_remove("s/absent", "one").await.unwrap();
    assert_eq!(sorted_members(store, "s/a").await, ["", "two"]);
    store.set_remove("s/a", "").await.unwrap();
    store.set_remove("s/a", "two").await.unwrap();
    assert!(store.set_members("s/a").await.unwrap().is_empty());
    // The emptied set is gone: a put_new finds the key free.
    assert!(store.put_new("s/a", b"v".to_vec(), MINUTE).await.unwrap());
    store.delete("s/a").await.unwrap();

    // A set expires.
    store.set_add("s/short", "m", SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert!(store.set_members("s/short").await.unwrap().is_empty());
    // An add to an expired set starts a new one, without the old members.
    store.set_add("s/short", "fresh", MINUTE).await.unwrap();
    assert_eq!(sorted_members(store, "s/short").await, ["fresh"]);

    // The TTL only grows: a shorter add keeps the longer expiry, a longer add extends it.
    store.set_add("s/kept", "a", MINUTE).await.unwrap();
    store.set_add("s/kept", "b", SHORT).await.unwrap();
    store.set_add("s/extended", "a", SHORT).await.unwrap();
    store.set_add("s/extended", "b", MINUTE).await.unwrap();
    store.set_add("s/short-again", "a", SHORT).await.unwrap();
    store.set_add("s/short-again", "b", SHORT).await.unwrap();
    tokio::time::sleep(PAST_SHORT).await;
    assert_eq!(sorted_members(store, "s/kept").await, ["a", "b"]);
    assert_eq!(sorted_members(store, "s/extended").await, ["a", "b"]);
    assert!(store.set_members("s/short-again").await.unwrap().is_empty());
}

async fn set_limit(store: &dyn Store) {
    for i in 0..MAX_SET_MEMBERS {
        store.set_add("l/full", &format!("m{i}"), MINUTE).await.unwrap();
    }
    too_large(
        store.set_add("l/full", "one-more", MINUTE).await,
        &format!("MAX_SET_MEMBERS ({MAX_SET_MEMBERS})"),
    );
    // A member already there is no new member; a removal makes room.
    store.set_add("l/full", "m0", MINUTE).await.unwrap();
    store.set_remove("l/full", "m1").await.unwrap();
    store.set_add("l/full", "one-more", MINUTE).await.unwrap();
    let members = store.set_members("l/full").await.unwrap();
    assert_eq!(members.len(), MAX_SET_MEMBERS);
    assert!(members.iter().any(|m| m == "one-more"));
    assert!(!members.iter().any(|m| m == "m1"));
    store.delete("l/full").await.unwrap();
    assert!(store.set_members("l/full").await.unwrap().is_empty());
}

async fn kinds_share_one_key_space(store: &dyn Store) {
    store.set_add("k/a", "m", MINUTE).await.unwrap();
    assert_eq!(store.get("k/a").await.unwrap(), None, "a set is no value");
    assert_eq!(store.take("k/a").await.unwrap(), None);
    assert_eq!(sorted_members(store, "k/a").await, ["m"], "take leaves a set");
    assert!(!store.put_new("k/a", b"v".to_vec(), MINUTE).await.unwrap());
    store.put("k/a", b"v".to_vec(), MINUTE).await.unwrap();
    assert!(
        store.set_members("k/a").await.unwrap().is_empty(),
        "a put replaces a set"
    );
    assert_eq!(store.get("k/a").await.unwrap().as_deref(), Some(&b"v"[..]));
    store.set_remove("k/a", "v").await.unwrap();
    assert_eq!(store.get("k/a").await.unwrap().as_deref(), Some(&b"v"[..]));
    store.set_add("k/a", "n", MINUTE).await.unwrap();
    assert_eq!(store.get("k/a").await.unwrap(), None, "an add replaces a value");
    assert_eq!(sorted_members(store, "k/a").await, ["n"]);
    store.delete("k/a").await.unwrap();
    assert!(store.set_members("k/a").await.unwrap().is_empty());
}

async fn oversize_is_refused(store: &dyn Store) {
    let key_limit = format!("MAX_KEY_BYTES ({MAX_KEY_BYTES})");
    let value_limit = format!("MAX_VALUE_BYTES ({MAX_VALUE_BYTES})");
    let longest = "k".repeat(MAX_KEY_BYTES);
    let too_long = "k".repeat(MAX_KEY_BYTES + 1);
    store
        .put(&longest, vec![7; MAX_VALUE_BYTES], MINUTE)
        .await
        .unwrap();
    assert_eq!(store.get(&longest).await.unwrap().unwrap().len(), MAX_VALUE_BYTES);
    too_large(store.put(&too_long, b"v".to_vec(), MINUTE).await, &key_limit);
    too_large(store.put_new(&too_long, b"v".to_vec(), MINUTE).await, &key_limit);
    too_large(store.get(&too_long).await, &key_limit);
    too_large(store.take(&too_long).await, &key_limit);
    too_large(store.delete(&too_long).await, &key_limit);
    too_large(store.set_add(&too_long, "m", MINUTE).await, &key_limit);
    too_large(store.set_members(&too_long).await, &key_limit);
    too_large(store.set_add("o/set", &too_long, MINUTE).await, &key_limit);
    too_large(store.set_remove("o/set", &too_long).await, &key_limit);
    too_large(
        store.put("o/big", vec![0; MAX_VALUE_BYTES + 1], MINUTE).await,
        &value_limit,
    );
    too_large(
        store.put_new("o/big", vec![0; MAX_VALUE_BYTES + 1], MINUTE).await,
        &value_limit,
    );
    assert_eq!(store.get("o/big").await.unwrap(), None, "nothing was stored");
    // The message never quotes the key (keys embed codes).
    let Err(err) = store.put(&too_long, b"v".to_vec(), MINUTE).await else {
        unreachable!()
    };
    assert!(!err.to_string().contains(&too_long));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store")).await.unwrap();
    behaviours(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store() {
    behaviours(Arc::new(EmbeddedStore::in_memory())).await;
}

// ---- The embedded journal ----

async fn open(path: &Path) -> EmbeddedStore {
    EmbeddedStore::open(path).await.unwrap()
}

/// The size of a put record in the journal: length, checksum, op, expiry, key length, key, value.
fn put_record_len(key: &str, value: &[u8]) -> usize {
    4 + 8 + 1 + 8 + 2 + key.len() + value.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = Arc::new(open(&path).await);
    store.put("kept", b"v1".to_vec(), MINUTE).await.unwrap();
    store.put("kept", b"v2".to_vec(), MINUTE).await.unwrap();
    store.put("taken", b"x".to_vec(), MINUTE).await.unwrap();
    assert!(store.take("taken").await.unwrap().is_some());
    store.put("deleted", b"x".to_vec(), MINUTE).await.unwrap();
    store.delete("deleted").await.unwrap();
    assert!(store.put_new("new", b"n".to_vec(), MINUTE).await.unwrap());
    store.put("short", b"x".to_vec(), SHORT).await.unwrap();
    store.set_add("set", "a", MINUTE).await.unwrap();
    store.set_add("set", "b", MINUTE).await.unwrap();
    store.set_add("set", "c", SHORT).await.unwrap();
    store.set_remove("set", "a").await.unwrap();
    store.set_add("short-set", "a", SHORT).await.unwrap();
    // Concurrent writers (they share fsyncs) are each durable once answered.
    let writers = (0..200)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .put(&format!("many/{i}"), i.to_string().into_bytes(), MINUTE)
                    .await
                    .unwrap();
            })
        })
        .collect::<Vec<_>>();
    for writer in writers {
        writer.await.unwrap();
    }
    drop(store);
    tokio::time::sleep(PAST_SHORT).await;

    let store = open(&path).await;
    assert_eq!(store.get("kept").await.unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(store.get("taken").await.unwrap(), None, "a take is durable");
    assert_eq!(store.get("deleted").await.unwrap(), None);
    assert_eq!(store.get("new").await.unwrap().as_deref(), Some(&b"n"[..]));
    assert_eq!(store.get("short").await.unwrap(), None, "expired while down");
    assert_eq!(sorted_members(&store, "set").await, ["b", "c"]);
    assert!(store.set_members("short-set").await.unwrap().is_empty());
    for i in 0..200 {
        let value = store.get(&format!("many/{i}")).await.unwrap();
        assert_eq!(value, Some(i.to_string().into_bytes()), "many/{i}");
    }
    // Expired entries are gone from the file too: reopening rewrote it without them.
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"MCPKVJ01"));
    assert!(!bytes.windows(9).any(|w| w == b"short-set"));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_and_the_journal_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = open(&path).await;
    store.put("a", b"1".to_vec(), MINUTE).await.unwrap();
    store.put("b", b"2".to_vec(), MINUTE).await.unwrap();
    drop(store);
    // A crash in the middle of appending a record: its length and part of the rest.
    let mut bytes = std::fs::read(&path).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(&40u32.to_le_bytes());
    bytes.extend_from_slice(&[0xab; 9]);
    std::fs::write(&path, &bytes).unwrap();

    let store = open(&path).await;
    assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(store.get("b").await.unwrap().as_deref(), Some(&b"2"[..]));
    assert!(
        std::fs::metadata(&path).unwrap().len() <= whole as u64,
        "tail cut"
    );
    store.put("c", b"3".to_vec(), MINUTE).await.unwrap();
    drop(store);
    let store = open(&path).await;
    assert_eq!(store.get("c").await.unwrap().as_deref(), Some(&b"3"[..]));
}

#[tokio::test]
async fn a_corrupt_record_before_the_end_names_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = open(&path).await;
    store.put("first", b"value-1".to_vec(), MINUTE).await.unwrap();
    store.put("second", b"value-2".to_vec(), MINUTE).await.unwrap();
    store.put("third", b"value-3".to_vec(), MINUTE).await.unwrap();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(7).position(|w| w == b"value-2").unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();

    let Err(err) = EmbeddedStore::open(&path).await else {
        panic!("a corrupt journal opened")
    };
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let offset = 8 + put_record_len("first", b"value-1");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(&format!("byte offset {offset}")), "{text}");
    assert!(text.contains("checksum"), "{text}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a corrupt file is left alone"
    );
}

#[tokio::test]
async fn a_file_in_neither_format_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    std::fs::write(&path, b"not a store").unwrap();
    let Err(err) = EmbeddedStore::open(&path).await else {
        panic!("garbage opened")
    };
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[tokio::test]
async fn the_old_json_format_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let legacy = serde_json::json!({
        "code/old": {"value": STANDARD.encode(b"legacy"), "expires_at": now + 3600},
        "code/camel": {"value": STANDARD.encode([0u8, 255]), "expiresAt": now + 3600},
        "code/expired": {"value": STANDARD.encode(b"gone"), "expires_at": now - 1},
    });
    std::fs::write(&path, serde_json::to_vec(&legacy).unwrap()).unwrap();

    let store = open(&path).await;
    assert_eq!(
        store.get("code/old").await.unwrap().as_deref(),
        Some(&b"legacy"[..])
    );
    assert_eq!(store.get("code/camel").await.unwrap(), Some(vec![0, 255]));
    assert_eq!(store.get("code/expired").await.unwrap(), None);
    store.put("code/new", b"n".to_vec(), MINUTE).await.unwrap();
    drop(store);
    assert!(
        std::fs::read(&path).unwrap().starts_with(b"MCPKVJ01"),
        "rewritten"
    );
    let store = open(&path).await;
    assert_eq!(
        store.get("code/old").await.unwrap().as_deref(),
        Some(&b"legacy"[..])
    );
    assert_eq!(store.get("code/new").await.unwrap().as_deref(), Some(&b"n"[..]));

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, br#"{"k": {"value": "not base64!", "expires_at": 1}}"#).unwrap();
    let Err(err) = EmbeddedStore::open(&bad).await else {
        panic!("bad base64 opened")
    };
    assert!(err.to_string().contains("base64"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compaction_shrinks_the_journal_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = open(&path).await;
    let value = |round: usize, key: usize| vec![u8::try_from((round + key) % 251).unwrap(); 8192];
    let rounds = 50;
    // 4 live keys of 8 KiB, overwritten: 1.6 MiB written, 32 KiB live.
    for round in 0..rounds {
        for key in 0..4 {
            store
                .put(&format!("k{key}"), value(round, key), MINUTE)
                .await
                .unwrap();
        }
    }
    store.set_add("set", "member", MINUTE).await.unwrap();
    let written = rounds * 4 * put_record_len("k0", &[0; 8192]);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(written > 1024 * 1024);
    assert!(
        size < 1024 * 1024,
        "compacted: {size} bytes after {written} written"
    );
    for key in 0..4 {
        let got = store.get(&format!("k{key}")).await.unwrap();
        assert_eq!(got, Some(value(rounds - 1, key)), "k{key}");
    }
    drop(store);
    let store = open(&path).await;
    for key in 0..4 {
        let got = store.get(&format!("k{key}")).await.unwrap();
        assert_eq!(got, Some(value(rounds - 1, key)), "k{key} after a restart");
    }
    assert_eq!(sorted_members(&store, "set").await, ["member"]);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 4 * 8192 + 1024, "reopening compacts: {size} bytes");
}

// ---- Redis ----

async fn ready(store: &RedisStore) {
    for _ in 0..100 {
        if store.ping().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the store reaches Redis within 5 s")
}

async fn open_redis(url: &str, tenant: &str) -> RedisStore {
    let store = RedisStore::open(url, tenant, RedisOptions::default()).unwrap();
    ready(&store).await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let url = server.url();
    let store = Arc::new(open_redis(&url, "contoso").await);
    behaviours(store.clone()).await;

    // Keys are namespaced by tenant: values, sets, put_new and take.
    let other = open_redis(&url, "fabrikam").await;
    store
        .put("shared-name", b"contoso".to_vec(), MINUTE)
        .await
        .unwrap();
    store.set_add("shared-set", "contoso", MINUTE).await.unwrap();
    assert_eq!(other.get("shared-name").await.unwrap(), None);
    assert_eq!(other.take("shared-name").await.unwrap(), None);
    assert!(other.set_members("shared-set").await.unwrap().is_empty());
    assert!(
        other
            .put_new("shared-name", b"fabrikam".to_vec(), MINUTE)
            .await
            .unwrap()
    );
    other.delete("shared-set").await.unwrap();
    assert_eq!(
        store.get("shared-name").await.unwrap().as_deref(),
        Some(&b"contoso"[..])
    );
    assert_eq!(sorted_members(&*store, "shared-set").await, ["contoso"]);
    // … under the documented prefix, with Redis's own expiry.
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg("mcp-tenant:contoso:shared-set")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "{ttl}");

    // An outage: not ready while Redis is down, ready again once it is back (the connection is
    // remade), with no restart of the store.
    server.stop().await;
    assert!(store.ping().await.is_err(), "a stopped Redis is not ready");
    server.restart().await;
    ready(&store).await;
    store.put("after", b"restart".to_vec(), MINUTE).await.unwrap();
}

#[tokio::test]
async fn a_store_opens_while_redis_is_down_and_connects_once_it_is_up() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    server.stop().await;
    let store = RedisStore::open(&server.url(), "contoso", RedisOptions::default()).unwrap();
    let down = store.ping().await.unwrap_err().to_string();
    assert!(down.starts_with("store I/O failed"), "{down}");
    server.restart().await;
    ready(&store).await;
}

#[test]
fn a_malformed_url_is_refused_without_quoting_it() {
    for url in [
        "http://:secret@host",
        "redis://:secret@host:notaport",
        "not a url secret",
    ] {
        let error = RedisStore::open(url, "contoso", RedisOptions::default())
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains("invalid Redis URL"), "{error}");
        assert!(!error.contains("secret"), "the URL is not quoted: {error}");
    }
}

#[tokio::test]
async fn rediss_with_the_tenant_ca_and_a_password() {
    mcp_tenant_server::crypto::install_provider();
    let Some(server) = RedisServer::start_tls("s3cret-pass").await else {
        return;
    };
    let ca = server.ca_pem.clone().unwrap().into_bytes();
    let url = format!("rediss://:s3cret-pass@localhost:{}", server.port);
    let with_ca = || RedisOptions {
        ca_pem: Some(ca.clone()),
    };
    let store = RedisStore::open(&url, "contoso", with_ca()).unwrap();
    ready(&store).await;
    store.put("tls", b"works".to_vec(), MINUTE).await.unwrap();
    assert_eq!(store.get("tls").await.unwrap().as_deref(), Some(&b"works"[..]));

    // Without the CA the server's certificate is not trusted; with a wrong password Redis
    // refuses; neither error quotes the password.
    let untrusted = RedisStore::open(&url, "contoso", RedisOptions::default()).unwrap();
    let error = untrusted.ping().await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    let wrong = format!("rediss://:wrong-pass@localhost:{}", server.port);
    let refused = RedisStore::open(&wrong, "contoso", with_ca()).unwrap();
    let error = refused.ping().await.unwrap_err().to_string();
    assert!(
        !error.contains("wrong-pass") && !error.contains("s3cret"),
        "{error}"
    );
    assert!(
        error.contains("WRONGPASS") || error.to_lowercase().contains("auth"),
        "{error}"
    );
}

#[tokio::test]
async fn shared_rate_limits_count_every_replica_in_one_bucket() {
    let Some(server) = RedisServer::start().await else {
        return;
    };
    let one = Arc::new(open_redis(&server.url(), "contoso").await);
    let two = Arc::new(open_redis(&server.url(), "contoso").await);
    let other_tenant = Arc::new(open_redis(&server.url(), "fabrikam").await);
    let limit = RateLimit::new(3, 60);
    let replicas: [Arc<dyn Shared>; 2] = [one.clone().shared().unwrap(), two.clone().shared().unwrap()];
    for i in 0..3 {
        assert_eq!(
            replicas[i % 2].acquire("rate/user/u", limit).await.unwrap(),
            Ok(())
        );
    }
    for replica in &replicas {
        let wait = replica.acquire("rate/user/u", limit).await.unwrap().unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "one request every 20 s after the burst of 3: {wait:?}"
        );
    }
    let fabrikam = other_tenant.shared().unwrap();
    assert_eq!(
        fabrikam.acquire("rate/user/u", limit).await.unwrap(),
        Ok(()),
        "per tenant"
    );
    assert_eq!(
        replicas[0].acquire("rate/user/v", limit).await.unwrap(),
        Ok(()),
        "per key"
    );
    // A fast bucket refills: 4 at once, one more every 250 ms.
    let fast = RateLimit::new(4, 1);
    for _ in 0..2 {
        replicas[0].acquire("rate/ip/a", fast).await.unwrap().unwrap();
    }
    assert_eq!(replicas[0].acquire("rate/ip/a", fast).await.unwrap(), Ok(()));
    assert_eq!(replicas[1].acquire("rate/ip/a", fast).await.unwrap(), Ok(()));
    let wait = replicas[0].acquire("rate/ip/a", fast).await.unwrap().unwrap_err();
    assert!(wait <= Duration::from_millis(250), "{wait:?}");
    tokio::time::sleep(wait + Duration::from_millis(5)).await;
    assert_eq!(replicas[1].acquire("rate/ip/a", fast).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn messages_reach_every_replica_and_the_subscription_outlives_an_outage() {
    let Some(mut server) = RedisServer::start().await else {
        return;
    };
    let sender = Arc::new(open_redis(&server.url(), "contoso").await)
        .shared()
        .unwrap();
    let receiver = Arc::new(open_redis(&server.url(), "contoso").await)
        .shared()
        .unwrap();
    let mut messages = receiver.subscribe("sessions");
    let other = Arc::new(open_redis(&server.url(), "fabrikam").await)
        .shared()
        .unwrap();
    let mut other_messages = other.subscribe("sessions");
    let deliver = async |text: &str, messages: &mut tokio::sync::mpsc::Receiver<String>| {
        // The subscription is made in the background: publish until it arrives.
        for _ in 0..100 {
            let _ = sender.publish("sessions", text).await;
            if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(50), messages.recv()).await {
                assert_eq!(got, text);
                return;
            }
        }
        panic!("{text} was not delivered within 5 s");
    };
    deliver("cancel 1", &mut messages).await;
    server.stop().await;
    server.restart().await;
    deliver("after the outage", &mut messages).await;
    assert!(
        other_messages.try_recv().is_err(),
        "another tenant's replicas hear nothing"
    );
}
