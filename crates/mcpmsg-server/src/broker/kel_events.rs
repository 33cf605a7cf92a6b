//! Key events after registration: rotations (checked against the skew
//! window) and revocations (amendments A1, A2: accepted whatever their age,
//! with an optional whole log that stores a tombstone on a server that
//! forgot the identity).

use mcpmsg_core::protocol::kel::{self, Event, KelStatus};
use mcpmsg_core::protocol::{check_client_id, now_ms, parse_ts, ErrorCode};

use super::registry::{kel_refusal, new_record, KelUpdate};
use super::{ms, Broker, Refusal};

fn expect_kind(event: &Event, kind: &str) -> Result<(), Refusal> {
    if event.kind() != kind {
        return Err(Refusal::invalid(format!(
            "event: expected a {kind} event, found a {}",
            event.kind()
        )));
    }
    Ok(())
}

impl Broker {
    /// `rotate_key`: appends one rotation, checked against the skew window.
    /// A suspended identity (A1) recovers this way, with its next key.
    pub async fn rotate_key(&self, event: Event) -> Result<KelUpdate, Refusal> {
        expect_kind(&event, "rotation")?;
        let now = now_ms();
        let ts = parse_ts("event.ts", event.ts())?;
        let skew = ms(self.config.max_skew);
        if now.abs_diff(ts) > skew {
            return Err(Refusal::new(
                ErrorCode::StaleTimestamp,
                format!(
                    "event.ts is {} ms from the server's clock; at most {skew} ms is allowed",
                    now.abs_diff(ts)
                ),
            ));
        }
        self.append_events(&event, std::slice::from_ref(&event), now).await
    }

    /// `revoke_key` (A1, A2): a revocation only takes authority away, so it
    /// is accepted whatever its age. With `kel`, the whole log ending in
    /// this revocation, an identity the server does not know (an in-memory
    /// server restarted) is registered as a tombstone, so that a thief
    /// cannot re-register the old keys; for a known one, `kel` may carry
    /// the events the server missed. Sending a revocation the server
    /// already holds again is answered as accepted.
    pub async fn revoke_key(&self, event: Event, kel: Option<Vec<Event>>) -> Result<KelUpdate, Refusal> {
        expect_kind(&event, "revocation")?;
        parse_ts("event.ts", event.ts())?;
        let now = now_ms();
        let Some(log) = kel else {
            return self.append_events(&event, std::slice::from_ref(&event), now).await;
        };
        if log.last() != Some(&event) {
            return Err(Refusal::invalid(
                "kel: must be the whole key event log, ending with `event` exactly",
            ));
        }
        if log.len() > self.config.max_kel_events {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("kel: at most {} events (--max-kel-events)", self.config.max_kel_events),
            ));
        }
        let client_id = event.client_id().to_owned();
        check_client_id("event.client_id", &client_id)?;
        if self.store.identity(&client_id).await?.is_some() {
            return self.append_events(&event, &log, now).await;
        }
        self.check_enrolled_before_verifying(&client_id, &log)?;
        let state = kel::verify_log(&log).map_err(|e| kel_refusal(e.index, e.error))?;
        if state.client_id() != client_id {
            return Err(Refusal::invalid(format!(
                "kel: the log is for {}, not event.client_id {client_id}",
                state.client_id()
            )));
        }
        self.check_room_for_identity().await?;
        let record = new_record(log, now);
        if !self.store.put_identity(&client_id, 0, &record).await? {
            return Err(Refusal::new(
                ErrorCode::KelConflict,
                format!("{client_id} was registered meanwhile; send the revocation again"),
            ));
        }
        tracing::info!(
            client_id,
            status = state.status().as_str(),
            "revoked identity stored as a tombstone"
        );
        Ok(KelUpdate {
            client_id,
            kel_seq: state.seq(),
            kel_head: state.head().to_owned(),
            accepted_at: now,
        })
    }

    /// Appends the events of `log` past the stored log of `event`'s client
    /// (`log` is either just `event`, or a whole log ending in it).
    async fn append_events(&self, event: &Event, log: &[Event], now: u64) -> Result<KelUpdate, Refusal> {
        let client_id = event.client_id().to_owned();
        check_client_id("event.client_id", &client_id)?;
        let (stored, state) = self.known("event.client_id", &client_id).await?;
        let mut record = (*stored).clone();
        let expected = record.events.len();
        if matches!(event, Event::Revocation(_)) && record.events.last() == Some(event) {
            // The same revocation again (a client re-pushing it, A2): done.
            // A replayed rotation stays a `kel_conflict`.
            return Ok(KelUpdate {
                client_id,
                kel_seq: state.seq(),
                kel_head: state.head().to_owned(),
                accepted_at: record.accepted_at.last().copied().unwrap_or(now),
            });
        }
        // The log's length is bounded like a check-in's, but a revocation
        // is always taken: it only takes authority away.
        let max = self.config.max_kel_events;
        let grows_to = if log.len() == 1 { expected + 1 } else { log.len() };
        if grows_to > max && !matches!(event, Event::Revocation(_)) {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("the log of {client_id} holds its maximum of {max} events (--max-kel-events); revoke this identity and start a new one"),
            ));
        }
        let (new, added) = if log.len() == 1 {
            let new = state.apply(event).map_err(|e| kel_refusal(expected, e))?;
            record.events.push(event.clone());
            (new, 1)
        } else {
            let (new, added) = state
                .extend(&record.events, log)
                .map_err(|e| kel_refusal(e.index, e.error))?;
            record.events = log.to_vec();
            (new, added)
        };
        record.accepted_at.extend(std::iter::repeat_n(now, added));
        if !self.store.put_identity(&client_id, expected, &record).await? {
            return Err(Refusal::new(
                ErrorCode::KelConflict,
                format!("the log of {client_id} changed meanwhile; fetch it and build on its head"),
            ));
        }
        if matches!(new.status(), KelStatus::Revoked { .. }) {
            // An identity that ended speaks nothing any more: no broadcast
            // may match it (PROTOCOL §18e). Not fatal: the revocation stands.
            if let Err(e) = self.store.declare(&client_id, &Default::default()).await {
                tracing::warn!(%client_id, error = %e, "the declaration of a revoked identity was not cleared");
            }
        }
        Ok(KelUpdate {
            client_id,
            kel_seq: new.seq(),
            kel_head: new.head().to_owned(),
            accepted_at: now,
        })
    }
}
