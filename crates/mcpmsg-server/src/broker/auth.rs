//! Signed requests, PROTOCOL §4, checked in the protocol's order: the key,
//! the time, the nonce, then the signature.

use futures_util::FutureExt;

use crate::store::NonceRecord;
use mcpmsg_core::protocol::kel::KelState;
use mcpmsg_core::protocol::{check_nonce, decode_sig, parse_ts, ErrorCode};

use super::{ms, Broker, Refusal};

/// The fields every signed request carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    /// The acting client (`client_id`, or `sender_id` for sends).
    pub client_id: &'a str,
    /// Kid of the signing key.
    pub key_id: &'a str,
    /// Unix ms.
    pub ts: &'a str,
    /// b64 of 16 bytes.
    pub nonce: &'a str,
    /// b64 of 64 bytes.
    pub sig: &'a str,
}

/// What authentication found out about the nonce.
pub(crate) enum Nonce {
    /// Not used within the window.
    Fresh,
    /// Used before, by a send with this record.
    Seen(NonceRecord),
    /// The client's log moved on (its stored head is not the one the
    /// request was checked against): check again against a fresh read.
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

impl Broker {
    /// The request's formats, then steps 1 (the key) and 2 (the time) of
    /// PROTOCOL §4 against `state`: no store access. Returns the signature.
    fn key_and_time(&self, req: Signed<'_>, state: &KelState, now: u64) -> Result<[u8; 64], Refusal> {
        if !is_kid(req.key_id) {
            return Err(Refusal::invalid(
                "key_id: 32 lowercase hex characters, the kid of your current signing key",
            ));
        }
        let ts = parse_ts("ts", req.ts)?;
        check_nonce("nonce", req.nonce)?;
        let sig = decode_sig("sig", req.sig)?;

        // 1. The key.
        if let Some((seq, reason)) = state.revoked() {
            return Err(Refusal::new(
                ErrorCode::Revoked,
                format!(
                    "client {} was revoked at seq {seq} ({})",
                    req.client_id,
                    reason.as_str()
                ),
            ));
        }
        // Closed enrollment holds for every request, not only registration:
        // an identity the operator removed from the keys file stops here.
        if let Some(enrollment) = &self.enrollment {
            if enrollment.key_of(req.client_id).as_deref() != Some(state.inception_key().as_str()) {
                return Err(Refusal::new(
                    ErrorCode::NotEnrolled,
                    format!(
                        "{} is no longer in the server's keys file; ask the operator",
                        req.client_id
                    ),
                ));
            }
        }
        let current = &state.current().signing_key;
        if current.kid() != req.key_id {
            return Err(
                match state.history().iter().find(|k| k.signing_key.kid() == req.key_id) {
                    Some(_) => Refusal::new(
                        ErrorCode::KeySuperseded,
                        format!(
                            "key_id {} of {} was replaced by a rotation; sign with the current key (kid {})",
                            req.key_id,
                            req.client_id,
                            current.kid()
                        ),
                    ),
                    None => Refusal::new(
                        ErrorCode::BadSignature,
                        format!("key_id {} is not a key of {}", req.key_id, req.client_id),
                    ),
                },
            );
        }
        // 2. The time.
        let skew = ms(self.config.max_skew);
        if now.abs_diff(ts) > skew {
            return Err(Refusal::new(
                ErrorCode::StaleTimestamp,
                format!("ts {} is {} ms from the server's clock {now}; at most {skew} ms is allowed (check the client's clock)", req.ts, now.abs_diff(ts)),
            ));
        }
        Ok(sig)
    }

    /// The fast path of a send: when the client's cached log names the
    /// request's key as current, the time is right and the signature
    /// verifies, the head of that log, for the store to check in the step
    /// that queues. `None` sends the request down the full path.
    pub(crate) async fn verified_by_cached(&self, req: Signed<'_>, input: &[u8], now: u64) -> Option<String> {
        let state = self.known_cached("sender_id", req.client_id).await.ok()?;
        let sig = self.key_and_time(req, &state, now).ok()?;
        state.current().signing_key.verify(input, &sig).ok()?;
        Some(state.head().to_owned())
    }

    /// Steps 1-4 of PROTOCOL §4 against `state`, the client's verified log.
    /// A seen nonce is a `replay` unless `idempotent` (sends), when it is
    /// returned after the signature is checked so the caller can answer a
    /// retried send with its original result.
    pub(crate) async fn authenticate(
        &self,
        req: Signed<'_>,
        input: &[u8],
        state: &KelState,
        now: u64,
        idempotent: bool,
        head: Option<&str>,
    ) -> Result<Nonce, Refusal> {
        let sig = self.key_and_time(req, state, now)?;
        let current = &state.current().signing_key;
        // 3. The nonce, and 4. the signature. The nonce's record and the
        // stored log's head come from the store in one step (a `state` from
        // a cache that is behind the store is caught here); the signature is
        // checked while that read is in flight, on this core, so a shared
        // store's round trip and the check overlap. The results are judged
        // in the protocol's order all the same.
        let (stored, verified) = futures_util::future::join(
            self.store.precheck(req.client_id, req.nonce, now),
            std::future::ready(()).map(|()| current.verify(input, &sig)),
        )
        .await;
        let (seen, stored_head) = stored?;
        if head.is_some() && stored_head.as_deref() != head {
            return Ok(Nonce::LogMoved);
        }
        let replay = || {
            Refusal::new(
                ErrorCode::Replay,
                format!(
                    "nonce {} was already used by {}; use a fresh nonce for every request",
                    req.nonce, req.client_id
                ),
            )
        };
        let nonce = match seen {
            None => Nonce::Fresh,
            Some(record @ NonceRecord::Send { .. }) if idempotent => Nonce::Seen(record),
            Some(_) => return Err(replay()),
        };
        verified.map_err(|_| {
            Refusal::new(
                ErrorCode::BadSignature,
                format!("signature does not verify for key {} of {}", req.key_id, req.client_id),
            )
        })?;
        Ok(nonce)
    }

    /// Authenticates the acting client of a signed request. Its identity is
    /// read from the store's cache first; a cache that is behind (its head is
    /// checked against the stored log's with the nonce, in the same round
    /// trip) or a signature refused with cached keys is checked once more
    /// against a fresh read, so a rotation or revocation through another
    /// node takes effect at once and a new key is never refused for being
    /// new. A refusal decided from cached keys alone (`revoked`,
    /// `key_superseded`) stands: logs only grow, so what they prove stays
    /// true.
    pub(crate) async fn acting(
        &self,
        field: &str,
        req: Signed<'_>,
        input: &[u8],
        now: u64,
        idempotent: bool,
    ) -> Result<Nonce, Refusal> {
        let state = self.known_cached(field, req.client_id).await?;
        match self
            .authenticate(req, input, &state, now, idempotent, Some(state.head()))
            .await
        {
            Ok(Nonce::LogMoved) => {}
            Err(r) if r.code == ErrorCode::BadSignature => {}
            done => return done,
        }
        let (_, state) = self.known(field, req.client_id).await?;
        match self
            .authenticate(req, input, &state, now, idempotent, Some(state.head()))
            .await?
        {
            Nonce::LogMoved => Err(log_changed(req.client_id)),
            done => Ok(done),
        }
    }

    /// Claims a fresh nonce for a request that is not a send.
    pub(crate) async fn claim(&self, req: Signed<'_>, now: u64) -> Result<(), Refusal> {
        let until = now.saturating_add(2 * ms(self.config.max_skew));
        if self
            .store
            .claim_nonce(req.client_id, req.nonce, NonceRecord::Request, until, now)
            .await?
        {
            Ok(())
        } else {
            Err(Refusal::new(
                ErrorCode::Replay,
                format!("nonce {} was already used by {}", req.nonce, req.client_id),
            ))
        }
    }
}
