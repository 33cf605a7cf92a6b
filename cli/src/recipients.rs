//! `mcpmsg recipients`: pin the identities this client messages.
//!
//! A recipient is pinned at a verified log head. Re-adding it later accepts
//! only a log that extends the pinned head, so a server (or anyone) handing
//! out a forked or rolled-back log is caught.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Subcommand;
use mcpmsg::crypto::kel;
use mcpmsg::protocol::check_client_id;
use mcpmsg::recipients::Recipient;
use serde_json::Map;

use crate::error::{hinted, verify_failed};
use crate::identity::{read_kel, Identity};
use crate::{out, Ctx};

#[derive(Subcommand)]
pub enum RecipientsCommand {
    /// Pin a recipient from its key event log
    Add {
        /// The recipient's client_id
        id: String,
        /// The recipient's log, a JSON array of events (as its `mcpmsg kel` prints it)
        #[arg(long, value_name = "FILE")]
        kel: PathBuf,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// What this recipient is for
        #[arg(long)]
        description: Option<String>,
    },
    /// List pinned recipients
    List {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: RecipientsCommand) -> Result<()> {
    match cmd {
        RecipientsCommand::Add {
            id,
            kel,
            name,
            description,
        } => add(ctx, &id, &kel, name, description),
        RecipientsCommand::List { json } => list(ctx, json),
    }
}

fn add(ctx: &Ctx, rid: &str, kel_path: &Path, name: Option<String>, description: Option<String>) -> Result<()> {
    check_client_id("ID", rid).map_err(|e| hinted(e.to_string(), "give the recipient's client_id"))?;
    let mut id = Identity::load(&ctx.config)?;
    let events = read_kel(kel_path)?;
    let pinned = id.config.recipients.get(rid);
    let state = match pinned {
        Some(p) => {
            let seq = p.kel_seq.parse().map_err(|_| {
                hinted(
                    format!("recipient {rid}: pinned kel_seq {:?} is not a number", p.kel_seq),
                    "fix or remove the entry in the config",
                )
            })?;
            kel::check_pin(&events, seq, &p.kel_head)
        }
        None => kel::verify_log(&events),
    }
    .map_err(|e| verify_failed(format!("{}: {e}", kel_path.display())))?;
    if state.client_id() != rid {
        bail!(verify_failed(format!(
            "{}: the log is for {:?}, not {rid:?}",
            kel_path.display(),
            state.client_id()
        )));
    }
    if let Some((seq, reason)) = state.revoked() {
        bail!(verify_failed(format!(
            "{rid} was revoked at seq {seq} ({}): refusing to pin it",
            reason.as_str()
        )));
    }
    let previous = pinned.cloned();
    let cur = state.current();
    let entry = Recipient {
        name: name
            .or_else(|| previous.as_ref().map(|p| p.name.clone()))
            .unwrap_or_default(),
        description: description
            .or_else(|| previous.as_ref().map(|p| p.description.clone()))
            .unwrap_or_default(),
        signing_key: cur.signing_key.to_string(),
        sealing_key: cur.sealing_key.to_string(),
        fingerprint: state.fingerprint(),
        kel_seq: state.seq().to_string(),
        kel_head: state.head().to_owned(),
        other: previous.map(|p| p.other).unwrap_or_else(Map::new),
    };
    id.config.recipients.insert(rid.to_owned(), entry);
    id.save_config()?;
    out(&format!(
        "pinned {rid} at seq {}\n  fingerprint: {}\nCompare this fingerprint with {rid} through a channel you trust (in person, a call) before relying on it.\n",
        state.seq(),
        state.fingerprint()
    ))?;
    Ok(())
}

fn list(ctx: &Ctx, json: bool) -> Result<()> {
    let id = Identity::load(&ctx.config)?;
    if json {
        out(&(serde_json::to_string_pretty(&id.config.recipients)? + "\n"))?;
        return Ok(());
    }
    if id.config.recipients.is_empty() {
        out("no recipients pinned; add one with `mcpmsg recipients add ID --kel FILE`\n")?;
        return Ok(());
    }
    let mut text = String::new();
    for (rid, r) in &id.config.recipients {
        text.push_str(&format!(
            "{rid}\n  name:        {}\n  description: {}\n  fingerprint: {}\n  log:         seq {}, head {}\n",
            r.name, r.description, r.fingerprint, r.kel_seq, r.kel_head
        ));
    }
    out(&text)?;
    Ok(())
}
