//! Sending, receiving, acknowledging and waiting (PROTOCOL §5).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::{NonceRecord, QueueLimits, SendOutcome, SendStep, StoredMessage, TakeMode};
use mcpmsg_core::crypto::b64;
use mcpmsg_core::crypto::seal::{ENC_LEN, TAG_LEN};
use mcpmsg_core::protocol::sealed::sealed_kid;
use mcpmsg_core::protocol::server_statement::Acceptance;
use mcpmsg_core::protocol::tools::{AckMessagesArgs, GetMessagesArgs};
use mcpmsg_core::protocol::{
    check_client_id, check_message_id, now_ms, parse_decimal, ErrorCode, SendMessage, SignedArgs,
};

use super::auth::{log_changed, Against, Freshness, SignedCall};
use super::{ms, Broker, Refusal};

const MAX_BATCH: u64 = 1000;
const MAX_CONTENT_TYPE: usize = 200;

/// Result of `send_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// The message id.
    pub message_id: String,
    /// True when this was a retry of an accepted send.
    pub duplicate: bool,
    /// Server time of acceptance.
    pub received_at: u64,
    /// Expiry.
    pub expires_at: u64,
    /// The same, signed with the server key.
    pub acceptance: Acceptance,
}

/// Result of `send_message_and_wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    /// The send's result.
    pub sent: SendResult,
    /// The reply, or `None` on timeout.
    pub reply: Option<StoredMessage>,
}

/// Result of `ack_messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckResult {
    /// Ids removed.
    pub acked: Vec<String>,
    /// Ids not in the queue (already acked, expired, or never there).
    pub unknown: Vec<String>,
}

/// How a recipient's identity is read.
#[derive(Clone, Copy)]
enum Read {
    /// From the store's cache of recent records (up to its lifetime behind).
    Recent,
    /// From the store itself.
    Fresh,
}

fn replay(msg: &StoredMessage) -> Refusal {
    Refusal::new(
        ErrorCode::Replay,
        format!(
            "nonce {} was already used by {} for another request",
            msg.nonce, msg.sender_id
        ),
    )
}

/// A content type of at most [`MAX_CONTENT_TYPE`] characters, none a
/// control character.
pub(super) fn check_content_type(content_type: &str) -> Result<(), Refusal> {
    if content_type.len() > MAX_CONTENT_TYPE || content_type.chars().any(char::is_control) {
        return Err(Refusal::invalid(format!(
            "content_type: a MIME type of at most {MAX_CONTENT_TYPE} printable characters"
        )));
    }
    Ok(())
}

impl Broker {
    fn check_send(&self, send: &SendMessage) -> Result<(), Refusal> {
        check_client_id("sender_id", &send.sender_id)?;
        check_client_id("recipient_id", &send.recipient_id)?;
        check_content_type(send.content_type.as_deref().unwrap_or(""))?;
        if let Some(id) = send.in_reply_to.as_deref().filter(|s| !s.is_empty()) {
            check_message_id("in_reply_to", id)?;
        }
        let max = self.config.max_message_bytes;
        let (limit, what) = match send.sealed_kid() {
            Some(_) => (
                b64::encoded_len(ENC_LEN + max + TAG_LEN),
                "sealed message (of its plaintext)",
            ),
            None => (max, "message"),
        };
        if send.message.len() > limit {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("{what} is over the limit of {max} bytes"),
            ));
        }
        Ok(())
    }

    /// `send_message`: checks, authenticates and queues one message.
    pub async fn send(&self, send: SendMessage) -> Result<SendResult, Refusal> {
        self.check_send(&send)?;
        let input = send.sign_input();
        let msg = self.stored(send, now_ms())?;
        let call = SignedCall::of_send(&msg, input, msg.received_at);
        let retry_of = Freshness::SendOf(&msg.message_id);
        let head = self.fast_path_head(&call).await;
        if head.is_none() {
            self.authenticate(&call, Against::Stored, retry_of).await?;
        }
        self.check_typed(&msg.content_type, &msg.message).await?;
        self.check_recipient(&msg.recipient_id, sealed_kid(&msg.content_type))
            .await?;
        self.admit(&msg.sender_id, call.now).await?;
        let mut step = SendStep {
            message: &msg,
            nonce_until: call.now.saturating_add(2 * ms(self.config.max_skew)),
            limits: self.queue_limits(),
            now: call.now,
            sender_head: head.as_deref(),
        };
        let mut outcome = self.store.send(step).await?;
        if outcome == SendOutcome::Stale {
            // The fast path's head moved on: the full path judges again.
            self.authenticate(&call, Against::Stored, retry_of).await?;
            step.sender_head = None;
            outcome = self.store.send(step).await?;
        }
        if outcome == SendOutcome::Queued {
            self.waiters.notify(&msg.recipient_id);
        }
        self.send_result(outcome, &msg)
    }

    /// The message as it will be queued: received now, expiring after the
    /// message lifetime.
    fn stored(&self, send: SendMessage, now: u64) -> Result<StoredMessage, Refusal> {
        Ok(StoredMessage {
            message_id: send.message_id()?,
            content_type: send.content_type.unwrap_or_default(),
            in_reply_to: send.in_reply_to.unwrap_or_default(),
            sender_id: send.sender_id,
            recipient_id: send.recipient_id,
            message: send.message,
            key_id: send.key_id,
            ts: send.ts,
            nonce: send.nonce,
            sig: send.sig,
            received_at: now,
            expires_at: now.saturating_add(ms(self.config.message_ttl)),
        })
    }

    pub(super) fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_queue: self.config.max_queue,
            max_per_sender: self.config.max_queue_per_sender,
            max_bytes: self.config.max_queued_bytes,
        }
    }

    /// A send's result with the server's signed acceptance: for a retry,
    /// the original acceptance's facts (Ed25519 is deterministic, so it is
    /// the very same statement).
    fn accepted(
        &self,
        msg: &StoredMessage,
        message_id: String,
        duplicate: bool,
        received_at: u64,
        expires_at: u64,
    ) -> SendResult {
        let acceptance = Acceptance::sign(
            &self.server_key,
            &message_id,
            &msg.sender_id,
            &msg.recipient_id,
            received_at,
            expires_at,
        );
        SendResult {
            message_id,
            duplicate,
            received_at,
            expires_at,
            acceptance,
        }
    }

    /// What the store's answer means for the sender.
    fn send_result(&self, outcome: SendOutcome, msg: &StoredMessage) -> Result<SendResult, Refusal> {
        let recipient = &msg.recipient_id;
        match outcome {
            SendOutcome::Queued => Ok(self.accepted(msg, msg.message_id.clone(), false, msg.received_at, msg.expires_at)),
            // The same send retried: its original result. Another request's
            // nonce: a replay.
            SendOutcome::NonceUsed(NonceRecord::Send {
                message_id,
                received_at,
                expires_at,
            }) if message_id == msg.message_id => Ok(self.accepted(msg, message_id, true, received_at, expires_at)),
            SendOutcome::NonceUsed(_) => Err(replay(msg)),
            SendOutcome::QueueFull => Err(Refusal::new(
                ErrorCode::QueueFull,
                format!(
                    "the queue of {recipient} holds its maximum of {} messages; retry later",
                    self.config.max_queue
                ),
            )),
            SendOutcome::SenderShareFull => Err(Refusal::new(
                ErrorCode::QueueFull,
                format!(
                    "{} already has {} messages queued for {recipient}, its share of that queue (--max-queue-per-sender); retry when some are read",
                    msg.sender_id, self.config.max_queue_per_sender
                ),
            )),
            SendOutcome::StoreFull => Err(Refusal::new(
                ErrorCode::QueueFull,
                format!(
                    "the server holds its maximum of {} bytes of queued messages (--max-queued-bytes); retry later",
                    self.config.max_queued_bytes
                ),
            )),
            SendOutcome::Stale => Err(log_changed(&msg.sender_id)),
            SendOutcome::Blocked => Err(super::blocks::blocked(&msg.sender_id, recipient)),
        }
    }

    /// Where a message may go, from the recipient's cached record; a
    /// sealing kid the cache does not know is checked once more against a
    /// fresh read (the recipient may have just rotated through another
    /// node). A stale cache can only let a send reach an identity revoked a
    /// moment ago, which can read nothing.
    async fn check_recipient(&self, recipient_id: &str, sealed_kid: Option<&str>) -> Result<(), Refusal> {
        match self.check_recipient_in(recipient_id, sealed_kid, Read::Recent).await {
            Err(r) if r.code == ErrorCode::InvalidArgument && sealed_kid.is_some() => {
                self.check_recipient_in(recipient_id, sealed_kid, Read::Fresh).await
            }
            done => done,
        }
    }

    async fn check_recipient_in(
        &self,
        recipient_id: &str,
        sealed_kid: Option<&str>,
        read: Read,
    ) -> Result<(), Refusal> {
        let record = match read {
            Read::Fresh => self.store.identity(recipient_id).await?,
            Read::Recent => self.store.recent_identity(recipient_id).await?,
        };
        let Some(record) = record else {
            if self.config.allow_unknown_recipients && sealed_kid.is_none() {
                return Ok(());
            }
            return Err(Refusal::new(
                ErrorCode::UnknownRecipient,
                format!(
                    "recipient_id {} never checked in; check the id (list_clients shows who is registered)",
                    recipient_id
                ),
            ));
        };
        let state = self.state_of(recipient_id, &record)?;
        if let Some((seq, _)) = state.revoked() {
            return Err(Refusal::new(
                ErrorCode::Revoked,
                format!(
                    "recipient {} was revoked at seq {seq} and can receive nothing",
                    recipient_id
                ),
            ));
        }
        if let Some(kid) = sealed_kid {
            if !state.history().iter().any(|k| k.sealing_key.kid() == kid) {
                return Err(Refusal::invalid(format!(
                    "content_type: kid {kid} is not a sealing key of {}; fetch its log with get_client_keys (current sealing kid {})",
                    recipient_id,
                    state.current().sealing_key.kid()
                )));
            }
        }
        Ok(())
    }

    /// `send_message_and_wait`: sends, then waits up to `timeout_s` for the
    /// first message from the recipient in the sender's queue, preferring a
    /// reply to the sent message.
    pub async fn send_and_wait(&self, send: SendMessage, timeout_s: Option<u64>) -> Result<WaitResult, Refusal> {
        let max = self.config.max_wait.as_secs();
        let timeout = timeout_s.unwrap_or(45.min(max));
        if timeout > max {
            return Err(Refusal::invalid(format!("timeout_s: at most {max} seconds")));
        }
        let (me, them) = (send.sender_id.clone(), send.recipient_id.clone());
        let sent = self.send(send).await?;
        if sent.duplicate {
            // A4: only the first acceptance of a send authorises its wait. A
            // replay of it (same nonce and signature, by anyone who saw it)
            // must not take the reply out of the sender's queue.
            return Ok(WaitResult { sent, reply: None });
        }
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let reply = self
            .wait_for(&me, deadline, || async {
                self.store
                    .take_reply(&me, &them, &sent.message_id, now_ms())
                    .await
                    .map_err(Refusal::from)
            })
            .await?;
        Ok(WaitResult { sent, reply })
    }

    /// `get_messages`: returns (and removes or leases) queued messages,
    /// waiting up to `wait_s` for the first.
    pub async fn get_messages(&self, req: GetMessagesArgs) -> Result<Vec<StoredMessage>, Refusal> {
        check_client_id("client_id", &req.client_id)?;
        let max = match req.max.as_deref() {
            None => 100,
            Some(s) => parse_decimal("max", s)
                .ok()
                .filter(|n| (1..=MAX_BATCH).contains(n))
                .ok_or_else(|| Refusal::invalid(format!("max: a decimal string from \"1\" to \"{MAX_BATCH}\"")))?,
        };
        let longest = self.config.max_wait.as_secs();
        let wait = match req.wait_s.as_deref() {
            None => 0,
            Some(s) => parse_decimal("wait_s", s)
                .ok()
                .filter(|n| *n <= longest)
                .ok_or_else(|| Refusal::invalid(format!("wait_s: a decimal string from \"0\" to \"{longest}\"")))?,
        };
        let manual = match req.ack.as_deref() {
            None | Some("auto") => false,
            Some("manual") => true,
            Some(_) => return Err(Refusal::invalid("ack: \"auto\" or \"manual\"")),
        };
        self.accept_request(&req, Against::Stored, now_ms()).await?;

        let lease = ms(self.config.lease);
        let take = || async {
            let now = now_ms();
            let mode = if manual {
                TakeMode::LeaseUntil(now.saturating_add(lease))
            } else {
                TakeMode::Remove
            };
            let got = self.store.take(&req.client_id, max as usize, mode, now).await?;
            Ok((!got.is_empty()).then_some(got))
        };
        if wait == 0 {
            return Ok(take().await?.unwrap_or_default());
        }
        let deadline = Instant::now() + Duration::from_secs(wait);
        Ok(self.wait_for(&req.client_id, deadline, take).await?.unwrap_or_default())
    }

    /// `ack_messages`: removes leased messages from the caller's queue.
    pub async fn ack(&self, req: AckMessagesArgs) -> Result<AckResult, Refusal> {
        check_client_id("client_id", &req.client_id)?;
        let ids: Vec<String> = req.message_ids.split(',').map(str::to_owned).collect();
        if ids.len() > MAX_BATCH as usize {
            return Err(Refusal::invalid(format!("message_ids: at most {MAX_BATCH} ids")));
        }
        for id in &ids {
            check_message_id("message_ids", id).map_err(|_| {
                Refusal::invalid("message_ids: comma-separated message ids (base64url of 16 bytes each), no spaces")
            })?;
        }
        let now = self.accept_request(&req, Against::Stored, now_ms()).await?;
        let (acked, unknown) = self.store.ack(&req.client_id, &ids, now).await?;
        Ok(AckResult { acked, unknown })
    }

    /// Runs `attempt` until it yields something, the deadline passes, or the
    /// server shuts down; sleeps between attempts until a message for
    /// `recipient` lands or a lease in its queue ends.
    async fn wait_for<T, F, Fut>(&self, recipient: &str, deadline: Instant, attempt: F) -> Result<Option<T>, Refusal>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, Refusal>>,
    {
        let guard = self.waiters.register(recipient)?;
        loop {
            let notified = guard.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = attempt().await? {
                return Ok(Some(found));
            }
            let now = Instant::now();
            if now >= deadline || self.shutdown.is_cancelled() {
                return Ok(None);
            }
            let wall = now_ms();
            let mut wake = match self.store.next_lease_expiry(recipient, wall).await? {
                Some(at) => deadline.min(now + Duration::from_millis(at.saturating_sub(wall) + 1)),
                None => deadline,
            };
            // A shared store may miss a doorbell (while it reconnects): re-check now and then.
            if let Some(every) = self.store.recheck_interval() {
                wake = wake.min(now + every);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake) => {}
                _ = self.shutdown.cancelled() => return Ok(None),
            }
        }
    }
}
