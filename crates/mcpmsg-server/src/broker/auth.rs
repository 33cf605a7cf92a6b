//! Signed requests, PROTOCOL §4, checked in the protocol's order: the key,
//! the time, the nonce, then the signature. Every signed tool goes through
//! [`Broker::authenticate`]; sends may first try the fast path
//! ([`Broker::fast_path_head`]), whose reasoning is written once, there.

use futures_util::FutureExt;

use crate::store::{NonceRecord, StoredMessage};
use mcpmsg_core::protocol::kel::KelState;
use mcpmsg_core::protocol::{check_nonce, decode_sig, parse_ts, ErrorCode, SignedArgs};

use super::{ms, Broker, Refusal};

/// A signed request as authentication sees it: who acts, the four
/// authentication members, and the exact bytes that were signed.
pub(crate) struct SignedCall<'a> {
    /// The argument naming the actor (`client_id`, or `sender_id` for sends).
    actor_field: &'static str,
    /// The acting client.
    pub client_id: &'a str,
    key_id: &'a str,
    ts: &'a str,
    /// b64 of 16 bytes.
    pub nonce: &'a str,
    sig: &'a str,
    input: Vec<u8>,
    /// Server time the request is judged at.
    pub now: u64,
}

impl<'a> SignedCall<'a> {
    /// A send, judged from the message it will queue, whose `input` was
    /// computed before the arguments moved into it: the body is not copied
    /// on the hot path for this.
    pub(crate) fn of_send(msg: &'a StoredMessage, input: Vec<u8>, now: u64) -> Self {
        Self {
            actor_field: "sender_id",
            client_id: &msg.sender_id,
            key_id: &msg.key_id,
            ts: &msg.ts,
            nonce: &msg.nonce,
            sig: &msg.sig,
            input,
            now,
        }
    }

    /// `args` received at `now`.
    pub(crate) fn of<A: SignedArgs>(args: &'a A, now: u64) -> Self {
        let [key_id, ts, nonce, sig] = args.auth();
        Self {
            actor_field: args.actor_field(),
            client_id: args.actor(),
            key_id,
            ts,
            nonce,
            sig,
            input: args.sign_input(),
            now,
        }
    }
}

/// The log a request is checked against.
#[derive(Clone, Copy)]
pub(crate) enum Against<'a> {
    /// The actor's stored log (every request but a check-in).
    Stored,
    /// A log given with the request and verified already (a check-in that
    /// registers or extends the identity); the store's copy is written
    /// conditionally afterwards.
    Log(&'a KelState),
}

/// How a nonce that was used before is judged.
#[derive(Clone, Copy)]
pub(crate) enum Freshness<'a> {
    /// Every request but a send: a used nonce is a `replay`.
    Once,
    /// A send of this message id: the same send retried goes on (the store
    /// answers it with its original result); any other use is a `replay`.
    SendOf(&'a str),
}

/// What the nonce and stored-head check found, before judging.
enum Checked {
    /// Authenticated.
    Done,
    /// The actor's stored head is not the one the request was checked
    /// against (a cache behind the store): check against a fresh read.
    LogMoved,
}

/// The client's log moved on again between a fresh read and the store's
/// check: a race with a rotation, for the client to retry.
pub(crate) fn log_changed(client_id: &str) -> Refusal {
    Refusal::new(
        ErrorCode::Unavailable,
        format!("the key event log of {client_id} changed during this request; send it again"),
    )
}

pub(crate) fn is_kid(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn replay(call: &SignedCall<'_>) -> Refusal {
    Refusal::new(
        ErrorCode::Replay,
        format!(
            "nonce {} was already used by {}; use a fresh nonce for every request",
            call.nonce, call.client_id
        ),
    )
}

impl Broker {
    /// Authenticates a signed request (PROTOCOL §4, steps 1 to 4).
    ///
    /// Against the stored log, the identity is read from the store's cache
    /// first; a cache that is behind (its head is checked against the stored
    /// log's with the nonce, in the same round trip) or a signature refused
    /// with cached keys is checked once more against a fresh read, so a
    /// rotation or revocation through another node takes effect at once and
    /// a new key is never refused for being new. A refusal decided from
    /// cached keys alone (`revoked`, `key_superseded`) stands: logs only
    /// grow, so what they prove stays true.
    ///
    /// The nonce is only read here; [`Broker::claim`] (or the store's send
    /// step) records it once the request is also within its rate.
    pub(crate) async fn authenticate(
        &self,
        call: &SignedCall<'_>,
        against: Against<'_>,
        freshness: Freshness<'_>,
    ) -> Result<(), Refusal> {
        if let Against::Log(state) = against {
            return match self.check(call, state, None, freshness).await? {
                Checked::Done => Ok(()),
                Checked::LogMoved => unreachable!("no stored head is compared against a given log"),
            };
        }
        let state = self.known_cached(call.actor_field, call.client_id).await?;
        match self.check(call, &state, Some(state.head()), freshness).await {
            Ok(Checked::LogMoved) => {}
            Err(r) if r.code == ErrorCode::BadSignature => {}
            Ok(Checked::Done) => return Ok(()),
            Err(r) => return Err(r),
        }
        let (_, state) = self.known(call.actor_field, call.client_id).await?;
        match self.check(call, &state, Some(state.head()), freshness).await? {
            Checked::LogMoved => Err(log_changed(call.client_id)),
            Checked::Done => Ok(()),
        }
    }

    /// The fast path of a send. When the sender's cached log names the
    /// request's key as current, the time is right and the signature
    /// verifies, the answer is that log's head: the store then checks that
    /// head and the nonce in the same step that queues (one round trip on a
    /// shared store, where the full path needs two). `None` sends the
    /// request down the full path ([`Broker::authenticate`]), as does a
    /// head the store finds moved on: the refusals and their order are the
    /// same either way, because the full path re-judges from scratch.
    pub(crate) async fn fast_path_head(&self, call: &SignedCall<'_>) -> Option<String> {
        let state = self.known_cached(call.actor_field, call.client_id).await.ok()?;
        let sig = self.key_and_time(call, &state).ok()?;
        state.current().signing_key.verify(&call.input, &sig).ok()?;
        Some(state.head().to_owned())
    }

    /// A signed request that is not a send, start to finish: authenticated
    /// against `against`, admitted (its rate, and a heartbeat), then its
    /// nonce claimed, in that order (a request refused for its rate keeps
    /// its nonce, so the same request can be retried). Returns the time it
    /// was judged at.
    pub(crate) async fn accept_request<A: SignedArgs>(
        &self,
        req: &A,
        against: Against<'_>,
        now: u64,
    ) -> Result<u64, Refusal> {
        let call = SignedCall::of(req, now);
        self.authenticate(&call, against, Freshness::Once).await?;
        self.admit(call.client_id, call.now).await?;
        self.claim(&call).await?;
        Ok(call.now)
    }

    /// Records a request's nonce as used (every request but a send, whose
    /// nonce the store records in the step that queues).
    pub(crate) async fn claim(&self, call: &SignedCall<'_>) -> Result<(), Refusal> {
        let until = call.now.saturating_add(2 * ms(self.config.max_skew));
        let fresh = self
            .store
            .claim_nonce(call.client_id, call.nonce, NonceRecord::Request, until, call.now)
            .await?;
        if fresh {
            Ok(())
        } else {
            Err(replay(call))
        }
    }

    /// Steps 1 to 4 against `state`. With `head`, a stored head that differs
    /// is [`Checked::LogMoved`] rather than a verdict.
    async fn check(
        &self,
        call: &SignedCall<'_>,
        state: &KelState,
        head: Option<&str>,
        freshness: Freshness<'_>,
    ) -> Result<Checked, Refusal> {
        let sig = self.key_and_time(call, state)?;
        let current = &state.current().signing_key;
        // 3. The nonce, and 4. the signature. The nonce's record and the
        // stored log's head come from the store in one step; the signature
        // is checked while that read is in flight, on this core, so a shared
        // store's round trip and the check overlap. The results are judged
        // in the protocol's order all the same.
        let (stored, verified) = futures_util::future::join(
            self.store.precheck(call.client_id, call.nonce, call.now),
            std::future::ready(()).map(|()| current.verify(&call.input, &sig)),
        )
        .await;
        let (seen, stored_head) = stored?;
        if head.is_some() && stored_head.as_deref() != head {
            return Ok(Checked::LogMoved);
        }
        match (seen, freshness) {
            (None, _) => {}
            (Some(NonceRecord::Send { message_id, .. }), Freshness::SendOf(id)) if message_id == id => {}
            (Some(_), _) => return Err(replay(call)),
        }
        verified.map_err(|_| {
            Refusal::new(
                ErrorCode::BadSignature,
                format!(
                    "signature does not verify for key {} of {}",
                    call.key_id, call.client_id
                ),
            )
        })?;
        Ok(Checked::Done)
    }

    /// The request's formats, then steps 1 (the key) and 2 (the time) of
    /// PROTOCOL §4 against `state`: no store access. Returns the signature.
    fn key_and_time(&self, call: &SignedCall<'_>, state: &KelState) -> Result<[u8; 64], Refusal> {
        if !is_kid(call.key_id) {
            return Err(Refusal::invalid(
                "key_id: 32 lowercase hex characters, the kid of your current signing key",
            ));
        }
        let ts = parse_ts("ts", call.ts)?;
        check_nonce("nonce", call.nonce)?;
        let sig = decode_sig("sig", call.sig)?;
        // 1. The key.
        self.check_key(call, state)?;
        // 2. The time.
        let skew = ms(self.config.max_skew);
        let off = call.now.abs_diff(ts);
        if off > skew {
            return Err(Refusal::new(
                ErrorCode::StaleTimestamp,
                format!(
                    "ts {} is {off} ms from the server's clock {}; at most {skew} ms is allowed (check the client's clock)",
                    call.ts, call.now
                ),
            ));
        }
        Ok(sig)
    }

    /// Step 1: the identity may act, is still enrolled, and `key_id` names
    /// its current signing key.
    fn check_key(&self, call: &SignedCall<'_>, state: &KelState) -> Result<(), Refusal> {
        if let Some((seq, reason)) = state.revoked() {
            return Err(Refusal::new(
                ErrorCode::Revoked,
                format!(
                    "client {} was revoked at seq {seq} ({})",
                    call.client_id,
                    reason.as_str()
                ),
            ));
        }
        // Closed enrollment holds for every request, not only registration:
        // an identity the operator removed from the keys file stops here.
        if let Some(enrollment) = &self.enrollment {
            if enrollment.key_of(call.client_id).as_deref() != Some(state.inception_key().as_str()) {
                return Err(Refusal::new(
                    ErrorCode::NotEnrolled,
                    format!(
                        "{} is no longer in the server's keys file; ask the operator",
                        call.client_id
                    ),
                ));
            }
        }
        let current = &state.current().signing_key;
        if current.kid() == call.key_id {
            return Ok(());
        }
        let superseded = state.history().iter().any(|k| k.signing_key.kid() == call.key_id);
        Err(if superseded {
            Refusal::new(
                ErrorCode::KeySuperseded,
                format!(
                    "key_id {} of {} was replaced by a rotation; sign with the current key (kid {})",
                    call.key_id,
                    call.client_id,
                    current.kid()
                ),
            )
        } else {
            Refusal::new(
                ErrorCode::BadSignature,
                format!("key_id {} is not a key of {}", call.key_id, call.client_id),
            )
        })
    }
}
