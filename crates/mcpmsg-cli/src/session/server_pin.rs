//! The server key (PROTOCOL §12): pinned on first contact like a
//! recipient's key, its fingerprint shown, and every server statement
//! checked against it. A server that signs with another key is refused
//! until the user re-pins on purpose (`mcpmsg server repin`).

use mcpmsg_core::crypto::SigningPublicKey;
use mcpmsg_core::protocol::tools::GetServerKeyArgs;

use super::*;

/// The key the server at `remote` presents now (`get_server_key`),
/// checked against the fingerprint it publishes beside it.
pub async fn presented_key(remote: &Connection) -> Result<SigningPublicKey> {
    let info = remote.call(|| GetServerKeyArgs {}).await?;
    let key = SigningPublicKey::parse(&info.server_key)
        .map_err(|e| anyhow::anyhow!("the server published a malformed key: {e}"))?;
    if key.fingerprint() != info.fingerprint {
        bail!("the server published a fingerprint that is not its key's");
    }
    Ok(key)
}

/// What to tell a user whose server now signs with another key.
pub fn other_key_hint(url: &str) -> String {
    format!(
        "if the operator replaced the server key (ask them for its fingerprint), re-pin with `mcpmsg server repin`; \
         otherwise something between you and {url} is not that server"
    )
}

impl Session {
    /// The pinned server key; on first contact, fetches and pins it.
    pub async fn server_key(&self) -> Result<SigningPublicKey> {
        let pinned = self.id.lock().await.config.server_info.server_key.clone();
        if let Some(text) = pinned {
            return SigningPublicKey::parse(&text).map_err(|e| {
                anyhow::Error::from(hinted(
                    format!("server_info.server_key in the config is not a key: {e}"),
                    "re-pin with `mcpmsg server repin`",
                ))
            });
        }
        let key = presented_key(&self.remote).await?;
        let mut id = self.id.lock().await;
        id.config.server_info.server_key = Some(key.to_string());
        id.save_config()?;
        tracing::warn!(
            url = self.remote.url(),
            fingerprint = %key.fingerprint(),
            "pinned the server key on first contact; compare the fingerprint with the operator's"
        );
        Ok(key)
    }

    /// Checks the server's signed acceptance of a send against the pin.
    pub(super) async fn check_acceptance(&self, sent: &SendResult, to: &str) -> Result<()> {
        let key = self.server_key().await?;
        let a = &sent.acceptance;
        let facts = a.message_id == sent.message_id
            && a.sender_id == self.me
            && a.recipient_id == to
            && a.received_at == sent.received_at
            && a.expires_at == sent.expires_at;
        if !facts {
            bail!("the server's signed acceptance does not state what it answered: not trusted");
        }
        a.verify(&key).map_err(|e| {
            anyhow::Error::from(hinted(
                format!("the message was sent, but the server's acceptance does not verify: {e}"),
                other_key_hint(self.remote.url()),
            ))
        })
    }
}
