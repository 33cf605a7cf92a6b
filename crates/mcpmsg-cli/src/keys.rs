//! Identity commands: init, whoami, kel, enroll-line, verify-kel; rotate
//! and revoke are in [`key_events`].
//!
//! Order of writes is chosen so that a crash at any point leaves a state the
//! next command can finish from: secrets are written before the log event
//! that commits to them, and the config (which marks an identity as
//! present) is written last.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use mcpmsg_core::client_config::{ClientConfig, DEFAULT_SERVER_URL};
use mcpmsg_core::crypto::{SealingSecret, SigningSecret};
use mcpmsg_core::keyfile::KeyFile;
use mcpmsg_core::protocol::kel::{self, Event, KelState, KelStatus};
use mcpmsg_core::protocol::{check_client_id, now_ms};
use serde_json::json;

use crate::error::{hinted, verify_failed};
use crate::files::{relative_to_config, Existing};
use crate::identity::{read_kel, write_kel, Identity, LoadedKeys};
use crate::{out, Ctx};

mod key_events;
pub use key_events::{revoke, rotate};

#[derive(Args)]
pub struct InitArgs {
    /// The identity's client_id: 1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric
    #[arg(long)]
    id: String,
    /// Directory for the key file and the public log [default: the config's directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The server's MCP endpoint
    #[arg(long, value_name = "URL", default_value = DEFAULT_SERVER_URL)]
    server: String,
    /// Keep the committed next key in this separate file (for example on removable media)
    #[arg(long, value_name = "FILE")]
    next_key_file: Option<PathBuf>,
    /// Protect the key files with a passphrase (prompted, or --passphrase-file)
    #[arg(long)]
    protect: bool,
    /// Replace existing files
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct RotateArgs {
    /// Where the committed next key is, if not where the config says
    #[arg(long, value_name = "FILE")]
    next_key_file: Option<PathBuf>,
    /// Keep the old sealing secret this long, to open messages sealed to it before the rotation
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    keep_old_sealing: u64,
    /// Do not push the rotation to the server now (the next `mcpmsg checkin` does)
    #[arg(long)]
    offline: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReasonArg {
    Superseded,
    Compromised,
    Retired,
}

#[derive(Args)]
pub struct RevokeArgs {
    /// Why the identity ends
    #[arg(long, value_enum)]
    reason: ReasonArg,
    /// Sign with the committed next key (when the current key is lost or stolen)
    #[arg(long)]
    with_next: bool,
    /// Where the committed next key is, if not where the config says
    #[arg(long, value_name = "FILE")]
    next_key_file: Option<PathBuf>,
    /// Do not push the revocation to the server now
    #[arg(long)]
    offline: bool,
}

/// Pushes the log's last event unless offline; a line saying what happened.
pub(crate) fn push(id: &Identity, events: &[Event], offline: bool) -> String {
    let url = &id.config.server_info.url;
    match (offline, events.last()) {
        (false, Some(_)) => format!("server: {}", crate::shell::push_event(url, events)),
        _ => format!("server: not contacted (--offline); the next `mcpmsg checkin` pushes the event to {url}\n"),
    }
}

pub fn init(ctx: &Ctx, a: InitArgs) -> Result<()> {
    check_client_id("--id", &a.id).map_err(|e| hinted(e.to_string(), "for example --id alice-laptop"))?;
    if !(a.server.starts_with("http://") || a.server.starts_with("https://")) {
        bail!(hinted(
            format!("--server {:?} is not an http(s) URL", a.server),
            format!("for example --server {DEFAULT_SERVER_URL}")
        ));
    }
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| ctx.config.parent().map(Path::to_path_buf).unwrap_or_default());
    let key_path = dir.join(format!("{}.key", a.id));
    let kel_path = dir.join(format!("{}.kel.json", a.id));
    let existing = prepare_init_paths(ctx, &a, &dir, &key_path, &kel_path)?;

    let signing = SigningSecret::generate();
    let sealing = SealingSecret::generate();
    let next = SigningSecret::generate();
    let event = Event::inception(&a.id, &signing, &sealing.public(), &next.public(), now_ms());
    let state = KelState::incept(&event).context("internal error: a fresh inception does not verify")?;
    let protected = write_init_keys(ctx, &a, &key_path, existing, signing, sealing, next)?;
    write_kel(&kel_path, &[event], existing)?;
    write_init_config(ctx, &a, &key_path, &kel_path, existing)?;

    out(&format!(
        "created identity {}\n  key file:    {} (mode 0600{})\n  next key:    {}\n  log:         {}\n  config:      {}\n  fingerprint: {}\n\
         Give others your fingerprint through a channel you trust; they compare it when they pin you.\n\
         For a server with closed enrollment, send its operator the line from `mcpmsg enroll-line`.\n",
        a.id,
        key_path.display(),
        if protected { ", passphrase-protected" } else { "" },
        a.next_key_file.as_ref().map_or_else(|| "in the key file".to_owned(), |p| p.display().to_string()),
        kel_path.display(),
        ctx.config.display(),
        state.fingerprint(),
    ))?;
    Ok(())
}

/// Refuses to overwrite any file of an identity without `--force`, and
/// makes the directories (one made for a separate next-key file is the
/// owner's alone). Returns how to treat existing files.
fn prepare_init_paths(ctx: &Ctx, a: &InitArgs, dir: &Path, key_path: &Path, kel_path: &Path) -> Result<Existing> {
    let mut paths: Vec<&Path> = vec![&ctx.config, key_path, kel_path];
    paths.extend(a.next_key_file.as_deref());
    if !a.force {
        let present: Vec<String> = paths
            .iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !present.is_empty() {
            bail!(hinted(
                format!("refusing to overwrite {}", present.join(", ")),
                "pass --force to replace them (the old identity's keys are then lost), or choose another --dir or --config",
            ));
        }
    }
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if let Some(parent) = a.next_key_file.as_deref().and_then(Path::parent) {
        if !parent.as_os_str().is_empty() && !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
    }
    Ok(if a.force { Existing::Replace } else { Existing::Refuse })
}

/// Writes the key file (and the separate next-key file, if asked), with a
/// passphrase when asked or given. Returns whether they are protected.
fn write_init_keys(
    ctx: &Ctx,
    a: &InitArgs,
    key_path: &Path,
    existing: Existing,
    signing: SigningSecret,
    sealing: SealingSecret,
    next: SigningSecret,
) -> Result<bool> {
    let passphrase = if a.protect || ctx.pass.file.is_some() {
        Some(ctx.pass.get(&format!("the new key file of {}", a.id), true)?)
    } else {
        None
    };
    let protected = passphrase.is_some();
    let (main_next, file_next) = match a.next_key_file {
        Some(_) => (None, Some(next)),
        None => (Some(next), None),
    };
    let main = LoadedKeys {
        path: key_path.to_path_buf(),
        keys: KeyFile {
            client_id: a.id.clone(),
            signing: Some(signing),
            sealing: Some(sealing),
            next_signing: main_next,
            old_sealing: vec![],
        },
        passphrase: passphrase.clone(),
    };
    main.write(existing)?;
    if let (Some(path), Some(next)) = (&a.next_key_file, file_next) {
        let keys = KeyFile {
            client_id: a.id.clone(),
            signing: None,
            sealing: None,
            next_signing: Some(next),
            old_sealing: vec![],
        };
        LoadedKeys {
            path: path.clone(),
            keys,
            passphrase,
        }
        .write(existing)?;
    }
    Ok(protected)
}

/// Writes `mcp_recipients.json`, with paths relative to it.
fn write_init_config(ctx: &Ctx, a: &InitArgs, key_path: &Path, kel_path: &Path, existing: Existing) -> Result<()> {
    let mut config = ClientConfig::new(&a.id, &relative_to_config(&ctx.config, key_path)?, &a.server);
    config.kel_file = Some(relative_to_config(&ctx.config, kel_path)?);
    config.next_key_file = a
        .next_key_file
        .as_deref()
        .map(|p| relative_to_config(&ctx.config, p))
        .transpose()?;
    let mut text = serde_json::to_string_pretty(&config)?;
    text.push('\n');
    crate::files::write_atomic(&ctx.config, text.as_bytes(), crate::files::PUBLIC_MODE, existing)
}

/// Text and JSON descriptions of a verified log.
fn describe(state: &KelState) -> (String, serde_json::Value) {
    let cur = state.current();
    let status = match state.status() {
        KelStatus::Revoked { seq, reason } => format!("revoked at seq {seq} ({})", reason.as_str()),
        KelStatus::Suspended { seq, reason } => format!(
            "suspended at seq {seq} ({}): the committed next key can recover (`mcpmsg rotate`) or end it (`mcpmsg revoke --with-next`)",
            reason.as_str()
        ),
        KelStatus::Active => "active".to_owned(),
    };
    let text = format!(
        "id:            {}\nfingerprint:   {}  (inception key: compare this out of band)\nsigning key:   {}  (kid {})\nsealing key:   {}  (kid {})\nnext key:      committed, digest {}\nlog:           seq {}, head {}\nstatus:        {}\n",
        state.client_id(),
        state.fingerprint(),
        cur.signing_key,
        cur.signing_key.kid(),
        cur.sealing_key,
        cur.sealing_key.kid(),
        state.next_key_digest(),
        state.seq(),
        state.head(),
        status,
    );
    let value = json!({
        "client_id": state.client_id(),
        "fingerprint": state.fingerprint(),
        "signing_key": cur.signing_key.as_str(),
        "signing_kid": cur.signing_key.kid(),
        "sealing_key": cur.sealing_key.as_str(),
        "sealing_kid": cur.sealing_key.kid(),
        "next_key_digest": state.next_key_digest(),
        "kel_seq": state.seq().to_string(),
        "kel_head": state.head(),
        "kel_length": state.seq() + 1,
        "revoked": state.revoked().map(|(seq, r)| json!({"seq": seq.to_string(), "reason": r.as_str()})),
    });
    (text, value)
}

fn print_state(state: &KelState, json: bool, extra: &[(&str, &str)]) -> Result<()> {
    let (mut text, mut value) = describe(state);
    for (k, v) in extra {
        text.push_str(&format!("{:<15}{v}\n", format!("{k}:")));
        value[*k] = json!(v);
    }
    if json {
        text = serde_json::to_string_pretty(&value)? + "\n";
    }
    out(&text)?;
    Ok(())
}

pub fn whoami(ctx: &Ctx, json: bool) -> Result<()> {
    let id = Identity::load(&ctx.config)?;
    let (_, state) = id.kel()?;
    print_state(&state, json, &[("server", &id.config.server_info.url)])
}

pub fn print_kel(ctx: &Ctx) -> Result<()> {
    let id = Identity::load(&ctx.config)?;
    let (events, _) = id.kel()?;
    out(&(serde_json::to_string_pretty(&events)? + "\n"))?;
    Ok(())
}

pub fn enroll_line(ctx: &Ctx) -> Result<()> {
    let id = Identity::load(&ctx.config)?;
    let (_, state) = id.kel()?;
    out(&format!(
        "{} {}  # fingerprint {}\n",
        state.client_id(),
        state.inception_key(),
        state.fingerprint()
    ))?;
    Ok(())
}

pub fn verify_kel(file: &Path, json: bool) -> Result<()> {
    let events = read_kel(file).map_err(|e| verify_failed(format!("{e:#}")))?;
    let state = kel::verify_log(&events).map_err(|e| verify_failed(format!("{}: {e}", file.display())))?;
    print_state(&state, json, &[])
}
