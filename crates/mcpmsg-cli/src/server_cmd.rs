//! `mcpmsg server show|repin`: the pinned server key (PROTOCOL §12).

use anyhow::{bail, Result};
use clap::Subcommand;
use mcpmsg_core::crypto::SigningPublicKey;
use serde_json::json;

use crate::connection::Connection;
use crate::error::hinted;
use crate::identity::Identity;
use crate::session::presented_key;
use crate::shell::{runtime, PATIENCE};
use crate::{out, Ctx};

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Show the pinned server key and the one the server presents now
    Show {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Pin the key the server presents now, replacing the old pin
    Repin {
        /// The fingerprint the operator gave you: refuse any other key
        #[arg(long, value_name = "HEX")]
        fingerprint: Option<String>,
    },
}

pub fn run(ctx: &Ctx, c: ServerCommand) -> Result<()> {
    let mut id = Identity::load(&ctx.config)?;
    let url = id.config.server_info.url.clone();
    let live = runtime().block_on(presented_key(&Connection::new(&url, PATIENCE)));
    let pinned = id.config.server_info.server_key.clone();
    match c {
        ServerCommand::Show { json } => {
            let fp = |k: &str| SigningPublicKey::parse(k).map(|k| k.fingerprint()).unwrap_or_default();
            let pinned_fp = pinned.as_deref().map(fp);
            let live_fp = live.as_ref().ok().map(SigningPublicKey::fingerprint);
            if json {
                let v = json!({"url": url, "pinned": pinned_fp, "presented": live_fp, "matches": pinned_fp.is_some() && pinned_fp == live_fp});
                return Ok(out(&(serde_json::to_string_pretty(&v)? + "\n"))?);
            }
            let mut text = format!("server {url}\n");
            text += &format!(
                "  pinned:    {}\n",
                pinned_fp.as_deref().unwrap_or("nothing yet (pinned on first contact)")
            );
            match (&live, &pinned_fp, &live_fp) {
                (Err(e), _, _) => text += &format!("  presented: unknown ({e})\n"),
                (Ok(_), Some(p), Some(l)) if p != l => {
                    text += &format!(
                        "  presented: {l}\n  THE SERVER PRESENTS ANOTHER KEY: {}\n",
                        crate::session::other_key_hint(&url)
                    )
                }
                (Ok(_), _, Some(l)) => text += &format!("  presented: {l}\n"),
                (Ok(_), _, None) => {}
            }
            Ok(out(&text)?)
        }
        ServerCommand::Repin { fingerprint } => {
            let key = live?;
            if let Some(want) = fingerprint.filter(|f| *f != key.fingerprint()) {
                bail!(hinted(
                    format!("the server presents fingerprint {}, not {want}", key.fingerprint()),
                    "nothing was pinned: check the fingerprint with the operator"
                ));
            }
            id.config.server_info.server_key = Some(key.to_string());
            id.save_config()?;
            Ok(out(&format!(
                "pinned the server key of {url}: fingerprint {}\n",
                key.fingerprint()
            ))?)
        }
    }
}
