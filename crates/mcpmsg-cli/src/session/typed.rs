//! Typed messages as their reader sees them (PROTOCOL §18d, §18f): the
//! body checked against the schema its sender named (the server checked an
//! unsealed one too, but a reader does not take the server's word), then,
//! if this identity does not speak that version, adapted to the highest
//! version it speaks through registered adapters, each verified against
//! its registrant's key log. The original stays as signed; a message no
//! chain reaches is shown as unreadable in the versions spoken, never
//! silently as something else.

use std::path::{Path, PathBuf};

use mcpmsg_core::protocol::adapt::{adapt_for_reader, parse_ops, Adapter};
use mcpmsg_core::protocol::registry::{body_protocol, verify_registered, Schema, SchemaLimits, Version};
use mcpmsg_core::protocol::tools::{AdapterList, ListAdaptersArgs};
use serde_json::{json, Value};

use super::*;

/// Generous limits for schemas a reader compiles: the server enforced its
/// own when they were registered.
const READER_LIMITS: SchemaLimits = SchemaLimits {
    max_bytes: 4 << 20,
    max_depth: 256,
};

/// How a typed message reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// `name@version` as sent (and signed).
    pub sent: String,
    /// The version it is read as, or why it cannot be read in any version
    /// this identity speaks.
    pub read: Result<TypedRead, String>,
}

/// A typed body in a version this identity speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedRead {
    /// The version.
    pub version: String,
    /// The adapters applied, `from>to` each, in order (none: as sent).
    pub via: Vec<String>,
    /// The body in that version: the original when `via` is empty.
    pub body: String,
}

impl Typed {
    /// Its members in an item's JSON: `protocol`, then `read_as`,
    /// `adapted_via` and `adapted`, or `unreadable`.
    pub(super) fn add_to(&self, v: &mut Value) {
        v["protocol"] = json!(self.sent);
        match &self.read {
            Ok(r) => {
                v["read_as"] = json!(r.version);
                if !r.via.is_empty() {
                    v["adapted_via"] = json!(r.via);
                    v["adapted"] = json!(r.body);
                }
            }
            Err(why) => v["unreadable"] = json!(why),
        }
    }

    /// In words, for a person or a model.
    pub fn line(&self) -> String {
        match &self.read {
            Ok(r) if r.via.is_empty() => format!("typed {} (schema checked)", self.sent),
            Ok(r) => format!(
                "typed {}, read as {} through the owner's adapters {} (after the original's signature verified): {}",
                self.sent,
                r.version,
                r.via.join(", "),
                r.body
            ),
            Err(why) => format!("typed {}, UNREADABLE in the versions you speak: {why}", self.sent),
        }
    }
}

/// Where the protocols this identity last declared are kept: beside the
/// configuration, named after it.
pub(super) fn declared_path(config: &Path) -> PathBuf {
    let mut name = config.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".declared.json");
    config.with_file_name(name)
}

impl Session {
    /// Records what this identity declared, for reading typed messages.
    pub(super) fn remember_declared(&self, protocols: &[String]) -> Result<()> {
        let text = serde_json::to_vec(protocols).expect("strings serialise");
        crate::files::write_atomic(&self.declared_path, &text, 0o600, crate::files::Existing::Replace)
    }

    /// The versions of `name` this identity declared (none if it never
    /// declared from here).
    fn speaks(&self, name: &str) -> Vec<Version> {
        let Ok(text) = std::fs::read_to_string(&self.declared_path) else {
            return Vec::new();
        };
        let declared: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
        declared
            .iter()
            .filter_map(|p| p.split_once('@'))
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| Version::parse(v).ok())
            .collect()
    }

    /// How a verified (and, if sealed, opened) body of `content_type`
    /// reads: `None` unless typed;
    /// `Err` when the body does not match the schema its sender named (the
    /// message is then shown as rejected).
    pub(super) async fn typed_view(&self, content_type: &str, body: &str) -> Result<Option<Typed>, String> {
        let (name, sent) = match body_protocol(content_type) {
            None => return Ok(None),
            Some(Ok(p)) => p,
            Some(Err(e)) => return Err(e),
        };
        let tag = format!("{name}@{sent}");
        let value: Value =
            serde_json::from_str(body).map_err(|e| format!("a typed message's body is JSON, and this is not ({e})"))?;
        let unreadable = |why: String| {
            Ok(Some(Typed {
                sent: tag.clone(),
                read: Err(why),
            }))
        };
        let schema = match self.schema_of(&name, &sent).await {
            Ok(s) => s,
            Err(e) => return unreadable(format!("its schema could not be checked: {e:#}")),
        };
        if let Some(e) = schema.first_error(&value) {
            return Err(format!("the body does not match {tag}: {e}"));
        }
        let speaks = self.speaks(&name);
        if speaks.is_empty() || speaks.contains(&sent) {
            let read = TypedRead {
                version: sent.to_string(),
                via: Vec::new(),
                body: body.to_owned(),
            };
            return Ok(Some(Typed {
                sent: tag,
                read: Ok(read),
            }));
        }
        let read = match self.adapt(&name, &sent, &speaks, &value).await {
            Ok(r) => r,
            Err(why) => return unreadable(why),
        };
        Ok(Some(Typed {
            sent: tag,
            read: Ok(read),
        }))
    }

    /// The body adapted to the highest version spoken that a chain of
    /// verified adapters reaches, checked against that version's schema.
    async fn adapt(&self, name: &str, sent: &Version, speaks: &[Version], body: &Value) -> Result<TypedRead, String> {
        let list: AdapterList = self
            .remote
            .call(|| ListAdaptersArgs { name: name.to_owned() })
            .await
            .map_err(|e| format!("its adapters could not be read: {e}"))?;
        let parsed: Vec<(Adapter, usize)> = list
            .adapters
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let r = &a.registration;
                let (from, to, ops) = (
                    Version::parse(&r.from).ok()?,
                    Version::parse(&r.to).ok()?,
                    parse_ops(&r.ops).ok()?,
                );
                Some((Adapter { from, to, ops }, i))
            })
            .collect();
        let adapters: Vec<Adapter> = parsed.iter().map(|(a, _)| a.clone()).collect();
        let (version, steps, out) = adapt_for_reader(&adapters, sent, speaks, body)?;
        // Only the adapters the chain used are checked, each before its
        // output is shown.
        for step in &steps {
            let at = adapters
                .iter()
                .position(|a| std::ptr::eq(a, *step))
                .expect("a step is an adapter");
            self.verify_adapter(name, &list.adapters[parsed[at].1]).await?;
        }
        let schema = self
            .schema_of(name, &version)
            .await
            .map_err(|e| format!("the schema of {name}@{version} could not be checked: {e:#}"))?;
        if let Some(e) = schema.first_error(&out) {
            return Err(format!("adapted to {version}, the body does not match its schema: {e}"));
        }
        Ok(TypedRead {
            version: version.to_string(),
            via: steps.iter().map(|a| format!("{}>{}", a.from, a.to)).collect(),
            body: out.to_string(),
        })
    }

    /// An adapter is trusted when its registration verifies against its
    /// registrant's key log and that registrant signed the registration of
    /// its `from` or its `to` version (PROTOCOL §18f).
    async fn verify_adapter(&self, name: &str, a: &mcpmsg_core::protocol::tools::AdapterEntry) -> Result<(), String> {
        let r = &a.registration;
        let what = format!("the adapter {}>{} of {name}", r.from, r.to);
        let (state, at) = self
            .member_log(&r.client_id)
            .await
            .map_err(|t| format!("{what}: {}", t.text()))?;
        let log = SenderLog {
            state: &state,
            accepted_at: Some(&at),
        };
        verify_registered(r, &r.client_id, a.registered_at.parse().unwrap_or(0), &log, self.rules)
            .map_err(|e| format!("{what} does not verify against {}'s key log: {e}", r.client_id))?;
        for v in [&r.from, &r.to] {
            let p = self
                .protocol(name, Some(v))
                .await
                .map_err(|e| format!("{what}: {name}@{v} could not be checked: {e:#}"))?;
            if p.registration.client_id == r.client_id {
                return Ok(());
            }
        }
        Err(format!(
            "{what} was registered by {}, who registered neither version",
            r.client_id
        ))
    }

    /// The verified schema of `name@version`.
    pub(super) async fn schema_of(&self, name: &str, version: &Version) -> Result<Schema> {
        let v = version.to_string();
        let p = self.protocol(name, Some(&v)).await?;
        if p.registration.version != v {
            bail!("asked for {name}@{v}, the server answered {}", p.registration.version);
        }
        Schema::compile(&p.registration.schema, READER_LIMITS).map_err(|e| anyhow::anyhow!(e))
    }
}
