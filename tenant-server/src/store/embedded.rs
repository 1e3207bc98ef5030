//! The embedded backend, for a single replica: every entry in memory, every change appended to a
//! journal file and fsync'd before it is acknowledged. Reads never touch the disk.
//!
//! # File format
//!
//! Little-endian throughout. The file starts with the 8 bytes `MCPKVJ01`, then records:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | payload length `n` (`u32`) |
//! | 8 | the first 8 bytes of the payload's SHA-256 |
//! | `n` | payload: `op: u8`, `expires_at: u64` (ms since the epoch; 0 when unused), `key_len: u16`, the key (UTF-8), then the value (`put`) or the member (`set_add`, `set_remove`, UTF-8) |
//!
//! Operations: 1 put (also a `put_new` that stored), 2 delete (also a `take` that found a value),
//! 3 set add (`expires_at` is the set's expiry after the add; an add that starts a new set is
//! preceded by a delete), 4 set remove. Loading replays the records in order, then drops expired
//! entries.
//!
//! A crash can leave a torn last record — never acknowledged, since acknowledgement follows the
//! fsync: it is dropped with a warning. Any other damage is [`StoreError::Corrupt`], naming the
//! file and the record's byte offset.
//!
//! # Group commit
//!
//! A writer changes the map under its lock and, still under it, queues its records to one journal
//! thread, so the journal's order is the map's. The thread drains every queued record, writes them
//! at once, `fdatasync`s once and answers each writer: concurrent writers share one fsync. A change
//! is visible to readers as soon as it is made; it is acknowledged only once durable.
//!
//! # Compaction
//!
//! When the journal is past 1 MiB and more than twice the live data, the journal thread rewrites
//! the live entries as a new file (temporary file, fsync, rename, fsync of the directory).
//! Opening a store always does so, which drops expired entries and a torn tail and migrates the
//! old format (one JSON object of key → `{value: base64, expires_at: seconds}`).

use std::{
    collections::{HashMap, HashSet},
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{
    MAX_KEY_BYTES, MAX_SET_MEMBERS, MAX_VALUE_BYTES, Store, StoreError, check_key, check_member, check_value,
    set_full, ttl_millis,
};
use crate::{clock::now_millis, crypto::sha256};

/// The first bytes of a journal file (format version 1).
const MAGIC: &[u8; 8] = b"MCPKVJ01";
/// Length and checksum before each payload.
const RECORD_HEADER: usize = 4 + 8;
/// Operation, expiry and key length at the start of each payload.
const PAYLOAD_FIXED: usize = 1 + 8 + 2;
const MAX_PAYLOAD: usize = PAYLOAD_FIXED + MAX_KEY_BYTES + MAX_VALUE_BYTES;
/// A journal smaller than this is never compacted.
const COMPACT_MIN_BYTES: u64 = 1024 * 1024;
/// Expired entries leave memory every this many changes (and at each compaction).
const SWEEP_EVERY: u32 = 4096;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_SET_ADD: u8 = 3;
const OP_SET_REMOVE: u8 = 4;

/// One journal record, borrowing its strings from the change being made or the file being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record<'a> {
    Put {
        key: &'a str,
        value: &'a [u8],
        expires_at: u64,
    },
    Delete {
        key: &'a str,
    },
    SetAdd {
        key: &'a str,
        member: &'a str,
        expires_at: u64,
    },
    SetRemove {
        key: &'a str,
        member: &'a str,
    },
}

impl<'a> Record<'a> {
    /// Appends the framed record (length, checksum, payload) to `out`. Keys and values were
    /// checked against their limits, so the lengths fit their fields.
    fn encode(self, out: &mut Vec<u8>) {
        let (op, key, expires_at, rest) = match self {
            Record::Put {
                key,
                value,
                expires_at,
            } => (OP_PUT, key, expires_at, value),
            Record::Delete { key } => (OP_DELETE, key, 0, &[][..]),
            Record::SetAdd {
                key,
                member,
                expires_at,
            } => (OP_SET_ADD, key, expires_at, member.as_bytes()),
            Record::SetRemove { key, member } => (OP_SET_REMOVE, key, 0, member.as_bytes()),
        };
        let start = out.len();
        let len = PAYLOAD_FIXED + key.len() + rest.len();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.push(op);
        out.extend_from_slice(&expires_at.to_le_bytes());
        out.extend_from_slice(&(key.len() as u16).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(rest);
        let check = sha256(&out[start + RECORD_HEADER..]);
        out[start + 4..start + RECORD_HEADER].copy_from_slice(&check[..8]);
    }

    /// The record in a payload whose checksum matched.
    fn decode(payload: &'a [u8]) -> Result<Self, String> {
        let (fixed, rest) = payload
            .split_at_checked(PAYLOAD_FIXED)
            .ok_or_else(|| format!("a payload of {} bytes is too short", payload.len()))?;
        let op = fixed[0];
        let mut expires_at = [0; 8];
        expires_at.copy_from_slice(&fixed[1..9]);
        let expires_at = u64::from_le_bytes(expires_at);
        let key_len = usize::from(u16::from_le_bytes([fixed[9], fixed[10]]));
        let (key, rest) = rest
            .split_at_checked(key_len)
            .ok_or_else(|| format!("a key of {key_len} bytes overruns its payload"))?;
        let text = |bytes, what| std::str::from_utf8(bytes).map_err(|_| format!("the {what} is not UTF-8"));
        let key = text(key, "key")?;
        match op {
            OP_PUT => Ok(Record::Put {
                key,
                value: rest,
                expires_at,
            }),
            OP_DELETE if rest.is_empty() => Ok(Record::Delete { key }),
            OP_SET_ADD => Ok(Record::SetAdd {
                key,
                member: text(rest, "member")?,
                expires_at,
            }),
            OP_SET_REMOVE => Ok(Record::SetRemove {
                key,
                member: text(rest, "member")?,
            }),
            OP_DELETE => Err(format!("a delete carries {} stray bytes", rest.len())),
            other => Err(format!("unknown operation {other}")),
        }
    }

    /// Replays the record onto `entries` (expiry is not consulted: loading drops expired entries
    /// afterwards).
    fn apply(self, entries: &mut HashMap<String, Entry>) {
        match self {
            Record::Put {
                key,
                value,
                expires_at,
            } => {
                entries.insert(
                    key.to_owned(),
                    Entry {
                        value: Value::Bytes(value.to_vec()),
                        expires_at,
                    },
                );
            }
            Record::Delete { key } => {
                entries.remove(key);
            }
            Record::SetAdd {
                key,
                member,
                expires_at,
            } => match entries.get_mut(key) {
                Some(Entry {
                    value: Value::Set(members),
                    expires_at: old,
                }) => {
                    members.insert(member.to_owned());
                    *old = expires_at;
                }
                _ => {
                    entries.insert(key.to_owned(), Entry::set(member, expires_at));
                }
            },
            Record::SetRemove { key, member } => {
                if let Some(Entry {
                    value: Value::Set(members),
                    ..
                }) = entries.get_mut(key)
                {
                    members.remove(member);
                    if members.is_empty() {
                        entries.remove(key);
                    }
                }
            }
        }
    }
}

/// The records of a journal's body (after the magic), and whether a torn tail was cut off.
#[derive(Debug)]
struct Parsed<'a> {
    records: Vec<Record<'a>>,
    /// Why the bytes after the last good record were dropped.
    torn_tail: Option<String>,
}

/// Splits a journal body into records; `base` is the body's offset in the file, for messages. A
/// damaged last record is a torn tail; damage anywhere else is an error naming the offset.
fn parse_records(body: &[u8], base: usize) -> Result<Parsed<'_>, (usize, String)> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let torn = |why: String| format!("{why} at byte offset {}", base + at);
        if rest.iter().all(|b| *b == 0) {
            let why = torn(format!("{} zero bytes", rest.len()));
            return Ok(Parsed {
                records,
                torn_tail: Some(why),
            });
        }
        if rest.len() < RECORD_HEADER {
            let why = torn(format!("a record header cut to {} bytes", rest.len()));
            return Ok(Parsed {
                records,
                torn_tail: Some(why),
            });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if !(PAYLOAD_FIXED..=MAX_PAYLOAD).contains(&len) {
            return Err((
                base + at,
                format!("a record length of {len} bytes is outside {PAYLOAD_FIXED}..={MAX_PAYLOAD}"),
            ));
        }
        let end = RECORD_HEADER + len;
        let Some(payload) = rest.get(RECORD_HEADER..end) else {
            let why = torn(format!(
                "a record of {len} bytes cut to {}",
                rest.len() - RECORD_HEADER
            ));
            return Ok(Parsed {
                records,
                torn_tail: Some(why),
            });
        };
        if sha256(payload)[..8] != rest[4..RECORD_HEADER] {
            if end == rest.len() {
                let why = torn("a last record failing its checksum".to_owned());
                return Ok(Parsed {
                    records,
                    torn_tail: Some(why),
                });
            }
            return Err((base + at, "a record fails its checksum".to_owned()));
        }
        records.push(Record::decode(payload).map_err(|why| (base + at, why))?);
        at += end;
    }
    Ok(Parsed {
        records,
        torn_tail: None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bytes(Vec<u8>),
    Set(HashSet<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Value,
    /// Milliseconds since the epoch.
    expires_at: u64,
}

impl Entry {
    fn set(member: &str, expires_at: u64) -> Self {
        Self {
            value: Value::Set(HashSet::from([member.to_owned()])),
            expires_at,
        }
    }
}

/// The live data, shared by the store and its journal thread.
#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Changes since expired entries last left memory.
    changes: u32,
}

impl State {
    fn sweep(&mut self, now: u64) {
        self.entries.retain(|_, e| e.expires_at > now);
        self.changes = 0;
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic under the lock leaves the map consistent: every change is one insert or remove.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The whole live state as a journal: the magic, then one put per value and one set add per
/// member. Expired entries are left out.
fn encode_snapshot(entries: &HashMap<String, Entry>, now: u64) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (key, entry) in entries.iter().filter(|(_, e)| e.expires_at > now) {
        match &entry.value {
            Value::Bytes(value) => Record::Put {
                key,
                value,
                expires_at: entry.expires_at,
            }
            .encode(&mut out),
            Value::Set(members) => {
                for member in members {
                    Record::SetAdd {
                        key,
                        member,
                        expires_at: entry.expires_at,
                    }
                    .encode(&mut out);
                }
            }
        }
    }
    out
}

/// An entry of the old format: the whole store as one JSON object, rewritten on every change.
#[derive(Deserialize)]
struct LegacyEntry {
    /// Base64 of the value.
    value: String,
    /// Seconds since the epoch.
    #[serde(alias = "expiresAt")]
    expires_at: u64,
}

/// The entries in a store file's bytes (journal, old JSON format, or empty).
fn load(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Entry>, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{}: {why}", path.display()));
    let mut entries = HashMap::new();
    if let Some(body) = bytes.strip_prefix(MAGIC) {
        let parsed = parse_records(body, MAGIC.len())
            .map_err(|(offset, why)| corrupt(format!("{why} at byte offset {offset}")))?;
        if let Some(why) = parsed.torn_tail {
            tracing::warn!(
                path = %path.display(),
                "dropping a torn record at the end of the store journal, \
                 left by a crash before it was acknowledged: {why}"
            );
        }
        for record in parsed.records {
            record.apply(&mut entries);
        }
    } else if bytes.trim_ascii_start().starts_with(b"{") {
        let legacy: HashMap<String, LegacyEntry> = serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("the old JSON format does not parse: {e}")))?;
        for (key, entry) in legacy {
            let value = STANDARD
                .decode(&entry.value)
                .map_err(|e| corrupt(format!("the old JSON format's value is not base64: {e}")))?;
            entries.insert(
                key,
                Entry {
                    value: Value::Bytes(value),
                    expires_at: entry.expires_at.saturating_mul(1000),
                },
            );
        }
    } else if !bytes.is_empty() {
        return Err(corrupt(
            "neither a store journal nor the old JSON format".to_owned(),
        ));
    }
    let now = now_millis();
    entries.retain(|_, e| e.expires_at > now);
    Ok(entries)
}

/// Writes `bytes` as the file at `path`, atomically and durably (temporary file, fsync, rename,
/// fsync of the directory), and opens it for appending.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<File, StoreError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| file_error("writing", &tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error("renaming into place", path, &e))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error("syncing the directory of", path, &e))?;
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| file_error("opening", path, &e))
}

/// A change's records for the journal thread, and where to say they are durable. Empty records
/// (a ping) just ask whether the journal still works.
struct Request {
    records: Vec<u8>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The journal thread: appends, fsyncs and compacts, one batch of requests at a time.
struct Journal {
    path: PathBuf,
    file: File,
    /// Bytes in the file.
    len: u64,
    /// The length at which compaction is next considered.
    next_check: u64,
    /// Set by a failed write: the file's tail is unknown, so nothing more is appended.
    failed: Option<String>,
    state: Arc<Mutex<State>>,
    requests: mpsc::UnboundedReceiver<Request>,
}

impl Journal {
    fn next_check_after_snapshot(len: u64) -> u64 {
        COMPACT_MIN_BYTES.max(len.saturating_mul(2))
    }

    fn run(mut self) {
        let mut carried = Vec::new();
        loop {
            let mut batch: Vec<Request> = std::mem::take(&mut carried);
            if batch.is_empty() {
                // The store was dropped: every acknowledged change is already durable.
                let Some(first) = self.requests.blocking_recv() else {
                    return;
                };
                batch.push(first);
            }
            while let Ok(request) = self.requests.try_recv() {
                batch.push(request);
            }
            let mut result = self.append(&batch);
            if result.is_ok() && self.len > self.next_check {
                match self.compact() {
                    Ok(Compaction::Done(covered)) => batch.extend(covered),
                    Ok(Compaction::NotWorthIt(pending)) => carried = pending,
                    Err((pending, e)) => {
                        batch.extend(pending);
                        result = Err(e);
                    }
                }
            }
            for request in batch {
                // A writer that stopped waiting no longer needs its answer.
                let _ = request.done.send(result.clone().map_err(StoreError::Io));
            }
        }
    }

    /// Writes every record of the batch in one write and one fdatasync.
    fn append(&mut self, batch: &[Request]) -> Result<(), String> {
        if let Some(failure) = &self.failed {
            return Err(failure.clone());
        }
        let bytes = batch
            .iter()
            .flat_map(|r| r.records.iter().copied())
            .collect::<Vec<_>>();
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => Err(self.fail(file_message("appending to", &self.path, &e))),
        }
    }

    fn fail(&mut self, message: String) -> String {
        tracing::error!("the store journal stops accepting changes: {message}");
        self.failed = Some(message.clone());
        message
    }

    /// Rewrites the journal as a snapshot of the live data, if it is more than twice that. The
    /// snapshot is taken under the map's lock after draining the queue, so it covers exactly the
    /// changes queued so far: those requests are answered once the snapshot is durable.
    fn compact(&mut self) -> Result<Compaction, (Vec<Request>, String)> {
        let (snapshot, pending) = {
            let mut state = lock(&self.state);
            let mut pending = Vec::new();
            while let Ok(request) = self.requests.try_recv() {
                pending.push(request);
            }
            let now = now_millis();
            state.sweep(now);
            (encode_snapshot(&state.entries, now), pending)
        };
        let queued: usize = pending.iter().map(|r| r.records.len()).sum();
        let journal = self.len + queued as u64;
        let live = snapshot.len() as u64;
        if journal <= live.saturating_mul(2) {
            // Mostly live data: look again once the journal has grown by a quarter.
            self.next_check = Self::next_check_after_snapshot(live).max(journal + journal / 4);
            return Ok(Compaction::NotWorthIt(pending));
        }
        match replace_file(&self.path, &snapshot) {
            Ok(file) => {
                tracing::info!(
                    path = %self.path.display(),
                    from = journal,
                    to = live,
                    "compacted the store journal"
                );
                self.file = file;
                self.len = live;
                self.next_check = Self::next_check_after_snapshot(live);
                Ok(Compaction::Done(pending))
            }
            // The old journal may be renamed away: appending to it would lose changes.
            Err(e) => Err((pending, self.fail(e.to_string()))),
        }
    }
}

enum Compaction {
    /// The snapshot is durable and covers these requests.
    Done(Vec<Request>),
    /// No snapshot was written; these requests still need appending.
    NotWorthIt(Vec<Request>),
}

/// A failed file operation, naming the file and, when permission is what failed, who the process
/// is, who owns the directory, and what to do about it.
fn file_error(action: &str, path: &Path, error: &std::io::Error) -> StoreError {
    StoreError::Io(file_message(action, path, error))
}

fn file_message(action: &str, path: &Path, error: &std::io::Error) -> String {
    let mut message = format!("{action} {}: {error}", path.display());
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        message.push_str(&permission_hint(path));
    }
    message
}

fn permission_hint(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;

    let dir = path.parent().unwrap_or(Path::new("/"));
    let ids = process_ids().unwrap_or_else(|| "an unknown uid and gid".into());
    let owner = std::fs::metadata(dir).map_or_else(
        |e| format!("cannot be inspected ({e})"),
        |m| {
            format!(
                "is owned by {}:{} with mode {:o}",
                m.uid(),
                m.gid(),
                m.mode() & 0o7777
            )
        },
    );
    format!(
        ". The process runs as {ids}; {} {owner}. The store's volume must be writable by the \
         server's user or group (65532 in the operator's pod spec): use a StorageClass whose \
         provisioner applies the pod's fsGroup, or make the directory group-writable for gid 65532 \
         (docs/platform-guide.md, \"Storage\")",
        dir.display()
    )
}

/// `uid U, gid G (groups …)` of this process, from `/proc/self/status` (Linux).
fn process_ids() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
    };
    let uid = field("Uid:")?;
    let gid = field("Gid:")?;
    let groups = field("Groups:").unwrap_or_default();
    Some(format!(
        "uid {}, gid {} (supplementary groups: {})",
        uid.get(1).or(uid.first())?,
        gid.get(1).or(gid.first())?,
        if groups.is_empty() {
            "none".to_owned()
        } else {
            groups.join(" ")
        }
    ))
}

/// The store: the live map, and (unless in memory only) the queue of the journal thread.
pub struct EmbeddedStore {
    state: Arc<Mutex<State>>,
    journal: Option<mpsc::UnboundedSender<Request>>,
}

impl EmbeddedStore {
    /// A store that lives only in memory (development and tests): no file, no journal thread.
    pub fn in_memory() -> Self {
        Self {
            state: Arc::default(),
            journal: None,
        }
    }

    /// Opens (or creates) the store file: loads it (a journal, or the old JSON format), drops
    /// expired entries and a torn tail, rewrites it as a compact journal and starts the journal
    /// thread. A corrupt file is an error naming the file and byte offset.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(path))
            .await
            .map_err(|e| StoreError::Io(format!("opening the store: {e}")))?
    }

    fn open_blocking(path: PathBuf) -> Result<Self, StoreError> {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(file_error("reading", &path, &e)),
        };
        let entries = load(&path, &bytes)?;
        drop(bytes);
        let snapshot = encode_snapshot(&entries, now_millis());
        let file = replace_file(&path, &snapshot)?;
        let state = Arc::new(Mutex::new(State { entries, changes: 0 }));
        let (sender, requests) = mpsc::unbounded_channel();
        let len = snapshot.len() as u64;
        let journal = Journal {
            path,
            file,
            len,
            next_check: Journal::next_check_after_snapshot(len),
            failed: None,
            state: Arc::clone(&state),
            requests,
        };
        std::thread::Builder::new()
            .name("store-journal".into())
            .spawn(move || journal.run())
            .map_err(|e| StoreError::Io(format!("starting the store's journal thread: {e}")))?;
        Ok(Self {
            state,
            journal: Some(sender),
        })
    }

    /// Makes a change under the map's lock: `change` edits the entries and encodes its records;
    /// they are queued (still under the lock, so the journal's order is the map's) and the answer
    /// waits until they are durable.
    async fn change<T>(
        &self,
        change: impl FnOnce(&mut HashMap<String, Entry>, u64, &mut Vec<u8>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let durable = {
            let mut state = lock(&self.state);
            let now = now_millis();
            let mut records = Vec::new();
            let answer = change(&mut state.entries, now, &mut records)?;
            state.changes += 1;
            if state.changes >= SWEEP_EVERY {
                state.sweep(now);
            }
            match &self.journal {
                Some(journal) if !records.is_empty() => {
                    let (done, durable) = oneshot::channel();
                    journal.send(Request { records, done }).map_err(|_| stopped())?;
                    (answer, Some(durable))
                }
                _ => (answer, None),
            }
        };
        let (answer, durable) = durable;
        if let Some(durable) = durable {
            durable.await.map_err(|_| stopped())??;
        }
        Ok(answer)
    }

    /// The unexpired entry at `key`, read under the lock.
    fn read<T>(&self, key: &str, read: impl FnOnce(&Value) -> T) -> Option<T> {
        let state = lock(&self.state);
        let now = now_millis();
        state
            .entries
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| read(&e.value))
    }
}

fn stopped() -> StoreError {
    StoreError::Io("the store's journal thread has stopped".to_owned())
}

fn live(entries: &HashMap<String, Entry>, key: &str, now: u64) -> bool {
    entries.get(key).is_some_and(|e| e.expires_at > now)
}

impl EmbeddedStore {
    /// Stores `value` under `key` unless `store(whether key holds something)` says no; true when
    /// it stored.
    async fn put_when(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        store: impl FnOnce(bool) -> bool,
    ) -> Result<bool, StoreError> {
        check_value(key, &value)?;
        self.change(|entries, now, records| {
            if !store(live(entries, key, now)) {
                return Ok(false);
            }
            let expires_at = now.saturating_add(ttl_millis(ttl));
            Record::Put {
                key,
                value: &value,
                expires_at,
            }
            .encode(records);
            let value = Value::Bytes(value);
            entries.insert(key.to_owned(), Entry { value, expires_at });
            Ok(true)
        })
        .await
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        self.put_when(key, value, ttl, |_| true).await.map(drop)
    }

    async fn put_new(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<bool, StoreError> {
        self.put_when(key, value, ttl, |present| !present).await
    }

    async fn touch(&self, key: &str, ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        self.change(|entries, now, records| {
            let Some(entry) = entries.get_mut(key).filter(|e| e.expires_at > now) else {
                return Ok(None);
            };
            let Value::Bytes(value) = &entry.value else {
                return Ok(None);
            };
            entry.expires_at = now.saturating_add(ttl_millis(ttl));
            Record::Put {
                key,
                value,
                expires_at: entry.expires_at,
            }
            .encode(records);
            Ok(Some(value.clone()))
        })
        .await
    }

    async fn expires_in(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        check_key(key)?;
        let state = lock(&self.state);
        let now = now_millis();
        Ok(state
            .entries
            .get(key)
            .filter(|e| e.expires_at > now)
            .map(|e| Duration::from_millis(e.expires_at - now)))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        Ok(self
            .read(key, |value| match value {
                Value::Bytes(bytes) => Some(bytes.clone()),
                Value::Set(_) => None,
            })
            .flatten())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        self.change(|entries, now, records| {
            if !matches!(
                entries.get(key),
                Some(Entry {
                    value: Value::Bytes(_),
                    ..
                })
            ) {
                return Ok(None);
            }
            let Some(entry) = entries.remove(key) else {
                return Ok(None);
            };
            if entry.expires_at <= now {
                // Expired: loading drops it too, so the removal needs no record.
                return Ok(None);
            }
            Record::Delete { key }.encode(records);
            match entry.value {
                Value::Bytes(bytes) => Ok(Some(bytes)),
                Value::Set(_) => Ok(None),
            }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.change(|entries, _, records| {
            if entries.remove(key).is_some() {
                Record::Delete { key }.encode(records);
            }
            Ok(())
        })
        .await
    }

    async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        check_member(key, member)?;
        self.change(|entries, now, records| {
            let wanted = now.saturating_add(ttl_millis(ttl));
            match entries.get_mut(key) {
                Some(Entry {
                    value: Value::Set(members),
                    expires_at,
                }) if *expires_at > now => {
                    if !members.contains(member) {
                        if members.len() >= MAX_SET_MEMBERS {
                            return Err(set_full());
                        }
                        members.insert(member.to_owned());
                    }
                    *expires_at = (*expires_at).max(wanted);
                    let expires_at = *expires_at;
                    Record::SetAdd {
                        key,
                        member,
                        expires_at,
                    }
                    .encode(records);
                }
                existing => {
                    // A value or an expired set: replaced by a new set, which replay must not
                    // merge into the old one.
                    if existing.is_some() {
                        Record::Delete { key }.encode(records);
                    }
                    Record::SetAdd {
                        key,
                        member,
                        expires_at: wanted,
                    }
                    .encode(records);
                    entries.insert(key.to_owned(), Entry::set(member, wanted));
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        check_member(key, member)?;
        self.change(|entries, now, records| {
            let Some(Entry {
                value: Value::Set(members),
                expires_at,
            }) = entries.get_mut(key)
            else {
                return Ok(());
            };
            if *expires_at <= now || !members.remove(member) {
                return Ok(());
            }
            if members.is_empty() {
                entries.remove(key);
            }
            Record::SetRemove { key, member }.encode(records);
            Ok(())
        })
        .await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        check_key(key)?;
        Ok(self
            .read(key, |value| match value {
                Value::Set(members) => members.iter().cloned().collect(),
                Value::Bytes(_) => Vec::new(),
            })
            .unwrap_or_default())
    }

    /// Asks the journal thread for an fsync: fails once a write failed or the thread is gone.
    async fn ping(&self) -> Result<(), StoreError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let (done, durable) = oneshot::channel();
        journal
            .send(Request {
                records: Vec::new(),
                done,
            })
            .map_err(|_| stopped())?;
        durable.await.map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record<'static>> {
        vec![
            Record::Put {
                key: "code/abc",
                value: b"\x00\xffvalue",
                expires_at: 1_700_000_000_123,
            },
            Record::Put {
                key: "empty",
                value: b"",
                expires_at: 1,
            },
            Record::Delete { key: "code/abc" },
            Record::SetAdd {
                key: "grants/alice",
                member: "family-1",
                expires_at: u64::MAX,
            },
            Record::SetRemove {
                key: "grants/alice",
                member: "family-1",
            },
        ]
    }

    fn encoded(records: &[Record<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            record.encode(&mut out);
        }
        out
    }

    #[test]
    fn records_round_trip_through_the_codec() {
        let records = samples();
        let body = encoded(&records);
        let parsed = parse_records(&body, 8).unwrap();
        assert_eq!(parsed.records, records);
        assert_eq!(parsed.torn_tail, None);
        let mut one = Vec::new();
        Record::Delete { key: "k" }.encode(&mut one);
        assert_eq!(one.len(), RECORD_HEADER + PAYLOAD_FIXED + 1);
        assert_eq!(&one[..4], &12u32.to_le_bytes());
        assert_eq!(&one[4..12], &sha256(&one[12..])[..8]);
        assert_eq!(one[12], OP_DELETE);
    }

    #[test]
    fn a_record_cut_anywhere_is_a_torn_tail() {
        let records = samples();
        let body = encoded(&records);
        let last = encoded(&records[..records.len() - 1]).len();
        for cut in last + 1..body.len() {
            let parsed = parse_records(&body[..cut], 8).unwrap();
            assert_eq!(parsed.records, records[..records.len() - 1], "cut at {cut}");
            let why = parsed.torn_tail.unwrap();
            assert!(why.contains(&format!("offset {}", last + 8)), "{why}");
        }
    }

    #[test]
    fn a_zeroed_or_damaged_last_record_is_a_torn_tail() {
        let records = samples();
        let mut body = encoded(&records);
        body.extend_from_slice(&[0; 100]);
        let parsed = parse_records(&body, 8).unwrap();
        assert_eq!(parsed.records, records);
        assert!(parsed.torn_tail.unwrap().contains("100 zero bytes"));

        let mut body = encoded(&records);
        let end = body.len();
        body[end - 1] ^= 1;
        let parsed = parse_records(&body, 8).unwrap();
        assert_eq!(parsed.records, records[..records.len() - 1]);
        assert!(parsed.torn_tail.unwrap().contains("checksum"));
    }

    #[test]
    fn damage_before_the_last_record_is_an_error_naming_its_offset() {
        let records = samples();
        let second = encoded(&records[..1]).len();
        let mut body = encoded(&records);
        body[second + RECORD_HEADER + 3] ^= 0x40;
        let (offset, why) = parse_records(&body, 8).unwrap_err();
        assert_eq!(offset, second + 8);
        assert!(why.contains("checksum"), "{why}");

        // A length no record can have, even in the last record, is not a torn write.
        let mut body = encoded(&records[..1]);
        body[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (offset, why) = parse_records(&body, 8).unwrap_err();
        assert_eq!(offset, 8);
        assert!(why.contains("record length"), "{why}");
    }

    #[test]
    fn a_payload_with_a_valid_checksum_but_bad_fields_is_refused() {
        let frame = |payload: &[u8]| {
            let mut out = (payload.len() as u32).to_le_bytes().to_vec();
            out.extend_from_slice(&sha256(payload)[..8]);
            out.extend_from_slice(payload);
            out
        };
        let fields = |op: u8, key: &[u8], rest: &[u8]| {
            let mut p = vec![op];
            p.extend_from_slice(&0u64.to_le_bytes());
            p.extend_from_slice(&(key.len() as u16).to_le_bytes());
            p.extend_from_slice(key);
            p.extend_from_slice(rest);
            p
        };
        for (payload, expected) in [
            (fields(9, b"k", b""), "unknown operation 9"),
            (fields(OP_PUT, b"\xff", b""), "key is not UTF-8"),
            (fields(OP_SET_ADD, b"k", b"\xff"), "member is not UTF-8"),
            (fields(OP_DELETE, b"k", b"x"), "stray bytes"),
        ] {
            let mut body = frame(&payload);
            // Followed by a good record, so the damage is not a torn tail.
            Record::Delete { key: "k" }.encode(&mut body);
            let (offset, why) = parse_records(&body, 8).unwrap_err();
            assert_eq!(offset, 8);
            assert!(why.contains(expected), "{why}");
        }
        let mut short = fields(OP_PUT, b"", b"");
        short[9..11].copy_from_slice(&40u16.to_le_bytes());
        let (_, why) = parse_records(&frame(&short), 8).unwrap_err();
        assert!(why.contains("overruns"), "{why}");
    }

    #[test]
    fn replay_starts_a_new_set_after_a_delete_and_drops_emptied_sets() {
        let mut entries = HashMap::new();
        for record in [
            Record::SetAdd {
                key: "s",
                member: "old",
                expires_at: 5,
            },
            Record::Delete { key: "s" },
            Record::SetAdd {
                key: "s",
                member: "new",
                expires_at: 9,
            },
            Record::SetAdd {
                key: "t",
                member: "only",
                expires_at: 9,
            },
            Record::SetRemove {
                key: "t",
                member: "only",
            },
        ] {
            record.apply(&mut entries);
        }
        assert_eq!(entries.get("s"), Some(&Entry::set("new", 9)));
        assert!(!entries.contains_key("t"));
    }

    #[test]
    fn a_snapshot_holds_only_live_entries() {
        let mut entries = HashMap::new();
        entries.insert(
            "live".to_owned(),
            Entry {
                value: Value::Bytes(b"v".to_vec()),
                expires_at: 100,
            },
        );
        entries.insert("members".to_owned(), Entry::set("m", 100));
        entries.insert(
            "dead".to_owned(),
            Entry {
                value: Value::Bytes(b"v".to_vec()),
                expires_at: 50,
            },
        );
        let snapshot = encode_snapshot(&entries, 50);
        assert_eq!(&snapshot[..8], MAGIC);
        let mut replayed = HashMap::new();
        for record in parse_records(&snapshot[8..], 8).unwrap().records {
            record.apply(&mut replayed);
        }
        entries.remove("dead");
        assert_eq!(replayed, entries);
    }

    #[tokio::test]
    async fn a_store_that_cannot_be_written_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"").unwrap();
        let path = not_a_dir.join("store.json");
        let Err(err) = EmbeddedStore::open(&path).await else {
            panic!("a store below a file opened")
        };
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
    }

    #[test]
    fn a_permission_error_says_who_the_process_is_and_what_to_do() {
        // Root is never refused, so the error is built from a refusal the kernel would give.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.tmp");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let text = file_error("writing", &path, &denied).to_string();
        assert!(text.contains(&format!("writing {}", path.display())), "{text}");
        assert!(text.contains("The process runs as uid "), "{text}");
        assert!(
            text.contains(&format!("{} is owned by ", dir.path().display())),
            "{text}"
        );
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path()).unwrap().permissions());
        assert!(text.contains(&format!("with mode {:o}", mode & 0o7777)), "{text}");
        assert!(
            text.contains("writable by the server's user or group (65532"),
            "{text}"
        );
        assert!(text.contains("fsGroup"), "{text}");
        let other = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(
            !file_error("writing", &path, &other)
                .to_string()
                .contains("fsGroup")
        );
    }
}
