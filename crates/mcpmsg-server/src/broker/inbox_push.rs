//! The inbox as an MCP resource (PROTOCOL §13): its URI with an unguessable
//! token, and watching it for arrivals. A push is a poke: it says "look
//! now", carries nothing, and may be lost or repeated without harm; the
//! queue stays the truth.
//!
//! The token is HMAC-SHA-256(K, client_id), cut to 16 bytes, with K derived
//! from the server key. So it needs no storage, every node that shares the
//! key file issues and accepts the same token, and nobody without the key
//! can make one for someone else's inbox (to watch when their messages
//! arrive). It changes when the server key does.

use std::future::Future;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use mcpmsg_core::crypto::b64;
use mcpmsg_core::protocol::tools::GetInboxUriArgs;
use mcpmsg_core::protocol::{check_client_id, now_ms};

use super::auth::Against;
use super::{Broker, Refusal};

/// What every inbox URI starts with.
pub const INBOX_URI_PREFIX: &str = "mcpmsg://inbox/";

/// The key tokens are made with, derived from the server key's seed.
pub(super) fn token_key(server_key: &mcpmsg_core::crypto::SigningSecret) -> Zeroizing<[u8; 32]> {
    let seed = server_key.seed();
    let mut h = Sha256::new();
    h.update(b"mcpmsg-v1 inbox token key\0");
    h.update(seed.as_ref());
    Zeroizing::new(h.finalize().into())
}

impl Broker {
    /// HMAC-SHA-256 under the token key, fed `client_id`.
    fn inbox_mac(&self, client_id: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.inbox_key.as_ref()).expect("any key length");
        mac.update(client_id.as_bytes());
        mac
    }

    fn inbox_token(&self, client_id: &str) -> String {
        b64::encode(&self.inbox_mac(client_id).finalize().into_bytes()[..16])
    }

    /// The resource URI of `client_id`'s inbox.
    pub fn inbox_uri(&self, client_id: &str) -> String {
        format!("{INBOX_URI_PREFIX}{client_id}?token={}", self.inbox_token(client_id))
    }

    /// The client whose inbox `uri` is, if its token is right.
    pub fn inbox_owner(&self, uri: &str) -> Option<String> {
        let (client_id, token) = uri.strip_prefix(INBOX_URI_PREFIX)?.split_once("?token=")?;
        check_client_id("uri", client_id).ok()?;
        let given = b64::decode_array::<16>(token).ok()?;
        // Constant time: the comparison must not tell how much was right.
        self.inbox_mac(client_id).verify_truncated_left(&given).ok()?;
        Some(client_id.to_owned())
    }

    /// `get_inbox_uri`: the caller's own inbox URI, for a signed call only.
    pub async fn get_inbox_uri(&self, req: GetInboxUriArgs) -> Result<String, Refusal> {
        check_client_id("client_id", &req.client_id)?;
        self.accept_request(&req, Against::Stored, now_ms()).await?;
        Ok(self.inbox_uri(&req.client_id))
    }

    /// How many items wait in `client_id`'s inbox (what reading the
    /// resource shows; nothing is taken).
    pub async fn inbox_len(&self, client_id: &str) -> Result<usize, Refusal> {
        Ok(self.store.queue_len(client_id, now_ms()).await?)
    }

    /// Calls `poke` each time an item lands in `client_id`'s inbox (through
    /// any node sharing the store: the doorbell wakes this one) until
    /// `stop` or shutdown. A watch holds a wait slot of the client, so
    /// watches count against `--max-waits-per-client` and `--max-waiters`.
    /// Ends early when `poke` fails (the subscriber went away).
    pub async fn watch_inbox<F, Fut>(
        &self,
        client_id: &str,
        stop: CancellationToken,
        mut poke: F,
    ) -> Result<(), Refusal>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let guard = self.waiters.register(client_id)?;
        loop {
            let notified = guard.notify.notified();
            tokio::pin!(notified);
            tokio::select! {
                _ = &mut notified => {}
                _ = stop.cancelled() => return Ok(()),
                _ = self.shutdown.cancelled() => return Ok(()),
            }
            if !poke().await {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::BrokerConfig;
    use crate::store::MemoryStore;
    use mcpmsg_core::crypto::SigningSecret;

    fn broker(key: SigningSecret) -> Broker {
        Broker::new(
            BrokerConfig::default(),
            Arc::new(MemoryStore::new()),
            None,
            key,
            CancellationToken::new(),
        )
    }

    #[test]
    fn tokens_name_one_inbox_under_one_server_key() {
        let key = SigningSecret::generate();
        let same = SigningSecret::from_seed(&key.seed());
        let (a, b) = (broker(key), broker(same));
        let uri = a.inbox_uri("alice");
        assert!(uri.starts_with("mcpmsg://inbox/alice?token="));
        // Another node with the same key accepts it.
        assert_eq!(b.inbox_owner(&uri).as_deref(), Some("alice"));
        // Not for another client, nor with a changed token, nor under another key.
        assert_eq!(a.inbox_owner(&uri.replace("alice", "bob")), None);
        let mut forged = uri.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(a.inbox_owner(&forged), None);
        assert_eq!(broker(SigningSecret::generate()).inbox_owner(&uri), None);
        assert_eq!(a.inbox_owner("mcpmsg://inbox/alice"), None);
        assert_eq!(a.inbox_owner("mcpmsg://inbox/-x?token=AAAAAAAAAAAAAAAAAAAAAA"), None);
    }
}
