//! Where a sign-in is kept between runs: the OS keyring when there is one (Keychain, Windows
//! Credential Manager, the Secret Service), otherwise a file only the user can read. One entry per
//! MCP endpoint URL; logout deletes it.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Everything needed to use and renew one sign-in, without asking the server again.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct SignIn {
    /// The MCP endpoint (the OAuth resource) these tokens are for.
    pub resource: String,
    pub issuer: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub client_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix seconds; None when the server did not say.
    pub expires_at: Option<u64>,
    pub scope: Option<String>,
}

impl std::fmt::Debug for SignIn {
    // Tokens never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("resource", &self.resource)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Which store holds sign-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// The OS keyring when one answers, otherwise the file.
    Auto,
    /// The OS keyring only.
    Keyring,
    /// The file only.
    File,
}

const SERVICE: &str = "mcp-tenant";
/// A sign-in is a few kilobytes; anything much larger is not ours.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Store {
    kind: StoreKind,
    dir: PathBuf,
}

impl Store {
    pub fn new(kind: StoreKind, dir: PathBuf) -> Self {
        Self { kind, dir }
    }

    /// `$MCP_TENANT_HOME`, else the platform's per-user config directory, + `mcp-tenant`.
    pub fn default_dir() -> Result<PathBuf> {
        let base = if cfg!(windows) {
            std::env::var_os("APPDATA").map(PathBuf::from)
        } else if cfg!(target_os = "macos") {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join("Library/Application Support"))
        } else {
            std::env::var_os("XDG_CONFIG_HOME")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        };
        base.map(|dir| dir.join("mcp-tenant"))
            .ok_or_else(|| Error::Store("no home directory to keep sign-ins in; set MCP_TENANT_HOME".into()))
    }

    /// The file a sign-in for `resource` is kept in (when the file store is used).
    pub fn file_for(&self, resource: &str) -> PathBuf {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, resource.as_bytes());
        let name = hex::encode(&digest.as_ref()[..16]);
        self.dir.join("sign-ins").join(format!("{name}.json"))
    }

    pub fn load(&self, resource: &str) -> Result<Option<SignIn>> {
        if self.kind != StoreKind::File
            && let Some(text) = self.keyring_get(resource)?
        {
            return parse(&text, &format!("the keyring entry for {resource}"), resource).map(Some);
        }
        if self.kind == StoreKind::Keyring {
            return Ok(None);
        }
        let path = self.file_for(resource);
        let Some(text) = read_file(&path)? else {
            return Ok(None);
        };
        parse(&text, &path.display().to_string(), resource).map(Some)
    }

    /// Saves `sign_in`, in the keyring when it takes it (then any file copy goes), else the file.
    /// Returns where it went, for the user.
    pub fn save(&self, sign_in: &SignIn) -> Result<String> {
        let text = serde_json::to_string(sign_in).map_err(|e| Error::Store(e.to_string()))?;
        if self.kind != StoreKind::File {
            match keyring_entry(&sign_in.resource).and_then(|entry| entry.set_password(&text)) {
                Ok(()) => {
                    remove_file(&self.file_for(&sign_in.resource))?;
                    return Ok("the OS keyring".into());
                }
                Err(error) if self.kind == StoreKind::Keyring => {
                    return Err(Error::Store(format!(
                        "the OS keyring refused the sign-in: {error}"
                    )));
                }
                Err(error) => tracing::debug!(%error, "no usable OS keyring; keeping the sign-in in a file"),
            }
        }
        let path = self.file_for(&sign_in.resource);
        write_private(&path, text.as_bytes())?;
        Ok(path.display().to_string())
    }

    /// Deletes the sign-in for `resource` from both places; whether there was one.
    pub fn delete(&self, resource: &str) -> Result<bool> {
        let mut found = false;
        if self.kind != StoreKind::File
            && let Ok(entry) = keyring_entry(resource)
        {
            match entry.delete_credential() {
                Ok(()) => found = true,
                Err(keyring::Error::NoEntry) => {}
                Err(error) if self.kind == StoreKind::Keyring => {
                    return Err(Error::Store(format!("the OS keyring: {error}")));
                }
                Err(error) => tracing::debug!(%error, "the OS keyring did not answer"),
            }
        }
        if self.kind != StoreKind::Keyring {
            found |= remove_file(&self.file_for(resource))?;
        }
        Ok(found)
    }

    fn keyring_get(&self, resource: &str) -> Result<Option<String>> {
        let entry = match keyring_entry(resource) {
            Ok(entry) => entry,
            Err(error) if self.kind == StoreKind::Keyring => {
                return Err(Error::Store(format!("no usable OS keyring: {error}")));
            }
            Err(_) => return Ok(None),
        };
        match entry.get_password() {
            Ok(text) => Ok(Some(text)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(error) if self.kind == StoreKind::Keyring => {
                Err(Error::Store(format!("the OS keyring: {error}")))
            }
            Err(error) => {
                tracing::debug!(%error, "the OS keyring did not answer; looking for a file");
                Ok(None)
            }
        }
    }
}

fn keyring_entry(resource: &str) -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(SERVICE, resource)
}

fn parse(text: &str, place: &str, resource: &str) -> Result<SignIn> {
    let sign_in: SignIn = serde_json::from_str(text).map_err(|e| {
        Error::Store(format!(
            "{place} is not a sign-in this program wrote ({e}); run `mcp-tenant logout {resource}` and log in again"
        ))
    })?;
    if sign_in.resource != resource {
        return Err(Error::Store(format!(
            "{place} holds a sign-in for {}, not {resource}; run `mcp-tenant logout {resource}` and log in again",
            sign_in.resource
        )));
    }
    Ok(sign_in)
}

fn read_file(path: &Path) -> Result<Option<String>> {
    let shown = path.display();
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Store(format!("{shown}: {e}"))),
    };
    if metadata.len() > MAX_ENTRY_BYTES {
        return Err(Error::Store(format!(
            "{shown} is {} bytes, more than a sign-in ever is; delete it and log in again",
            metadata.len()
        )));
    }
    let bytes = fs::read(path).map_err(|e| Error::Store(format!("{shown}: {e}")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| Error::Store(format!("{shown} is not UTF-8; delete it and log in again")))
}

/// Writes `bytes` to `path` through a temporary file (a crash leaves the old or the new sign-in,
/// never half of one), readable and writable by the user alone, in a directory only they enter.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let store_error = |e: std::io::Error| Error::Store(format!("{}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| Error::Store(format!("{} has no directory", path.display())))?;
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(store_error)?;
    let temporary = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temporary).map_err(store_error)?;
    file.write_all(bytes).map_err(store_error)?;
    file.sync_all().map_err(store_error)?;
    fs::rename(&temporary, path).map_err(store_error)
}

fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Store(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(resource: &str) -> SignIn {
        SignIn {
            resource: resource.into(),
            issuer: "http://127.0.0.1:1".into(),
            token_endpoint: "http://127.0.0.1:1/oauth/token".into(),
            revocation_endpoint: None,
            client_id: "client".into(),
            access_token: "access-secret".into(),
            refresh_token: Some("refresh-secret".into()),
            expires_at: Some(1),
            scope: None,
        }
    }

    #[test]
    fn a_file_sign_in_round_trips_privately_and_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(StoreKind::File, dir.path().into());
        let url = "http://127.0.0.1:1/mcp";
        assert_eq!(store.load(url).unwrap(), None);
        let place = store.save(&sign_in(url)).unwrap();
        assert_eq!(place, store.file_for(url).display().to_string());
        assert_eq!(store.load(url).unwrap(), Some(sign_in(url)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.file_for(url)), 0o600);
            assert_eq!(mode(store.file_for(url).parent().unwrap()), 0o700);
        }
        // Another endpoint's entry is another file.
        assert_eq!(store.load("http://127.0.0.1:2/mcp").unwrap(), None);
        assert!(store.delete(url).unwrap());
        assert!(!store.delete(url).unwrap());
        assert_eq!(store.load(url).unwrap(), None);
    }

    #[test]
    fn corrupted_oversized_and_foreign_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(StoreKind::File, dir.path().into());
        let url = "http://127.0.0.1:1/mcp";
        let path = store.file_for(url);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        for (bytes, says) in [
            (
                b"{\"resource\": \"http://127.0.0.1:1/mcp\", \"access".to_vec(),
                "is not a sign-in",
            ),
            (vec![0xff, 0xfe], "not UTF-8"),
            (vec![b' '; 70 * 1024], "more than a sign-in ever is"),
        ] {
            fs::write(&path, bytes).unwrap();
            let error = store.load(url).unwrap_err().to_string();
            assert!(
                error.contains(says) && error.contains(&path.display().to_string()),
                "{error}"
            );
        }
        let foreign = serde_json::to_string(&sign_in("http://127.0.0.1:9/mcp")).unwrap();
        fs::write(&path, foreign).unwrap();
        let error = store.load(url).unwrap_err().to_string();
        assert!(
            error.contains("holds a sign-in for http://127.0.0.1:9/mcp"),
            "{error}"
        );
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn debug_output_has_no_tokens() {
        let shown = format!("{:?}", sign_in("http://127.0.0.1:1/mcp"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn auto_uses_the_keyring_when_one_answers_and_the_file_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(StoreKind::Auto, dir.path().into());
        let url = "http://127.0.0.1:3/mcp";
        let place = store.save(&sign_in(url)).unwrap();
        // CI machines have no Secret Service: there the file is used.
        assert_eq!(
            place == "the OS keyring",
            !store.file_for(url).exists(),
            "{place}"
        );
        assert_eq!(store.load(url).unwrap(), Some(sign_in(url)));
        assert!(store.delete(url).unwrap());
        assert_eq!(store.load(url).unwrap(), None);
    }
}
