//! `mcpmsg protocol`: the protocol registry from the shell (PROTOCOL §18):
//! register a version with its JSON Schema, register a version adapter,
//! list what is registered, and show a version with its registration
//! verified.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use mcpmsg_core::protocol::escape_inline;
use mcpmsg_core::protocol::tools::DiscoverProtocolsArgs;

use crate::session::{Registration, Session};
use crate::shell::{runtime, PATIENCE};
use crate::{out, Ctx};

#[derive(Subcommand)]
pub enum ProtocolCommand {
    /// Register NAME@VERSION with a JSON Schema (draft 2020-12) of its message bodies
    Register {
        name: String,
        version: String,
        /// The schema's file (`-`: standard input)
        #[arg(long, value_name = "FILE")]
        schema: PathBuf,
        /// Comma-separated: point_to_point, broadcast, request_response, streaming
        #[arg(long, default_value = "point_to_point")]
        kinds: String,
        /// What the protocol is for
        #[arg(long, default_value = "")]
        description: String,
        /// Comma-separated tags
        #[arg(long, default_value = "")]
        tags: String,
        /// Comma-separated client ids that may also register versions (owner only)
        #[arg(long, default_value = "")]
        co_owners: String,
    },
    /// List registered versions: all, one name, a semver range, a tag
    List {
        #[arg(long)]
        name: Option<String>,
        /// A semver range such as ^1.2 or ">=1.0, <3"
        #[arg(long)]
        range: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Register an adapter from one version to another: a JSON array of move, default and remove operations on JSON Pointers
    Adapter {
        name: String,
        from: String,
        to: String,
        /// The operations' file (`-`: standard input), such as [{"op":"move","from":"/title","path":"/summary"}]
        #[arg(long, value_name = "FILE")]
        ops: PathBuf,
    },
    /// Show a version (default the highest; a range picks the highest in it), verified
    Show {
        name: String,
        version: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct DeclareArgs {
    /// Capability tags, comma-separated
    #[arg(long, default_value = "")]
    tags: String,
    /// Registered protocol versions you speak: name@version, comma-separated
    #[arg(long, default_value = "")]
    protocols: String,
}

/// `mcpmsg declare`: replaces this identity's declaration.
pub fn declare(ctx: &Ctx, a: DeclareArgs) -> Result<()> {
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let d = s.declare(&a.tags, &a.protocols).await?;
        let none = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        out(&format!(
            "declared tags {}; protocols {}\n",
            none(&d.tags),
            none(&d.protocols)
        ))
        .map_err(Into::into)
    })
}

/// `mcpmsg negotiate PEER`: what this identity and PEER can use together.
pub fn negotiate(ctx: &Ctx, peer: &str, json: bool) -> Result<()> {
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        let n = s.negotiate(peer).await?;
        if json {
            return out(&(serde_json::to_string_pretty(&n)? + "\n")).map_err(Into::into);
        }
        let mut text = String::new();
        for p in &n.protocols {
            match &p.version {
                Some(v) => text.push_str(&format!("{}: use {v}\n", p.name)),
                None => text.push_str(&format!(
                    "{}: no compatible version (you speak {}; {peer} speaks {})\n",
                    p.name,
                    p.a_speaks.join(", "),
                    p.b_speaks.join(", ")
                )),
            }
        }
        if !n.only_a.is_empty() {
            text.push_str(&format!("only you: {}\n", n.only_a.join(", ")));
        }
        if !n.only_b.is_empty() {
            text.push_str(&format!("only {peer}: {}\n", n.only_b.join(", ")));
        }
        text.push_str(&format!("tags in common: {}\n", n.tags_both.join(", ")));
        out(&text).map_err(Into::into)
    })
}

pub fn run(ctx: &Ctx, cmd: ProtocolCommand) -> Result<()> {
    let s = Session::load(&ctx.config, &ctx.pass, PATIENCE)?;
    runtime().block_on(async {
        match cmd {
            ProtocolCommand::Register {
                name,
                version,
                schema,
                kinds,
                description,
                tags,
                co_owners,
            } => {
                let text = read_input(&schema, "the schema")?;
                let r = Registration {
                    schema: &text,
                    kinds: &kinds,
                    description: &description,
                    tags: &tags,
                    co_owners: &co_owners,
                };
                let done = s.register_protocol(&name, &version, r).await?;
                out(&format!(
                    "registered {}@{}; the name belongs to {}{}\n",
                    done.name,
                    done.version,
                    done.owner,
                    if done.co_owners.is_empty() {
                        String::new()
                    } else {
                        format!(" (co-owners {})", done.co_owners.join(", "))
                    }
                ))?;
            }
            ProtocolCommand::List { name, range, tag, json } => list(&s, name, range, tag, json).await?,
            ProtocolCommand::Adapter { name, from, to, ops } => {
                let ops = read_input(&ops, "the operations")?;
                let done = s.register_adapter(&name, &from, &to, &ops).await?;
                out(&format!(
                    "registered an adapter of {} from {} to {}: readers of {} now read {} messages through it\n",
                    done.name, done.from, done.to, done.to, done.from
                ))?;
            }
            ProtocolCommand::Show { name, version, json } => {
                let p = s.protocol(&name, version.as_deref()).await?;
                if json {
                    out(&(serde_json::to_string_pretty(&p)? + "\n"))?;
                } else {
                    let reg = &p.registration;
                    out(&format!(
                        "{}@{} verified: registered by {} (its signature checked against its pinned key log); kinds {}; tags {}; owner {}\n{}\nschema: {}\n",
                        reg.name,
                        reg.version,
                        reg.client_id,
                        reg.kinds,
                        if reg.tags.is_empty() { "none" } else { &reg.tags },
                        p.owner,
                        escape_inline(&reg.description, 1024),
                        reg.schema
                    ))?;
                }
            }
        }
        Ok(())
    })
}

/// A file's text, or standard input's for `-`.
fn read_input(path: &std::path::Path, what: &str) -> Result<String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).with_context(|| format!("cannot read {what} from stdin"))
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// Every page, printed once.
async fn list(s: &Session, name: Option<String>, range: Option<String>, tag: Option<String>, json: bool) -> Result<()> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .discover(DiscoverProtocolsArgs {
                name: name.clone(),
                range: range.clone(),
                tag: tag.clone(),
                cursor: cursor.take(),
                limit: None,
            })
            .await?;
        all.extend(page.protocols);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if json {
        return out(&(serde_json::to_string_pretty(&all)? + "\n")).map_err(Into::into);
    }
    if all.is_empty() {
        return out("no protocols\n").map_err(Into::into);
    }
    let mut text = String::new();
    for p in all {
        text.push_str(&format!(
            "{}@{} [{}] by {}: {}\n",
            p.name,
            p.version,
            p.kinds.join(","),
            p.registered_by,
            escape_inline(&p.description, 200)
        ));
    }
    out(&text).map_err(Into::into)
}
