//! Typed sends and broadcast as a client (PROTOCOL §18d, §18e): typed
//! bodies checked against their verified schema before they are signed,
//! sending to a filter, sealed broadcasts
//! sealed to each matching client's verified current key, and received
//! broadcasts checked against the sender's pinned log before they are
//! shown.

use mcpmsg_core::protocol::broadcast::check_broadcast;
use mcpmsg_core::protocol::registry::{parse_version, typed_content_type};
use mcpmsg_core::protocol::tools::{BroadcastArgs, BroadcastDelivered, BroadcastResult, ClientList, ListClientsArgs};

use super::peers::LogTrouble;
use super::receive::Received;
use super::*;

/// Most pages of list_clients a sealed broadcast reads to find its
/// recipients.
const MAX_PAGES: usize = 100;

impl Session {
    /// The content type of an unsealed typed body of `protocol`
    /// (`name@version`), after checking `body` against that version's
    /// verified schema: a mismatch is refused here, before anything is
    /// signed.
    pub async fn typed_content_type(&self, protocol: &str, body: &str) -> Result<String> {
        let (name, version) = protocol
            .split_once('@')
            .context("--protocol: name@version, such as code_review@1.1.0")?;
        let version = parse_version("protocol", version).map_err(|e| anyhow::anyhow!(e))?;
        let schema = self.schema_of(name, &version).await?;
        let value: Value = serde_json::from_str(body).context("a typed body is JSON")?;
        if let Some(e) = schema.first_error(&value) {
            bail!(hinted(
                format!("the body does not match {name}@{version}: {e}"),
                format!("`mcpmsg protocol show {name} {version}` prints its schema")
            ));
        }
        Ok(typed_content_type(&format!("{name}@{version}")))
    }

    /// Sends a typed `body` of `protocol` (`name@version`) to `to`, checked
    /// against the verified schema first; sealed as [`Session::send`] would
    /// (the recipient then checks it after opening), else the server checks
    /// it too (PROTOCOL §18d). Returns the answer and whether it was sealed.
    pub async fn send_typed(
        &self,
        to: &str,
        protocol: &str,
        body: &str,
        in_reply_to: Option<&str>,
        seal: Option<bool>,
    ) -> Result<(SendResult, bool)> {
        self.typed_content_type(protocol, body).await?;
        let key = self.seal_key(to, seal).await?;
        let send = self.sign_send(to, body, in_reply_to, key.as_ref(), Some(protocol))?;
        let r = crate::connection::typed::<SendMessage>(self.as_me(|| send.clone()).await?)?;
        self.check_acceptance(&r, to).await?;
        Ok((r, key.is_some()))
    }

    /// Broadcasts `text` (of `content_type`) to every client but this one
    /// that matches `[tag, protocol, status]`.
    pub async fn broadcast(&self, filter: [&str; 3], content_type: &str, text: &str) -> Result<BroadcastResult> {
        // Signed once: a retry is the same request, answered idempotently.
        let args = BroadcastArgs::new(&self.me, filter, content_type, text).signed_by(self.signing());
        Ok(crate::connection::typed::<BroadcastArgs>(
            self.as_me(|| args.clone()).await?,
        )?)
    }

    /// Seals `text` to every client the filter matches now (read with
    /// list_clients), each under the current sealing key of its verified
    /// log, and broadcasts it to exactly them. With `typed`
    /// (`name@version`), `text` is a typed body, checked first.
    pub async fn broadcast_sealed(
        &self,
        [tag, protocol, status]: [&str; 3],
        text: &str,
        typed: Option<&str>,
    ) -> Result<BroadcastResult> {
        if let Some(p) = typed {
            self.typed_content_type(p, text).await?;
        }
        let mut ids = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: ClientList = self
                .remote
                .call(|| ListClientsArgs {
                    cursor: cursor.clone(),
                    limit: None,
                    tag: (!tag.is_empty()).then(|| tag.to_owned()),
                    protocol: (!protocol.is_empty()).then(|| protocol.to_owned()),
                    status: (!status.is_empty()).then(|| status.to_owned()),
                })
                .await?;
            ids.extend(page.clients.into_iter().map(|c| c.client_id).filter(|c| *c != self.me));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if ids.is_empty() {
            bail!("no client but you matches that filter; nothing was sent");
        }
        let mut keys = Vec::with_capacity(ids.len());
        for id in &ids {
            let (state, _) = self.peer_log(id).await.map_err(|t| anyhow::anyhow!(t.text()))?;
            keys.push(state.current().sealing_key.clone());
        }
        let to: Vec<(&str, &SealingPublicKey)> = ids.iter().map(String::as_str).zip(keys.iter()).collect();
        let args = BroadcastArgs::seal_and_sign(self.signing(), &self.me, &to, text, typed).context("cannot seal")?;
        Ok(crate::connection::typed::<BroadcastArgs>(
            self.as_me(|| args.clone()).await?,
        )?)
    }

    /// Checks a broadcast against its sender's pinned log: shown when it
    /// verifies, as REJECTED when it does not, kept leased when the log
    /// could not be fetched.
    pub(super) async fn take_broadcast(&self, raw: &Value, out: &mut Received) {
        let b: BroadcastDelivered = match serde_json::from_value(raw.clone()) {
            Ok(b) => b,
            Err(e) => {
                return out.held.push(format!(
                    "a malformed broadcast from the server was skipped: {}",
                    escape_inline(&e.to_string(), 200)
                ))
            }
        };
        let verdict = match self.peer_log(&b.sender_id).await {
            Ok((state, at)) => {
                let log = SenderLog {
                    state: &state,
                    accepted_at: Some(&at),
                };
                check_broadcast(&b, &self.me, &log, &self.sealing(), self.rules, now_ms())
            }
            Err(LogTrouble::Transient(why)) => {
                return out.held.push(format!(
                    "broadcast {} kept for later: {}",
                    escape_inline(&b.message_id, 24),
                    escape_inline(&why, 300)
                ))
            }
            Err(trouble) => Err(trouble.text()),
        };
        let verdict = match verdict {
            Ok(opened) => self
                .typed_view(&b.content_type, &opened.text)
                .await
                .map(|t| (opened, t)),
            Err(why) => Err(why),
        };
        if verdict.is_ok() && self.seen_before(out, &b.sender_id, &b.nonce).await {
            return out.duplicates.push(b.message_id);
        }
        if verdict.is_ok() {
            out.accept(&b.message_id, &b.sender_id, &b.nonce, b.ts.parse().unwrap_or(0));
        }
        let ok = verdict.is_ok();
        let shown = |s: &str, n: usize| if ok { s.to_owned() } else { escape_inline(s, n) };
        let filter = [("tag", &b.tag), ("protocol", &b.protocol), ("status", &b.status)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k} {}", shown(v, 64)))
            .collect::<Vec<_>>()
            .join(", ");
        let (verdict, typed) = match verdict {
            Ok((opened, typed)) => (Ok(opened), typed),
            Err(why) => (Err(escape_inline(&why, 300)), None),
        };
        out.items.push(Item {
            message_id: shown(&b.message_id, 24),
            from: shown(&b.sender_id, 64),
            received_at: b.received_at.parse().unwrap_or(0),
            in_reply_to: shown(&b.in_reply_to, 24),
            verdict,
            event: None,
            room: None,
            event_data: None,
            broadcast: Some(if filter.is_empty() {
                "its sealed recipients".to_owned()
            } else {
                filter
            }),
            typed,
        });
    }
}
