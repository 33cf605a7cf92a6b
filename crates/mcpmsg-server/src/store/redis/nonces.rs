//! Claiming a client's nonce on Redis: where it lives (see `keys`), the
//! scripts that take the client's identity and nonce keys, and what a
//! claim found.

use super::conn::err;
use super::keys::{identity_key, nonce_place, nonce_ttl};
use super::RedisStore;
use crate::store::StoreError;

/// What claiming a nonce found.
pub(super) enum Claim {
    Claimed,
    /// Live, with this value.
    Used(Vec<u8>),
    /// The client's log has another head: nothing was claimed.
    Stale,
}

impl RedisStore {
    /// A client's nonce keys for `now`, and the nonce's field.
    pub(super) fn nonce_place(
        &self,
        client_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<(Vec<String>, [u8; 16]), StoreError> {
        nonce_place(client_id, nonce, now, self.nonce_window)
    }

    /// An invocation of a script that takes `leading` keys, then the
    /// client's identity and the keys of its nonce (see `nonce_place`), with
    /// the nonce's field to pass it.
    pub(super) fn nonce_script<'s>(
        &self,
        script: &'s redis::Script,
        leading: &[String],
        client_id: &str,
        nonce: &str,
        now: u64,
    ) -> Result<(redis::ScriptInvocation<'s>, [u8; 16]), StoreError> {
        let (keys, field) = self.nonce_place(client_id, nonce, now)?;
        let mut inv = script.prepare_invoke();
        for k in leading {
            inv.key(k);
        }
        inv.key(identity_key(client_id));
        for k in &keys {
            inv.key(k);
        }
        Ok((inv, field))
    }

    /// Claims a nonce unless it is live or, with `head`, the client's stored
    /// log has another head.
    pub(super) async fn claim(
        &self,
        client_id: &str,
        nonce: &str,
        value: &[u8],
        until: u64,
        now: u64,
        head: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let (mut inv, field) = self.nonce_script(&self.scripts.claim, &[], client_id, nonce, now)?;
        let r: Vec<Vec<u8>> = inv
            .arg(&field[..])
            .arg(value)
            .arg(nonce_ttl(until, now))
            .arg(now)
            .arg(head.unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        match (r.first().map(Vec::as_slice), r.get(1)) {
            (Some(b"claimed"), _) => Ok(Claim::Claimed),
            (Some(b"stale"), _) => Ok(Claim::Stale),
            (Some(b"used"), Some(old)) => Ok(Claim::Used(old.clone())),
            _ => Err(StoreError(format!("redis: unexpected claim result {r:?}"))),
        }
    }
}
