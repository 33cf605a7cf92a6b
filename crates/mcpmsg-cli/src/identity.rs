//! This client's identity on disk: the config, the public log, the key
//! files, and the passphrase that may protect them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mcpmsg_core::client_config::ClientConfig;
use mcpmsg_core::keyfile::KeyFile;
use mcpmsg_core::protocol::kel::{self, Event, KelState};
use zeroize::Zeroizing;

use crate::error::{hinted, verify_failed};
use crate::files::{beside, read_text, write_atomic, Existing, PUBLIC_MODE, SECRET_MODE};

/// Where the passphrase comes from, if a key file needs one.
#[derive(Debug, Clone, Default)]
pub struct PassSource {
    /// `--passphrase-file`.
    pub file: Option<PathBuf>,
}

impl PassSource {
    /// The passphrase: the first line of the file, or a prompt on a terminal.
    pub fn get(&self, what: &str, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
        if let Some(f) = &self.file {
            let text = Zeroizing::new(read_text(f)?);
            let line = text.lines().next().unwrap_or("");
            if line.is_empty() {
                bail!(hinted(
                    format!("the passphrase file {} is empty", f.display()),
                    "put the passphrase on its first line"
                ));
            }
            return Ok(Zeroizing::new(line.as_bytes().to_vec()));
        }
        if !std::io::stdin().is_terminal() {
            bail!(hinted(
                format!("{what} needs a passphrase and there is no terminal to ask on"),
                "pass --passphrase-file FILE (or set MCPMSG_PASSPHRASE_FILE)",
            ));
        }
        let pass = Zeroizing::new(rpassword::prompt_password(format!("Passphrase for {what}: "))?);
        if pass.is_empty() {
            bail!(hinted("empty passphrase", "type a passphrase, or leave out --protect"));
        }
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("Repeat the passphrase: ")?);
            if *again != *pass {
                bail!(hinted("the passphrases differ", "run the command again"));
            }
        }
        Ok(Zeroizing::new(pass.as_bytes().to_vec()))
    }
}

/// A key file as read, with the passphrase that unlocked it (reused when
/// the file is rewritten, so protection is never silently dropped).
pub struct LoadedKeys {
    pub path: PathBuf,
    pub keys: KeyFile,
    pub passphrase: Option<Zeroizing<Vec<u8>>>,
}

impl LoadedKeys {
    pub fn read(path: &Path, pass: &PassSource) -> Result<Self> {
        let text = Zeroizing::new(read_text(path)?);
        let passphrase = if KeyFile::is_encrypted(&text) {
            Some(pass.get(&format!("key file {}", path.display()), false)?)
        } else {
            None
        };
        let keys = KeyFile::decode(&text, passphrase.as_deref().map(|p| &p[..]))
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            keys,
            passphrase,
        })
    }

    pub fn write(&self, existing: Existing) -> Result<()> {
        let text = self.keys.encode(self.passphrase.as_deref().map(|p| &p[..]));
        write_atomic(&self.path, text.as_bytes(), SECRET_MODE, existing)
    }
}

/// The config and what it points at.
pub struct Identity {
    pub config_path: PathBuf,
    pub config: ClientConfig,
}

impl Identity {
    pub fn load(config_path: &Path) -> Result<Self> {
        let text = read_text(config_path).map_err(|e| {
            anyhow::Error::new(hinted(
                format!("{e:#}"),
                "run `mcpmsg init --id ID` first, or pass --config PATH (or set MCPMSG_CONFIG)",
            ))
        })?;
        let config: ClientConfig = serde_json::from_str(&text).map_err(|e| {
            hinted(
                format!("{}: not a valid mcp_recipients.json: {e}", config_path.display()),
                "see PROTOCOL §8 for its shape",
            )
        })?;
        Ok(Self {
            config_path: config_path.to_path_buf(),
            config,
        })
    }

    pub fn save_config(&self) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.config)?;
        text.push('\n');
        write_atomic(&self.config_path, text.as_bytes(), PUBLIC_MODE, Existing::Replace)
    }

    pub fn key_path(&self) -> PathBuf {
        beside(&self.config_path, &self.config.key_file)
    }

    pub fn next_key_path(&self, override_path: Option<&Path>) -> Option<PathBuf> {
        override_path.map(Path::to_path_buf).or_else(|| {
            self.config
                .next_key_file
                .as_deref()
                .map(|p| beside(&self.config_path, p))
        })
    }

    pub fn kel_path(&self) -> PathBuf {
        let default = format!("{}.kel.json", self.config.my_id);
        beside(&self.config_path, self.config.kel_file.as_deref().unwrap_or(&default))
    }

    /// The identity's own log, verified from inception.
    pub fn kel(&self) -> Result<(Vec<Event>, KelState)> {
        let path = self.kel_path();
        let events = read_kel(&path)?;
        let state = kel::verify_log(&events).map_err(|e| {
            verify_failed(format!(
                "{}: the identity's own log does not verify: {e}",
                path.display()
            ))
        })?;
        if state.client_id() != self.config.my_id {
            bail!(verify_failed(format!(
                "{}: the log is for {:?}, the config says my_id {:?}",
                path.display(),
                state.client_id(),
                self.config.my_id
            )));
        }
        Ok((events, state))
    }

    pub fn write_kel(&self, events: &[Event]) -> Result<()> {
        write_kel(&self.kel_path(), events, Existing::Replace)
    }
}

/// Reads a JSON array of KEL events.
pub fn read_kel(path: &Path) -> Result<Vec<Event>> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        hinted(
            format!("{}: not a key event log: {e}", path.display()),
            "a log is a JSON array of event objects, as `mcpmsg kel` prints it",
        )
        .into()
    })
}

pub fn write_kel(path: &Path, events: &[Event], existing: Existing) -> Result<()> {
    let mut text = serde_json::to_string_pretty(events)?;
    text.push('\n');
    write_atomic(path, text.as_bytes(), PUBLIC_MODE, existing)
}
