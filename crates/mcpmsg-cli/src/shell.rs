//! Messaging from the shell: `mcpmsg send`, `recv`, `checkin`.

use std::io::Read;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use mcpmsg_core::protocol::kel::Event;
use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::tools::{RevokeKeyArgs, RotateKeyArgs, SendResult};
use mcpmsg_core::time::relative;

use crate::connection::{Connection, ServerError};
use crate::error::{hinted, verify_failed};
use crate::session::Session;
use crate::{out, Ctx};

/// How long shell commands keep trying an unreachable server.
pub const PATIENCE: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct SendArgs {
    /// The recipient's client_id
    to: String,
    /// The message; `-` reads it from standard input
    message: String,
    /// Send in the clear instead of sealed to the recipient's key
    #[arg(long)]
    no_seal: bool,
    /// The message_id this answers (ids may start with '-', one in 64 does)
    #[arg(long, value_name = "MESSAGE_ID", allow_hyphen_values = true)]
    reply_to: Option<String>,
    /// Wait up to SECS for the answer (send_message_and_wait)
    #[arg(long, value_name = "SECS")]
    wait: Option<u64>,
    /// Send a typed JSON body of this registered protocol version, checked against its schema first (sealed, the recipient checks it after opening; with --no-seal the server checks it too)
    #[arg(long, value_name = "NAME@VERSION", conflicts_with = "wait")]
    typed: Option<String>,
}

#[derive(Args)]
pub struct RecvArgs {
    /// Wait up to SECS for the first message (at most 50)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    wait: u64,
    /// Most messages to read
    #[arg(long, default_value_t = 100)]
    max: u32,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CheckinArgs {
    /// Display name shown in list_clients
    #[arg(long, default_value = "mcpmsg")]
    name: String,
    /// What this client does
    #[arg(long, default_value = "")]
    capabilities: String,
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

pub(crate) fn refused(e: ServerError) -> anyhow::Error {
    match e {
        ServerError::Unreachable(why) => hinted(
            format!("the server is unreachable: {why}"),
            "is mcpmsg-server running at server_info.url in the config?",
        )
        .into(),
        ServerError::Refused { code, message } => anyhow::anyhow!("the server refused: [{code}] {message}"),
        e @ ServerError::BadAnswer(_) => hinted(
            e.to_string(),
            "is server_info.url an mcpmsg server of this protocol version?",
        )
        .into(),
    }
}

pub fn send(ctx: &Ctx, a: SendArgs) -> Result<()> {
    let text = if a.message == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        a.message
    };
    let m = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let seal = if a.no_seal { Some(false) } else { None };
        let fail = |e: anyhow::Error| match e.downcast::<ServerError>() {
            Ok(r) => refused(r),
            Err(e) => e,
        };
        // What the server accepted, then, when waiting, the verified answer.
        let sent = |r: &SendResult, sealed: bool| {
            let how = if sealed { "sealed" } else { "in the clear" };
            let mut text = format!("sent to {} ({how}): message id {}\n", a.to, r.message_id);
            if r.duplicate {
                text.push_str("(a retry of a message the server had already accepted)\n");
            }
            text
        };
        if let Some(protocol) = &a.typed {
            let (r, sealed) = m
                .send_typed(&a.to, protocol, &text, a.reply_to.as_deref(), seal)
                .await
                .map_err(fail)?;
            out(&sent(&r, sealed))?;
            return Ok(());
        }
        let Some(timeout) = a.wait else {
            let (r, sealed) = m.send(&a.to, &text, a.reply_to.as_deref(), seal).await.map_err(fail)?;
            out(&sent(&r, sealed))?;
            return Ok(());
        };
        let (r, sealed, reply) = m
            .send_and_wait(&a.to, &text, a.reply_to.as_deref(), seal, timeout)
            .await
            .map_err(fail)?;
        let mut text = sent(&r, sealed);
        match reply {
            Some(item) => text.push_str(&render(std::slice::from_ref(&item), now_ms())),
            None => text.push_str("no verified reply before the timeout\n"),
        }
        out(&text)?;
        Ok::<(), anyhow::Error>(())
    })
}

/// Received messages as text.
pub fn render(items: &[crate::session::Item], now: u64) -> String {
    let mut s = String::new();
    for i in items {
        let reply = if i.in_reply_to.is_empty() {
            String::new()
        } else {
            format!(", reply to {}", i.in_reply_to)
        };
        match &i.verdict {
            Ok(o) if i.event.is_some() => s.push_str(&format!(
                "Event from the server · {} · verified against the pinned server key · id {}\n  {}\n",
                relative(now, i.received_at),
                i.message_id,
                o.text
            )),
            Ok(o) => {
                let sealed = if o.sealed { "sealed" } else { "not sealed" };
                let room = match (&i.room, &i.broadcast) {
                    (Some(r), _) => format!(" in room {r}"),
                    (_, Some(to)) => format!(" (broadcast to {to})"),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "From {}{room} · {} · {sealed} · verified · id {}{reply}\n",
                    i.from,
                    relative(now, i.received_at),
                    i.message_id
                ));
                for line in o.text.lines() {
                    s.push_str("  ");
                    s.push_str(line);
                    s.push('\n');
                }
                if let Some(t) = &i.typed {
                    s.push_str(&format!("  [{}]\n", t.line()));
                }
            }
            Err(why) => s.push_str(&format!(
                "REJECTED from {} · id {}{reply}: {why}\n",
                i.from, i.message_id
            )),
        }
    }
    s
}

pub fn recv(ctx: &Ctx, a: RecvArgs) -> Result<()> {
    if a.wait > 50 {
        bail!(hinted("--wait: at most 50 seconds", "use --wait 50 and call again"));
    }
    let m = Session::load(&ctx.config, &ctx.pass, PATIENCE + Duration::from_secs(a.wait))?;
    runtime().block_on(async {
        let got = m.receive(a.wait, a.max).await.map_err(refused)?;
        let (items, held) = (&got.items, &got.held);
        let text = if a.json {
            serde_json::to_string_pretty(&items.iter().map(|i| i.json()).collect::<Vec<_>>())? + "\n"
        } else if items.is_empty() {
            "no messages\n".to_owned()
        } else {
            render(items, now_ms())
        };
        out(&text)?;
        // Signals go beside the messages, so --json output keeps its shape.
        for s in &got.signals {
            eprintln!("mcpmsg: {}", s.line().replace('`', ""));
        }
        for h in held {
            eprintln!("mcpmsg: note: {h}");
        }
        // Printed: remember and acknowledge. A failure here only means they
        // come back (and are then dropped as duplicates).
        if let Err(e) = m.handed_on(&got).await {
            eprintln!("mcpmsg: note: could not record or acknowledge ({e}); the messages will be delivered again");
        }
        if items.iter().any(|i| i.verdict.is_err()) {
            bail!(verify_failed(
                "some messages failed their checks and are shown as REJECTED"
            ));
        }
        Ok(())
    })
}

pub fn checkin(ctx: &Ctx, a: CheckinArgs) -> Result<()> {
    // A suspended or revoked identity cannot check in; what it can do is
    // make sure the server knows it is revoked (A2: a server that forgot it,
    // an in-memory one restarted, stores it as a tombstone).
    let id = crate::identity::Identity::load(&ctx.config)?;
    let (events, state) = id.kel()?;
    if let Some((seq, reason)) = state.revoked() {
        let pushed = push_event(&id.config.server_info.url, &events);
        out(&format!(
            "{} is {} at seq {seq} ({}): it cannot check in. Its revocation, with the whole log: {pushed}",
            state.client_id(),
            state.status().as_str(),
            reason.as_str()
        ))?;
        return Ok(());
    }
    let m = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let r = m.checkin(&a.name, &a.capabilities).await.map_err(refused)?;
        let what = if r.registered { "registered" } else { "checked in" };
        let key = m.server_key().await?;
        out(&format!(
            "{what} {} at {}: log at seq {}\nserver key fingerprint: {} (pinned)\n",
            m.me(),
            m.remote.url(),
            r.kel_seq,
            key.fingerprint()
        ))?;
        Ok(())
    })
}

/// After `rotate` or `revoke`: pushes the new event (a revocation with
/// the whole log, so a server that forgot the identity stores it revoked,
/// A2) and says what happened.
pub fn push_event(url: &str, events: &[Event]) -> String {
    let Some(event) = events.last() else {
        return String::new();
    };
    // One attempt: the event is safe in the local log whatever happens here.
    let remote = Connection::new(url, Duration::ZERO);
    let pushed = runtime().block_on(async {
        if matches!(event, Event::Revocation(_)) {
            let args = RevokeKeyArgs {
                event: event.clone(),
                kel: Some(events.to_vec()),
            };
            remote.call(|| args.clone()).await
        } else {
            let args = RotateKeyArgs { event: event.clone() };
            remote.call(|| args.clone()).await
        }
    });
    match pushed {
        Ok(_) => format!("pushed to {url}\n"),
        Err(ServerError::Unreachable(_)) => {
            format!("{url} is unreachable: the next `mcpmsg checkin` pushes the event\n")
        }
        Err(ServerError::Refused { code, .. }) if code == "unknown_client" => {
            format!("{url} does not know this identity yet: `mcpmsg checkin` registers it with the whole log\n")
        }
        Err(e) => format!("{url} refused the event: {e}\n"),
    }
}
