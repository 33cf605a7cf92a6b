//! The protocol registry on Redis, in one slot (`{reg}`): a ZSET of names
//! (all scored 0, so ordered by bytes and paged with ZRANGEBYLEX) and per
//! name a HASH of `owner` (JSON of `NameOwner`) and `v:<version>` (JSON of
//! `ProtocolRecord`). A script registers, following `store::decide`.
//! Adapters (§18f): per name a HASH `a:<name>` of `<from>><to>` -> JSON of
//! `AdapterRecord`, written by a script that checks the owners first.

use redis::AsyncCommands;

use super::conn::err;
use super::RedisStore;
use crate::store::{
    adapter_field, AdapterOutcome, AdapterRecord, AdapterRegister, Declaration, NameOwner, ProtocolRecord,
    ProtocolRegister, RegisterOutcome, StoreError,
};

const NAMES: &str = "mcpmsg:{reg}:names";
/// What each client declared: a HASH of client id -> JSON of `Declaration`
/// (one field per registered identity at most).
const DECLARED: &str = "mcpmsg:{reg}:declared";

fn name_key(name: &str) -> String {
    format!("mcpmsg:{{reg}}:p:{name}")
}

fn adapters_key(name: &str) -> String {
    format!("mcpmsg:{{reg}}:a:{name}")
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError(e.to_string()))
}

fn json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError(format!("redis: malformed registry entry: {e}")))
}

impl RedisStore {
    pub(super) async fn register_protocol_step(
        &self,
        step: ProtocolRegister<'_>,
    ) -> Result<RegisterOutcome, StoreError> {
        let reg = &step.record.registration;
        let wanted = NameOwner {
            owner: reg.client_id.clone(),
            co_owners: step.co_owners.to_vec(),
        };
        let r: Vec<String> = self
            .scripts
            .register_protocol
            .key(NAMES)
            .key(name_key(&reg.name))
            .arg(&reg.client_id)
            .arg(format!("v:{}", reg.version))
            .arg(to_json(step.record)?)
            .arg(to_json(&wanted)?)
            .arg(step.max_names)
            .arg(step.max_versions)
            .arg(if step.co_owners.is_empty() { "0" } else { "1" })
            .arg(&reg.name)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        match (r.first().map(String::as_str), r.get(1)) {
            (Some("registered"), Some(o)) => Ok(RegisterOutcome::Registered(json(o)?)),
            (Some("not_owner"), Some(o)) => Ok(RegisterOutcome::NotOwner(json(o)?)),
            (Some("exists"), _) => Ok(RegisterOutcome::Exists),
            (Some("names_full"), _) => Ok(RegisterOutcome::NamesFull),
            (Some("versions_full"), _) => Ok(RegisterOutcome::VersionsFull),
            _ => Err(StoreError(format!("redis: unexpected registry result {r:?}"))),
        }
    }

    pub(super) async fn register_adapter_step(&self, step: AdapterRegister<'_>) -> Result<AdapterOutcome, StoreError> {
        let reg = &step.record.registration;
        let r: Vec<String> = self
            .scripts
            .register_adapter
            .key(name_key(&reg.name))
            .key(adapters_key(&reg.name))
            .arg(&reg.client_id)
            .arg(adapter_field(reg))
            .arg(to_json(step.record)?)
            .arg(step.max)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        match (r.first().map(String::as_str), r.get(1)) {
            (Some("registered"), _) => Ok(AdapterOutcome::Registered),
            (Some("unknown"), _) => Ok(AdapterOutcome::UnknownName),
            (Some("not_owner"), Some(o)) => Ok(AdapterOutcome::NotOwner(json(o)?)),
            (Some("exists"), _) => Ok(AdapterOutcome::Exists),
            (Some("full"), _) => Ok(AdapterOutcome::Full),
            _ => Err(StoreError(format!("redis: unexpected adapter result {r:?}"))),
        }
    }

    pub(super) async fn adapters_of(&self, name: &str) -> Result<Vec<AdapterRecord>, StoreError> {
        let all: Vec<(String, String)> = self.conn().hgetall(adapters_key(name)).await.map_err(err)?;
        all.iter().map(|(_, raw)| json(raw)).collect()
    }

    pub(super) async fn protocol_of(&self, name: &str) -> Result<Option<(NameOwner, Vec<ProtocolRecord>)>, StoreError> {
        let all: Vec<(String, String)> = self.conn().hgetall(name_key(name)).await.map_err(err)?;
        let mut owner = None;
        let mut versions = Vec::new();
        for (field, raw) in all {
            if field == "owner" {
                owner = Some(json::<NameOwner>(&raw)?);
            } else {
                versions.push(json::<ProtocolRecord>(&raw)?);
            }
        }
        Ok(owner.map(|o| (o, versions)))
    }

    pub(super) async fn declare_step(&self, client_id: &str, d: &Declaration) -> Result<(), StoreError> {
        let _: i64 = self.conn().hset(DECLARED, client_id, to_json(d)?).await.map_err(err)?;
        Ok(())
    }

    pub(super) async fn declarations_of(&self, client_ids: &[&str]) -> Result<Vec<Option<Declaration>>, StoreError> {
        if client_ids.is_empty() {
            return Ok(Vec::new());
        }
        let raw: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(DECLARED)
            .arg(client_ids)
            .query_async(&mut self.conn())
            .await
            .map_err(err)?;
        raw.iter().map(|r| r.as_deref().map(json).transpose()).collect()
    }

    pub(super) async fn every_declaration(&self) -> Result<Vec<(String, Declaration)>, StoreError> {
        let all: Vec<(String, String)> = self.conn().hgetall(DECLARED).await.map_err(err)?;
        all.into_iter().map(|(c, raw)| Ok((c, json(&raw)?))).collect()
    }

    pub(super) async fn protocol_names_after(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let from = if after.is_empty() {
            "-".to_owned()
        } else {
            format!("({after}")
        };
        self.conn()
            .zrangebylex_limit(NAMES, from, "+", 0, isize::try_from(limit).unwrap_or(isize::MAX))
            .await
            .map_err(err)
    }
}
