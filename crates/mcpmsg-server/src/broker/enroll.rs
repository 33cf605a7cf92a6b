//! Closed enrollment: the keys file of `mcpmsg-server --keys FILE`.
//!
//! One `client_id ed25519:<inception key> [# comment]` a line. The file is
//! re-read when its modification time or size changes, checked at each
//! registration (a `stat`, cheaper than a watcher thread and exact). A file
//! that stops parsing keeps the last good list and logs why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use mcpmsg_core::crypto::SigningPublicKey;
use mcpmsg_core::protocol::check_client_id;

/// A keys file that cannot be used, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {what}")]
pub struct EnrollmentError {
    /// The file.
    pub path: String,
    /// 1-based line number, 0 for the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

type Stamp = Option<(SystemTime, u64)>;

/// The enrolled identities and their inception keys.
pub struct Enrollment {
    path: PathBuf,
    state: Mutex<(Stamp, HashMap<String, String>)>,
}

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// Parses the text of a keys file into client_id -> inception key text.
pub fn parse(path: &Path, text: &str) -> Result<HashMap<String, String>, EnrollmentError> {
    let err = |line, what: String| EnrollmentError {
        path: path.display().to_string(),
        line,
        what,
    };
    let mut keys = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(id), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err(i + 1, "expected '<client_id> ed25519:<key> [# comment]'".into()));
        };
        check_client_id("client_id", id).map_err(|e| err(i + 1, e.to_string()))?;
        SigningPublicKey::parse(key).map_err(|e| err(i + 1, format!("key of {id}: {e}")))?;
        if keys.insert(id.to_owned(), key.to_owned()).is_some() {
            return Err(err(i + 1, format!("{id} is listed twice")));
        }
    }
    Ok(keys)
}

impl Enrollment {
    /// Loads the keys file; an unusable file is an error at start-up.
    pub fn load(path: &Path) -> Result<Self, EnrollmentError> {
        let st = stamp(path);
        let text = std::fs::read_to_string(path).map_err(|e| EnrollmentError {
            path: path.display().to_string(),
            line: 0,
            what: e.to_string(),
        })?;
        let keys = parse(path, &text)?;
        Ok(Self {
            path: path.to_path_buf(),
            state: Mutex::new((st, keys)),
        })
    }

    /// How many identities are enrolled.
    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1.len()
    }

    /// True when no identity is enrolled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The enrolled inception key of `client_id`, re-reading the file first
    /// if it changed.
    pub fn key_of(&self, client_id: &str) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.path);
        if now != state.0 {
            match std::fs::read_to_string(&self.path)
                .map_err(|e| e.to_string())
                .and_then(|t| parse(&self.path, &t).map_err(|e| e.to_string()))
            {
                Ok(keys) => {
                    tracing::info!(path = %self.path.display(), identities = keys.len(), "keys file reloaded");
                    *state = (now, keys);
                }
                Err(e) => {
                    tracing::error!(path = %self.path.display(), error = %e, "keys file not reloaded; keeping the last good list");
                    state.0 = now;
                }
            }
        }
        state.1.get(client_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../keys.example"));
        let keys = parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys["alice-laptop"].starts_with("ed25519:"));
    }

    #[test]
    fn bad_lines_name_the_line() {
        let p = Path::new("k");
        assert_eq!(parse(p, "# c\n\nalice\n").unwrap_err().line, 3);
        let e = parse(p, "alice ed25519:AAAA\n").unwrap_err();
        assert!(e.what.starts_with("key of alice: "), "{e}");
        let k = "ed25519:pIimXnXU0Jnf8TSrhGT9DSLKJkmrnIOdUCdbAipqm0E";
        assert_eq!(
            parse(p, &format!("a {k}\na {k}\n")).unwrap_err().what,
            "a is listed twice"
        );
        assert_eq!(parse(p, &format!("-a {k}\n")).unwrap_err().line, 1);
    }
}
