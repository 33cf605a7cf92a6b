//! Identities: registration at check-in (with closed enrollment), rotation
//! and revocation events, and the public key directory.
//!
//! The store holds each identity's log; verifying a log costs one signature
//! check per event, so the broker keeps the verified state of recent logs
//! in a bounded cache keyed by client_id and checked against the log's head.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::store::IdentityRecord;
use mcpmsg_core::protocol::broadcast::Filter;
use mcpmsg_core::protocol::kel::{self, Event, KelError, KelState, KelStatus};
use mcpmsg_core::protocol::tools::{CheckinClientArgs, PresenceStatus};
use mcpmsg_core::protocol::{check_client_id, now_ms, ErrorCode};

use super::auth::Against;
use super::{Broker, Refusal};

/// Longest check-in `name`, in characters.
pub const MAX_NAME: usize = 64;
/// Longest check-in `capabilities`, in characters.
pub const MAX_CAPABILITIES: usize = 512;

/// Result of `checkin_client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinResult {
    /// The identity.
    pub client_id: String,
    /// True when this call created the identity.
    pub registered: bool,
    /// Seq of the stored head.
    pub kel_seq: u64,
    /// Hash of the stored head.
    pub kel_head: String,
}

/// Result of `rotate_key` and `revoke_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KelUpdate {
    /// The identity.
    pub client_id: String,
    /// Seq of the new head.
    pub kel_seq: u64,
    /// Hash of the new head.
    pub kel_head: String,
    /// Server time the event took effect.
    pub accepted_at: u64,
}

/// Result of `get_client_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeys {
    /// The identity.
    pub client_id: String,
    /// Its log.
    pub kel: Vec<Event>,
    /// Acceptance time of each event.
    pub accepted_at: Vec<u64>,
    /// Active, suspended or revoked (A1).
    pub status: KelStatus,
}

/// One entry of `list_clients`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The identity.
    pub client_id: String,
    /// From the last check-in.
    pub name: String,
    /// From the last check-in.
    pub capabilities: String,
    /// Kid of the current signing key.
    pub signing_kid: String,
    /// Last check-in, Unix ms.
    pub last_checkin: u64,
    /// Suspended and revoked identities are listed too, marked.
    pub status: KelStatus,
    /// Its last signed call, Unix ms, if one was seen.
    pub last_seen: Option<u64>,
    /// What that means now.
    pub presence: PresenceStatus,
    /// What it declared (PROTOCOL §18b).
    pub declared: mcpmsg_core::protocol::negotiate::Declaration,
}

/// Verified states of recently used logs.
pub(super) struct KelCache {
    map: Mutex<HashMap<String, KelState>>,
    max: usize,
}

impl KelCache {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }
}

/// The refusal for a log that does not verify or extend.
pub(super) fn kel_refusal(index: usize, e: KelError) -> Refusal {
    let code = match &e {
        KelError::BadSeq { .. } | KelError::BadPrev { .. } | KelError::Fork { .. } | KelError::Rollback { .. } => {
            ErrorCode::KelConflict
        }
        KelError::BadSignature { .. } | KelError::NotCommitted { .. } | KelError::UnauthorizedSigner { .. } => {
            ErrorCode::BadSignature
        }
        KelError::AfterRevocation { .. } | KelError::Suspended { .. } => ErrorCode::Revoked,
        _ => ErrorCode::InvalidArgument,
    };
    Refusal::new(code, format!("kel event {index}: {e}"))
}

/// Short, printable text that others are shown: no control or format
/// characters (which could drive a terminal or hide text), at most `max`
/// characters.
fn printable(field: &str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.chars().count() > max || !mcpmsg_core::protocol::is_printable(value) {
        return Err(Refusal::invalid(format!(
            "{field}: at most {max} printable characters (no control, format or invisible characters)"
        )));
    }
    Ok(())
}

impl Broker {
    /// The verified state of a stored log (from the cache when its head matches).
    pub(super) fn state_of(&self, client_id: &str, record: &IdentityRecord) -> Result<KelState, Refusal> {
        let head = record.events.last().and_then(|e| e.hash().ok());
        let mut cache = self.kel_cache.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = cache.get(client_id) {
            if Some(state.head()) == head.as_deref() {
                return Ok(state.clone());
            }
        }
        // Stored logs were verified when stored: failing now means the store
        // was altered underneath us.
        let state = kel::verify_log(&record.events).map_err(|e| {
            tracing::error!(client_id, error = %e, "stored key event log does not verify");
            Refusal::new(
                ErrorCode::Unavailable,
                format!("the stored log of {client_id} does not verify; ask the operator"),
            )
        })?;
        if cache.len() >= self.kel_cache.max {
            cache.clear();
        }
        cache.insert(client_id.to_owned(), state.clone());
        Ok(state)
    }

    /// The stored identity and its verified state, or `unknown_client`.
    pub(super) async fn known(&self, field: &str, client_id: &str) -> Result<(Arc<IdentityRecord>, KelState), Refusal> {
        let record = self.store.identity(client_id).await?.ok_or_else(|| {
            Refusal::new(
                ErrorCode::UnknownClient,
                format!("{field} {client_id} is not registered; check in with `kel` (the full key event log) first"),
            )
        })?;
        let state = self.state_of(client_id, &record)?;
        Ok((record, state))
    }

    /// As [`Broker::known`], from the store's cache of any age: for the
    /// acting client only, whose cached head is checked against the store
    /// with the nonce (see `Broker::acting`).
    pub(super) async fn known_cached(&self, field: &str, client_id: &str) -> Result<KelState, Refusal> {
        let record = self.store.cached_identity(client_id).await?.ok_or_else(|| {
            Refusal::new(
                ErrorCode::UnknownClient,
                format!("{field} {client_id} is not registered; check in with `kel` (the full key event log) first"),
            )
        })?;
        self.state_of(client_id, &record)
    }

    /// `checkin_client`: registers an identity from its log, extends a
    /// stored log, and records name and capabilities.
    pub async fn checkin(&self, mut req: CheckinClientArgs) -> Result<CheckinResult, Refusal> {
        check_client_id("client_id", &req.client_id)?;
        printable("name", &req.name, MAX_NAME)?;
        printable("capabilities", &req.capabilities, MAX_CAPABILITIES)?;
        let max_events = self.config.max_kel_events;
        if req.kel.as_ref().is_some_and(|k| k.len() > max_events) {
            return Err(Refusal::new(
                ErrorCode::TooLarge,
                format!("kel: at most {max_events} events (the operator sets --max-kel-events)"),
            ));
        }
        let now = now_ms();
        let kel = req.kel.take();
        let (state, mut record, expected_len) = self.checkin_log(&req.client_id, kel, now).await?;
        self.accept_request(&req, Against::Log(&state), now).await?;
        record.name = req.name;
        record.capabilities = req.capabilities;
        record.last_checkin = now;
        if !self.store.put_identity(&req.client_id, expected_len, &record).await? {
            return Err(Refusal::new(
                ErrorCode::KelConflict,
                format!(
                    "the log of {} changed during this check-in; check in again",
                    req.client_id
                ),
            ));
        }
        Ok(CheckinResult {
            client_id: req.client_id,
            registered: expected_len == 0,
            kel_seq: state.seq(),
            kel_head: state.head().to_owned(),
        })
    }

    /// The log a check-in acts on: the stored one, a registration's (the
    /// whole log checked from inception), or the stored one extended by the
    /// events given. Returns its state, the record to write, and the stored
    /// log's length the write is conditional on (0: a registration).
    async fn checkin_log(
        &self,
        client_id: &str,
        kel: Option<Vec<Event>>,
        now: u64,
    ) -> Result<(KelState, IdentityRecord, usize), Refusal> {
        let stored = self.store.identity(client_id).await?;
        Ok(match (stored, kel) {
            (None, None) => {
                return Err(Refusal::new(
                    ErrorCode::UnknownClient,
                    format!(
                        "client {} is not registered; include `kel`, its full key event log, to register",
                        client_id
                    ),
                ))
            }
            (None, Some(events)) => (self.registration(client_id, &events).await?, new_record(events, now), 0),
            (Some(record), None) => (
                self.state_of(client_id, &record)?,
                (*record).clone(),
                record.events.len(),
            ),
            (Some(record), Some(events)) => {
                let state = self.state_of(client_id, &record)?;
                if events.first() != record.events.first() {
                    return Err(Refusal::new(
                        ErrorCode::AlreadyRegistered,
                        format!(
                            "client_id {} is registered with another inception key; choose another client_id",
                            client_id
                        ),
                    ));
                }
                let (extended, added) = state
                    .extend(&record.events, &events)
                    .map_err(|e| kel_refusal(e.index, e.error))?;
                let expected = record.events.len();
                let mut updated = (*record).clone();
                updated.accepted_at.extend(std::iter::repeat_n(now, added));
                updated.events = events;
                (extended, updated, expected)
            }
        })
    }

    /// Checks a log submitted to register a new identity: the cheap checks
    /// (closed enrollment, room for one more) before any signature of the
    /// log is verified, so an anonymous caller cannot make the server
    /// verify a long log for nothing.
    async fn registration(&self, client_id: &str, events: &[Event]) -> Result<KelState, Refusal> {
        self.check_enrolled_before_verifying(client_id, events)?;
        self.check_room_for_identity().await?;
        let state = kel::verify_log(events).map_err(|e| kel_refusal(e.index, e.error))?;
        if state.client_id() != client_id {
            return Err(Refusal::invalid(format!(
                "kel: the log is for {}, not client_id {client_id}",
                state.client_id()
            )));
        }
        if let Some((seq, reason)) = state.revoked() {
            return Err(Refusal::new(
                ErrorCode::Revoked,
                format!(
                    "the log of {client_id} ends in a revocation at seq {seq} ({}): it is {}",
                    reason.as_str(),
                    state.status().as_str()
                ),
            ));
        }
        Ok(state)
    }

    /// Closed enrollment, from the log's unverified inception key: a log
    /// whose inception key is not the enrolled one is refused before its
    /// signatures are checked; one that is goes on to full verification.
    pub(super) fn check_enrolled_before_verifying(&self, client_id: &str, events: &[Event]) -> Result<(), Refusal> {
        let Some(enrollment) = &self.enrollment else {
            return Ok(());
        };
        let inception_key = match events.first() {
            Some(Event::Inception(e)) => Some(e.signing_key.as_str()),
            _ => None,
        };
        match enrollment.key_of(client_id) {
            Some(key) if Some(key.as_str()) == inception_key => Ok(()),
            Some(_) => Err(Refusal::new(
                ErrorCode::NotEnrolled,
                format!("the inception key of {client_id} is not the one in the server's keys file"),
            )),
            None => Err(Refusal::new(
                ErrorCode::NotEnrolled,
                format!("{client_id} is not in the server's keys file; ask the operator to add the line from `mcpmsg enroll-line`"),
            )),
        }
    }

    pub(super) async fn check_room_for_identity(&self) -> Result<(), Refusal> {
        if self.store.identity_count().await? >= self.config.max_clients {
            return Err(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "the server holds its maximum of {} identities (--max-clients)",
                    self.config.max_clients
                ),
            ));
        }
        Ok(())
    }

    /// `get_client_keys`: an identity's public log.
    pub async fn client_keys(&self, client_id: &str) -> Result<ClientKeys, Refusal> {
        check_client_id("client_id", client_id)?;
        let (record, state) = self.known("client_id", client_id).await?;
        Ok(ClientKeys {
            client_id: client_id.to_owned(),
            kel: record.events.clone(),
            accepted_at: record.accepted_at.clone(),
            status: state.status(),
        })
    }

    /// `list_clients`: one page of who is registered, from after `cursor`
    /// (the last client_id of the previous page), at most `limit` (default
    /// and most: `--list-page`). Returns the page and the next cursor.
    pub async fn list_clients(
        &self,
        cursor: Option<&str>,
        limit: Option<&str>,
        filter: &Filter,
    ) -> Result<(Vec<ClientInfo>, Option<String>), Refusal> {
        if !self.config.list_clients {
            return Err(Refusal::new(
                ErrorCode::Unavailable,
                "list_clients is turned off on this server (--no-list-clients); ask the operator for client ids",
            ));
        }
        if let Some(c) = cursor {
            check_client_id("cursor", c)?;
        }
        let most = self.config.list_page;
        let limit = match limit {
            None => most,
            Some(s) => mcpmsg_core::protocol::parse_decimal("limit", s)
                .ok()
                .filter(|n| (1..=most as u64).contains(n))
                .ok_or_else(|| Refusal::invalid(format!("limit: a decimal string from \"1\" to \"{most}\"")))?
                as usize,
        };
        let mut page = self.store.identities(cursor, limit + 1).await?;
        let more = page.len() > limit;
        page.truncate(limit);
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        let presence = self.presence_of(&ids, now_ms()).await?;
        let declared = self.declared(&ids).await?;
        let last_id = page.last().map(|(id, _)| id.clone());
        let mut out = Vec::with_capacity(limit);
        for (((client_id, record), (last_seen, presence)), declared) in page.into_iter().zip(presence).zip(declared) {
            if !filter.keeps_declared(&declared) || !filter.keeps_status(presence) {
                continue;
            }
            let state = self.state_of(&client_id, &record)?;
            out.push(ClientInfo {
                declared,
                last_seen,
                presence,
                signing_kid: state.current().signing_key.kid(),
                status: state.status(),
                client_id,
                name: record.name.clone(),
                capabilities: record.capabilities.clone(),
                last_checkin: record.last_checkin,
            });
        }
        // The cursor is the last client read, kept or not: a filtered page
        // may be shorter than the limit and still have more after it.
        let next = if more { last_id } else { None };
        Ok((out, next))
    }
}

pub(super) fn new_record(events: Vec<Event>, now: u64) -> IdentityRecord {
    IdentityRecord {
        accepted_at: vec![now; events.len()],
        events,
        name: String::new(),
        capabilities: String::new(),
        last_checkin: now,
    }
}
