//! `mcpmsg recipients`: pin the identities this client messages.
//!
//! A recipient is pinned at a verified log head. Re-adding it later accepts
//! only a log that extends the pinned head, so a server (or anyone) handing
//! out a forked or rolled-back log is caught.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Subcommand;
use mcpmsg_core::client_config::Recipient;
use mcpmsg_core::crypto::is_fingerprint;
use mcpmsg_core::protocol::check_client_id;
use mcpmsg_core::protocol::kel::{self, Event, KelState};
use mcpmsg_core::protocol::tools::GetClientKeysArgs;
use serde_json::Map;

use crate::connection::{Connection, ServerError};
use crate::error::{hinted, verify_failed};
use crate::identity::{read_kel, Identity};
use crate::shell::{runtime, PATIENCE};
use crate::{out, Ctx};

#[derive(Subcommand)]
pub enum RecipientsCommand {
    /// Pin a recipient: from its log file, or fetched from the server
    Add {
        /// The recipient's client_id
        id: String,
        /// Read the log from FILE (a JSON array of events, as `mcpmsg kel` prints it) instead of the server
        #[arg(long, value_name = "FILE")]
        kel: Option<PathBuf>,
        /// The fingerprint the recipient gave you out of band; a mismatch is refused
        #[arg(long, value_name = "HEX")]
        fingerprint: Option<String>,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// What this recipient is for
        #[arg(long)]
        description: Option<String>,
    },
    /// Fetch pinned recipients' logs from the server and follow their rotations
    Refresh {
        /// Only this recipient
        id: Option<String>,
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
            fingerprint,
            name,
            description,
        } => add(ctx, &id, kel.as_deref(), fingerprint.as_deref(), name, description),
        RecipientsCommand::Refresh { id } => refresh(ctx, id.as_deref()),
        RecipientsCommand::List { json } => list(ctx, json),
    }
}

/// A recipient's log from a file, or from the server.
fn fetch(id: &Identity, rid: &str, file: Option<&Path>) -> Result<(Vec<Event>, String)> {
    if let Some(path) = file {
        return Ok((read_kel(path)?, path.display().to_string()));
    }
    let url = id.config.server_info.url.clone();
    let remote = Connection::new(&url, PATIENCE);
    let got = runtime()
        .block_on(remote.call(|| GetClientKeysArgs {
            client_id: rid.to_owned(),
        }))
        .map_err(|e| match e {
            ServerError::Refused { code, .. } if code == "unknown_client" => hinted(
                format!("{url} does not know {rid}"),
                "check the id, or pin from a log file: --kel FILE",
            )
            .into(),
            e => anyhow::Error::from(hinted(
                format!("cannot fetch the log of {rid}: {e}"),
                "is the server running? Or pin from a log file: --kel FILE",
            )),
        })?;
    Ok((got.kel, url))
}

/// Verifies `events` for `rid` against its pin, if any.
fn verify(id: &Identity, rid: &str, events: &[Event], source: &str) -> Result<KelState> {
    let state = match id.config.recipients.get(rid) {
        Some(p) => {
            let seq = p.kel_seq.parse().map_err(|_| {
                hinted(
                    format!("recipient {rid}: pinned kel_seq {:?} is not a number", p.kel_seq),
                    "fix or remove the entry in the config",
                )
            })?;
            let state =
                kel::check_pin(events, seq, &p.kel_head).map_err(|e| verify_failed(format!("{source}: {e}")))?;
            if state.fingerprint() != p.fingerprint {
                bail!(verify_failed(format!(
                    "{source}: the fingerprint of {rid} is not the pinned one"
                )));
            }
            state
        }
        None => kel::verify_log(events).map_err(|e| verify_failed(format!("{source}: {e}")))?,
    };
    if state.client_id() != rid {
        bail!(verify_failed(format!(
            "{source}: the log is for {:?}, not {rid:?}",
            state.client_id()
        )));
    }
    Ok(state)
}

/// Pins `rid` at `state`'s head (keeping a name and description given
/// before unless new ones are).
pub(crate) fn pin(id: &mut Identity, rid: &str, state: &KelState, name: Option<String>, description: Option<String>) {
    let previous = id.config.recipients.get(rid).cloned();
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
}

fn add(
    ctx: &Ctx,
    rid: &str,
    file: Option<&Path>,
    expected: Option<&str>,
    name: Option<String>,
    description: Option<String>,
) -> Result<()> {
    check_client_id("ID", rid).map_err(|e| hinted(e.to_string(), "give the recipient's client_id"))?;
    if let Some(fp) = expected {
        if !is_fingerprint(fp) {
            bail!(hinted(
                "--fingerprint: 64 lowercase hex characters",
                format!("ask {rid} to run `mcpmsg whoami`")
            ));
        }
    }
    let mut id = Identity::load(&ctx.config)?;
    let (events, source) = fetch(&id, rid, file)?;
    let state = verify(&id, rid, &events, &source)?;
    if let Some((seq, reason)) = state.revoked() {
        bail!(verify_failed(format!(
            "{rid} was revoked at seq {seq} ({}): refusing to pin it",
            reason.as_str()
        )));
    }
    if let Some(fp) = expected {
        if fp != state.fingerprint() {
            bail!(verify_failed(format!(
                "the fingerprint of {rid} from {source} is {}, not the {fp} you were given: do not trust this log",
                state.fingerprint()
            )));
        }
    }
    pin(&mut id, rid, &state, name, description);
    id.save_config()?;
    let advice = match expected {
        Some(_) => "It matches the fingerprint you were given.".to_owned(),
        None => format!(
            "Compare this fingerprint with {rid} through a channel you trust (in person, a call) before relying on it:\n  they run `mcpmsg whoami`; next time pass --fingerprint to have it checked for you."
        ),
    };
    out(&format!(
        "pinned {rid} at seq {}\n  fingerprint: {}\n{advice}\n",
        state.seq(),
        state.fingerprint()
    ))?;
    Ok(())
}

fn refresh(ctx: &Ctx, only: Option<&str>) -> Result<()> {
    let mut id = Identity::load(&ctx.config)?;
    let ids: Vec<String> = match only {
        Some(rid) if !id.config.recipients.contains_key(rid) => bail!(hinted(
            format!("{rid} is not pinned"),
            format!("pin it: `mcpmsg recipients add {rid}`")
        )),
        Some(rid) => vec![rid.to_owned()],
        None => id.config.recipients.keys().cloned().collect(),
    };
    let (mut text, mut failed) = (String::new(), false);
    for rid in ids {
        let before = id.config.recipients[&rid].kel_seq.clone();
        let checked = fetch(&id, &rid, None).and_then(|(events, source)| verify(&id, &rid, &events, &source));
        match checked {
            Ok(state) => {
                let now = state.seq().to_string();
                let note = match state.revoked() {
                    Some((seq, r)) => format!(
                        "{} at seq {seq} ({}): messages from it after that are refused",
                        state.status().as_str(),
                        r.as_str()
                    ),
                    None if now != before => format!("rotated: seq {before} -> {now}"),
                    None => format!("unchanged at seq {now}"),
                };
                pin(&mut id, &rid, &state, None, None);
                text.push_str(&format!("{rid}: {note}\n"));
            }
            Err(e) => {
                failed |= e
                    .chain()
                    .any(|c| c.downcast_ref::<crate::error::Hinted>().is_some_and(|h| h.verification));
                text.push_str(&format!("{rid}: not refreshed: {e:#}\n"));
            }
        }
    }
    id.save_config()?;
    out(&text)?;
    if failed {
        bail!(verify_failed("a recipient's log does not extend its pin"));
    }
    Ok(())
}

fn list(ctx: &Ctx, json: bool) -> Result<()> {
    let id = Identity::load(&ctx.config)?;
    if json {
        out(&(serde_json::to_string_pretty(&id.config.recipients)? + "\n"))?;
        return Ok(());
    }
    if id.config.recipients.is_empty() {
        out("no recipients pinned; add one with `mcpmsg recipients add ID`\n")?;
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
