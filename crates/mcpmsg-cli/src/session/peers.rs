//! The logs of pinned peers: fetched from the server, checked against
//! the pin, followed when they extend it, and pushed back when a server
//! forgot a peer whose revocation we saw (A2).

use super::*;

/// How long a fetched sender log is trusted before fetching it again.
/// 30 s unless `MCPMSG_PEER_LOG_TTL_SECS` says otherwise (0: fetch every
/// time, for those who want a peer's rotation or revocation seen at once).
fn log_ttl() -> Duration {
    static TTL: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TTL.get_or_init(|| {
        let secs = std::env::var("MCPMSG_PEER_LOG_TTL_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        Duration::from_secs(secs)
    })
}

/// A verified log of a pinned recipient, as fetched from the server.
pub(super) struct Fetched {
    events: Vec<Event>,
    state: KelState,
    accepted_at: Vec<u64>,
    at: Instant,
}

/// Why a sender's log could not be used.
pub(super) enum LogTrouble {
    /// Worth another try later (the server is unreachable, busy or limited):
    /// the message stays leased and comes back.
    Transient(String),
    /// A definite answer: the message is rejected with this reason.
    Definite(String),
}

impl LogTrouble {
    pub(super) fn from_remote(rid: &str, e: ServerError) -> Self {
        match e.code() {
            None if matches!(e, ServerError::BadAnswer(_)) => {
                Self::Definite(format!("the server sent no usable log for {rid}: {e}"))
            }
            None | Some("unavailable") | Some("rate_limited") => Self::Transient(e.to_string()),
            Some(_) => Self::Definite(format!("the server has no usable log for {rid}: {e}")),
        }
    }

    pub(super) fn text(self) -> String {
        match self {
            Self::Transient(s) | Self::Definite(s) => s,
        }
    }
}

impl Session {
    /// A pinned peer's verified log from the server, checked against our
    /// pin (no fork, no rollback); a log that extends the pin moves it. If
    /// the server does not know a peer whose revocation we hold (it
    /// restarted), we push that log back first (A2), so a thief cannot
    /// re-register the old keys.
    pub(super) async fn peer_log(&self, rid: &str) -> Result<(KelState, Vec<u64>), LogTrouble> {
        if let Some(f) = self.logs.lock().await.get(rid).filter(|f| f.at.elapsed() < log_ttl()) {
            return Ok((f.state.clone(), f.accepted_at.clone()));
        }
        let pin = self.pinned(rid).await.ok_or_else(|| {
            LogTrouble::Definite(format!(
                "{rid} is not pinned: check its fingerprint, then `mcpmsg recipients add {rid}`"
            ))
        })?;
        let fetch = || {
            self.remote.call(|| GetClientKeysArgs {
                client_id: rid.to_owned(),
            })
        };
        let got = match fetch().await {
            Err(e) if e.code() == Some("unknown_client") && self.push_held_revocation(rid).await => fetch().await,
            other => other,
        }
        .map_err(|e| LogTrouble::from_remote(rid, e))?;
        let bad = |why: String| LogTrouble::Definite(why);
        let events = got.kel;
        let accepted_at: Vec<u64> = got
            .accepted_at
            .iter()
            .map(|s| parse_decimal("accepted_at", s).ok())
            .collect::<Option<_>>()
            .ok_or_else(|| bad(format!("the server sent malformed acceptance times for {rid}")))?;
        if accepted_at.len() != events.len() {
            return Err(bad(format!(
                "the server sent {} acceptance times for the {} events of {rid}'s log",
                accepted_at.len(),
                events.len()
            )));
        }
        let seq = pin.kel_seq.parse().unwrap_or(0);
        let state = kel::check_pin(&events, seq, &pin.kel_head).map_err(|e| {
            bad(format!(
                "the log the server gives for {rid} does not match your pin ({e}): possible impersonation"
            ))
        })?;
        if state.fingerprint() != pin.fingerprint {
            return Err(bad(format!(
                "the log the server gives for {rid} has another fingerprint than your pin: possible impersonation"
            )));
        }
        if state.seq() > seq {
            self.repin(rid, &state).await;
        }
        self.logs.lock().await.insert(
            rid.to_owned(),
            Fetched {
                events,
                state: state.clone(),
                accepted_at: accepted_at.clone(),
                at: Instant::now(),
            },
        );
        Ok((state, accepted_at))
    }

    /// Pushes the log of `rid` we saw end in a revocation or suspension
    /// back to a server that forgot it (A2). True when the server took it.
    pub(super) async fn push_held_revocation(&self, rid: &str) -> bool {
        let held = match self.logs.lock().await.get(rid) {
            Some(f) if f.state.revoked().is_some() => f.events.clone(),
            _ => return false,
        };
        let Some(last) = held.last().cloned() else {
            return false;
        };
        let pushed = self
            .remote
            .call(|| RevokeKeyArgs {
                event: last.clone(),
                kel: Some(held.clone()),
            })
            .await;
        match pushed {
            Ok(_) => {
                tracing::warn!(
                    client_id = rid,
                    "the server had forgotten a revoked peer; its revocation was pushed back"
                );
                true
            }
            Err(e) => {
                tracing::warn!(client_id = rid, error = %e, "could not push a revoked peer's log back");
                false
            }
        }
    }

    /// Moves a pin forward to a verified extension of it.
    pub(super) async fn repin(&self, rid: &str, state: &KelState) {
        let mut id = self.id.lock().await;
        if let Some(r) = id.config.recipients.get_mut(rid) {
            r.kel_seq = state.seq().to_string();
            r.kel_head = state.head().to_owned();
            r.signing_key = state.current().signing_key.to_string();
            r.sealing_key = state.current().sealing_key.to_string();
            if let Err(e) = id.save_config() {
                tracing::warn!(error = %format!("{e:#}"), "could not save the moved pin");
            }
        }
    }
}
