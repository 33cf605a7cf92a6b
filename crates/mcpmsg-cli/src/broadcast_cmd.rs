//! `mcpmsg broadcast`: one signed message to every client that declared a
//! capability tag or protocol (PROTOCOL §18e), in the clear (optionally a
//! typed body checked against its schema first) or sealed to each
//! matching client's verified key.

use std::io::Read;

use anyhow::{bail, Result};
use clap::Args;

use crate::error::hinted;
use crate::session::Session;
use crate::shell::{refused, runtime, PATIENCE};
use crate::{out, Ctx};

#[derive(Args)]
pub struct BroadcastArgs {
    /// The message; `-` reads it from standard input
    message: String,
    /// Only clients that declared this capability tag
    #[arg(long, default_value = "")]
    tag: String,
    /// Only clients that declared a version of this protocol: NAME or NAME@RANGE (code_review@^1.2)
    #[arg(long, default_value = "")]
    protocol: String,
    /// Only clients whose presence is one of these: active, idle, offline (comma-separated)
    #[arg(long, default_value = "")]
    status: String,
    /// A typed JSON body of this registered version (checked against its schema first)
    #[arg(long, value_name = "NAME@VERSION")]
    typed: Option<String>,
    /// Seal it to each matching client's verified key (the server sees only who gets it)
    #[arg(long)]
    seal: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, a: BroadcastArgs) -> Result<()> {
    if a.tag.is_empty() && a.protocol.is_empty() {
        bail!(hinted(
            "name a --tag or a --protocol: a broadcast goes to the clients that declared it",
            "`mcpmsg protocol list` shows protocols; clients declare with `mcpmsg declare`"
        ));
    }
    let text = if a.message == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        a.message
    };
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    let filter = [a.tag.as_str(), a.protocol.as_str(), a.status.as_str()];
    runtime().block_on(async {
        let fail = |e: anyhow::Error| match e.downcast::<crate::connection::ServerError>() {
            Ok(r) => refused(r),
            Err(e) => e,
        };
        let r = if a.seal {
            s.broadcast_sealed(filter, &text, a.typed.as_deref()).await
        } else {
            let content_type = match &a.typed {
                Some(p) => s.typed_content_type(p, &text).await.map_err(fail)?,
                None => "text/markdown".to_owned(),
            };
            s.broadcast(filter, &content_type, &text).await
        }
        .map_err(fail)?;
        if a.json {
            return out(&(serde_json::to_string_pretty(&r)? + "\n")).map_err(Into::into);
        }
        let mut line = format!(
            "broadcast {}{}: delivered to {} client(s)",
            r.message_id,
            if a.seal { " (sealed)" } else { "" },
            r.delivered.len()
        );
        if r.duplicate {
            line.push_str(" (a retry the server had already accepted)");
        }
        for sk in &r.skipped {
            line.push_str(&format!("; skipped {} ({})", sk.member, sk.reason));
        }
        out(&(line + "\n")).map_err(Into::into)
    })
}
