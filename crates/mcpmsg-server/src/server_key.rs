//! The server key (PROTOCOL §12): an Ed25519 key the server signs its own
//! statements with, in a file only its owner can read.
//!
//! The file is created on first start, new and with mode 0600 from the
//! first byte (written to a private temporary name, then hard-linked into
//! place, which fails if another process created it meanwhile: nodes
//! starting together end up with one key). A file readable by group or
//! others is refused, not fixed: the key may already have leaked. Nodes
//! that share a store must share the file, so that their statements verify
//! against the one key clients pin.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use mcpmsg_core::crypto::{b64, SigningSecret};

/// The file's JSON form. The seed is secret: the struct is never logged.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// Always 1.
    mcpmsg_server_key: u32,
    /// base64url of the 32-byte Ed25519 seed.
    seed: String,
}

/// Why the server key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    /// The file is readable or writable by others than its owner.
    #[error("{0}: mode {1:o} lets others read it; the key may have leaked. Make a new one (remove the file), or if you are sure, chmod 600 it")]
    TooOpen(PathBuf, u32),
    /// Not a server key file.
    #[error("{0}: not an mcpmsg server key file: {1}")]
    Malformed(PathBuf, String),
    /// Reading or writing failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Where the key lives when `--server-key` is not given:
/// `$XDG_DATA_HOME/mcpmsg/server-key.json`, else
/// `~/.local/share/mcpmsg/server-key.json`, else the working directory.
pub fn default_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match data {
        Some(d) => d.join("mcpmsg").join("server-key.json"),
        None => PathBuf::from("mcpmsg-server-key.json"),
    }
}

/// The key in `path`, made there first if there is none. Returns the key
/// and whether it was created now.
pub fn load_or_create(path: &Path) -> Result<(SigningSecret, bool), ServerKeyError> {
    match read(path) {
        Err(ServerKeyError::Io(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        done => return done.map(|k| (k, false)),
    }
    let key = SigningSecret::generate();
    match create(path, &key) {
        Ok(()) => Ok((key, true)),
        // Another node made it first: use theirs.
        Err(ServerKeyError::Io(_, e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path).map(|k| (k, false))
        }
        Err(e) => Err(e),
    }
}

fn read(path: &Path) -> Result<SigningSecret, ServerKeyError> {
    let io = |e| ServerKeyError::Io(path.to_owned(), e);
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ServerKeyError::TooOpen(path.to_owned(), mode));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let bad = |why: String| ServerKeyError::Malformed(path.to_owned(), why);
    // serde_json's errors name a position, never the input.
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let seed = Zeroizing::new(file.seed);
    if file.mcpmsg_server_key != 1 {
        return Err(bad(format!(
            "version {}; this server reads version 1",
            file.mcpmsg_server_key
        )));
    }
    let seed = Zeroizing::new(b64::decode_array::<32>(&seed).map_err(|_| bad("seed: base64url of 32 bytes".into()))?);
    Ok(SigningSecret::from_seed(&seed))
}

fn create(path: &Path, key: &SigningSecret) -> Result<(), ServerKeyError> {
    let io = |e| ServerKeyError::Io(path.to_owned(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let seed = key.seed();
    let text = Zeroizing::new(
        serde_json::to_string(&KeyFile {
            mcpmsg_server_key: 1,
            seed: b64::encode(seed.as_ref()),
        })
        .expect("a key file serialises")
            + "\n",
    );
    let tmp = path.with_extension(format!(
        "tmp-{}",
        b64::encode(mcpmsg_core::crypto::random_bytes::<6>().as_ref())
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("server-key.json");
        let (made, created) = load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public(), made.public());
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(err) = load_or_create(&path) else {
            panic!("a 0644 key file was accepted")
        };
        assert!(matches!(err, ServerKeyError::TooOpen(_, 0o644)), "{err}");
        assert!(!err.to_string().contains("seed"));
    }

    #[test]
    fn a_malformed_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        std::fs::write(&path, r#"{"mcpmsg_server_key": 1, "seed": "c2VjcmV0"}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let Err(err) = load_or_create(&path) else {
            panic!("a malformed key file was accepted")
        };
        let err = err.to_string();
        assert!(err.contains("seed: base64url of 32 bytes"), "{err}");
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }
}
