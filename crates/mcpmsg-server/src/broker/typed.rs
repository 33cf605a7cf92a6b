//! Typed messages (PROTOCOL §18d): an unsealed body whose content type
//! names a registered protocol version is validated against its schema
//! before it is queued. Schemas are compiled once and cached: a registered
//! version never changes, so a cached schema never goes stale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mcpmsg_core::protocol::registry::{sealed_protocol, typed_protocol, Schema, SchemaLimits, Version};
use mcpmsg_core::protocol::ErrorCode;

use super::{Broker, Refusal};

/// Compiled schemas by `name@version`, cleared when full (like the key
/// log cache): a miss costs one store read and one compile.
pub(super) struct SchemaCache {
    map: Mutex<HashMap<String, Arc<Schema>>>,
    max: usize,
}

impl SchemaCache {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: Mutex::default(),
            max: max.max(1),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Schema>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    fn put(&self, key: String, schema: Arc<Schema>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, schema);
    }
}

impl Broker {
    /// Validates `body` when `content_type` names a protocol version:
    /// `unknown_protocol` for one not registered, `schema_mismatch` (with
    /// the first error's path in the body) for a body that does not match.
    /// A sealed body only has its version checked as registered. Call it
    /// after authentication (validation is work only a registered sender
    /// may make the server do).
    pub(super) async fn check_typed(&self, content_type: &str, body: &str) -> Result<(), Refusal> {
        // A sealed typed body cannot be read here: its recipient validates
        // it after opening. The version it names must be registered.
        if let Some(named) = sealed_protocol(content_type) {
            let (name, version) = named.map_err(Refusal::invalid)?;
            return self.schema_of(&name, &version).await.map(drop);
        }
        let Some(named) = typed_protocol(content_type) else {
            return Ok(());
        };
        let (name, version) = named.map_err(Refusal::invalid)?;
        let schema = self.schema_of(&name, &version).await?;
        let value: serde_json::Value = serde_json::from_str(body).map_err(|e| {
            Refusal::new(
                ErrorCode::SchemaMismatch,
                format!("message: a typed message's body is JSON, and this is not ({e})"),
            )
        })?;
        match schema.first_error(&value) {
            None => Ok(()),
            Some(e) => Err(Refusal::new(
                ErrorCode::SchemaMismatch,
                format!("message does not match {name}@{version}: {e}; nothing was queued"),
            )),
        }
    }

    async fn schema_of(&self, name: &str, version: &Version) -> Result<Arc<Schema>, Refusal> {
        let key = format!("{name}@{version}");
        if let Some(s) = self.schemas.get(&key) {
            return Ok(s);
        }
        let unknown = || {
            Refusal::new(
                ErrorCode::UnknownProtocol,
                format!("{key} is not registered; register it (register_protocol) or name a registered version"),
            )
        };
        let (_, versions) = self.store.protocol(name).await?.ok_or_else(unknown)?;
        let record = versions
            .iter()
            .find(|r| Version::parse(&r.registration.version).is_ok_and(|v| v == *version))
            .ok_or_else(unknown)?;
        // It compiled within the limits when it was registered; the limits
        // may have been lowered since, which must not unmake a protocol.
        let unlimited = SchemaLimits {
            max_bytes: usize::MAX,
            max_depth: usize::MAX,
        };
        let schema = Schema::compile(&record.registration.schema, unlimited).map_err(|e| {
            tracing::error!(protocol = %key, error = %e, "a registered schema no longer compiles");
            Refusal::new(ErrorCode::Unavailable, "the store is unavailable; try again shortly")
        })?;
        let schema = Arc::new(schema);
        self.schemas.put(key, schema.clone());
        Ok(schema)
    }
}
