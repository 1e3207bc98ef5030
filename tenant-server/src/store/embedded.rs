//! The embedded backend: entries in memory, written through to one JSON file (atomically, via a
//! temporary file and rename) so nothing is lost on restart. For a single replica.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{Store, StoreError};
use crate::clock::now_secs;

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    /// Base64 of the value.
    value: String,
    /// Seconds since the epoch.
    expires_at: u64,
}

pub struct EmbeddedStore {
    path: Option<PathBuf>,
    entries: Mutex<HashMap<String, Entry>>,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// A failed file operation, naming the file and, when permission is what failed, who the process
/// is, who owns the directory, and what to do about it.
fn file_error(action: &str, path: &Path, error: &std::io::Error) -> StoreError {
    let mut message = format!("{action} {}: {error}", path.display());
    if error.kind() == std::io::ErrorKind::PermissionDenied {
        message.push_str(&permission_hint(path));
    }
    StoreError::Io(message)
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

impl EmbeddedStore {
    /// A store that lives only in memory (development and tests).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Opens (or creates) the store file; expired entries are dropped on load.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let entries = match tokio::fs::read(path).await {
            Ok(bytes) => serde_json::from_slice::<HashMap<String, Entry>>(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(file_error("reading", path, &e)),
        };
        let now = now_secs();
        let entries = entries.into_iter().filter(|(_, e)| e.expires_at > now).collect();
        let store = Self {
            path: Some(path.to_owned()),
            entries: Mutex::new(entries),
        };
        store.persist(&*store.entries.lock().await).await?;
        Ok(store)
    }

    async fn persist(&self, entries: &HashMap<String, Entry>) -> Result<(), StoreError> {
        let Some(path) = &self.path else { return Ok(()) };
        let bytes = serde_json::to_vec(entries).map_err(io)?;
        let tmp = path.with_extension("tmp");
        tokio::fs::write(&tmp, bytes)
            .await
            .map_err(|e| file_error("writing", &tmp, &e))?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| file_error("renaming into place", path, &e))
    }

    fn decode(entry: &Entry) -> Result<Vec<u8>, StoreError> {
        STANDARD
            .decode(&entry.value)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().await;
        let now = now_secs();
        entries.retain(|_, e| e.expires_at > now);
        entries.insert(
            key.to_owned(),
            Entry {
                value: STANDARD.encode(value),
                expires_at: now.saturating_add(ttl.as_secs().max(1)),
            },
        );
        self.persist(&entries).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let entries = self.entries.lock().await;
        match entries.get(key) {
            Some(e) if e.expires_at > now_secs() => Self::decode(e).map(Some),
            _ => Ok(None),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut entries = self.entries.lock().await;
        let Some(entry) = entries.remove(key) else {
            return Ok(None);
        };
        self.persist(&entries).await?;
        if entry.expires_at > now_secs() {
            Self::decode(&entry).map(Some)
        } else {
            Ok(None)
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().await;
        if entries.remove(key).is_some() {
            self.persist(&entries).await?;
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let entries = self.entries.lock().await;
        self.persist(&entries).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_survive_a_restart_and_take_is_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        let store = EmbeddedStore::open(&path).await.unwrap();
        store
            .put("code/1", b"abc".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        store
            .put("gone", b"x".to_vec(), Duration::from_secs(60))
            .await
            .unwrap();
        store.delete("gone").await.unwrap();
        drop(store);
        let store = EmbeddedStore::open(&path).await.unwrap();
        assert_eq!(store.get("code/1").await.unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(store.get("gone").await.unwrap(), None);
        assert_eq!(store.take("code/1").await.unwrap().as_deref(), Some(&b"abc"[..]));
        assert_eq!(store.take("code/1").await.unwrap(), None);
        store.ping().await.unwrap();
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
