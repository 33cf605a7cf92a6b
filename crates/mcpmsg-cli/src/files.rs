//! Writing files so that a crash never leaves half of one, and secrets are
//! never readable by others, even for an instant.
//!
//! Every write goes to a temporary file in the target's directory, created
//! new (`O_EXCL`) with its final mode, synced, then moved into place:
//! `rename` to replace, or `link` + `unlink` to refuse an existing file
//! atomically. The directory is synced after, so the new name survives a
//! power cut.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mcpmsg_core::crypto::{b64, random_bytes};

/// Mode of key files: owner read/write only.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of public files (config, log).
pub const PUBLIC_MODE: u32 = 0o644;

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Fail if the file exists.
    Refuse,
    /// Replace it atomically.
    Replace,
}

/// Writes `contents` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, existing: Existing) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().context("a file path is needed, not a directory")?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        b64::encode(random_bytes::<6>().as_ref())
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(contents)?;
        f.sync_all()?;
        match existing {
            Existing::Replace => fs::rename(&tmp, path)?,
            Existing::Refuse => {
                fs::hard_link(&tmp, path).map_err(|e| {
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        anyhow::anyhow!("{} already exists", path.display())
                    } else {
                        e.into()
                    }
                })?;
                fs::remove_file(&tmp)?;
            }
        }
        // Best effort: some file systems cannot sync a directory.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Resolves `p` against the directory of `base` (a file), unless absolute.
pub fn beside(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match base.parent() {
        Some(d) => d.join(p),
        None => p.to_path_buf(),
    }
}

/// `target` as written in a config at `config`: relative when it lies in
/// the config's directory tree, absolute otherwise.
pub fn relative_to_config(config: &Path, target: &Path) -> Result<String> {
    let abs = |p: &Path| -> Result<PathBuf> {
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()?.join(p)
        })
    };
    let dir = abs(config)?.parent().map(Path::to_path_buf).unwrap_or_default();
    let target = abs(target)?;
    let normal = |p: &Path| {
        p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect::<PathBuf>()
    };
    let (dir, target) = (normal(&dir), normal(&target));
    Ok(match target.strip_prefix(&dir) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => target.to_string_lossy().into_owned(),
    })
}
