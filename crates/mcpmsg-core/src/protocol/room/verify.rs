//! What a member checks itself (PROTOCOL §15): every statement of a room's
//! log signed by its actor's key current at the time, and a room message
//! signed by a member of the epoch it names and sealed to exactly that
//! epoch's other members. Nothing here trusts the server's reading of a log.

use std::collections::{BTreeMap, BTreeSet};

use super::{parse_wraps, Op, RoomState};
use crate::crypto::{SealingSecret, SigningPublicKey};
use crate::inbox::{key_was_current, SenderLog, TimeRules};
use crate::protocol::kel::KelState;
use crate::protocol::tools::{ChangeRoomArgs, EnterQueueArgs, RoomDelivered, SignalDelivered, SignedArgs};
use crate::protocol::{decode_sig, neutralise, parse_ts};

/// A log every statement of which was checked, and who was a member at
/// each epoch.
#[derive(Debug, Clone)]
pub struct VerifiedRoom {
    /// The state at the end of the log.
    pub state: RoomState,
    /// Members at epoch `i + 1`.
    members_by_epoch: Vec<BTreeSet<String>>,
}

impl VerifiedRoom {
    /// The members at `epoch`, if the log reached it.
    pub fn members_at(&self, epoch: u64) -> Option<&BTreeSet<String>> {
        let i = usize::try_from(epoch.checked_sub(1)?).ok()?;
        self.members_by_epoch.get(i)
    }
}

/// `client_id`'s verified log from `logs`, as [`check_signed`] takes it.
fn log_of<'a>(logs: &'a BTreeMap<String, (KelState, Vec<u64>)>, client_id: &str) -> Result<SenderLog<'a>, String> {
    let (state, accepted) = logs
        .get(client_id)
        .ok_or_else(|| format!("no verified key event log of {client_id} to check it against"))?;
    Ok(SenderLog {
        state,
        accepted_at: Some(accepted),
    })
}

/// Checks a signature made by `client_id` with `key_id` over `input`, at
/// `ts`, accepted by the server at `accepted_at`: the key is in the signer's
/// verified log and was current at both times, and the signature verifies
/// strictly.
pub(crate) fn check_signed(
    log: &SenderLog<'_>,
    client_id: &str,
    [key_id, ts, sig]: [&str; 3],
    input: &[u8],
    accepted_at: u64,
    rules: TimeRules,
) -> Result<(), String> {
    let (state, accepted) = (log.state, log.accepted_at.unwrap_or_default());
    let ts = parse_ts("ts", ts).map_err(|e| e.to_string())?;
    if ts.abs_diff(accepted_at) > rules.max_skew_ms {
        return Err("signed at a time too far from when the server says it accepted it".to_owned());
    }
    let history = state.history();
    let j = history
        .iter()
        .position(|k| k.signing_key.kid() == key_id)
        .ok_or_else(|| format!("signed by key {key_id}, which is not in {client_id}'s key event log"))?;
    key_was_current(state, j, Some(accepted), ts, accepted_at)
        .map_err(|()| format!("signed by key {key_id}, which was not current when it was signed and accepted"))?;
    let sig = decode_sig("sig", sig).map_err(|e| e.to_string())?;
    history[j]
        .signing_key
        .verify(input, &sig)
        .map_err(|_| format!("the signature of {client_id} does not verify: altered or forged"))
}

/// What a member checks a room's log against: each signer's verified key
/// event log (checked against the member's pins) with its `accepted_at`
/// times, the pinned server key (for a pen-pal room's `pair` statement),
/// and the time rules.
#[derive(Clone, Copy)]
pub struct Trust<'a> {
    /// Verified logs and acceptance times, by client id.
    pub logs: &'a BTreeMap<String, (KelState, Vec<u64>)>,
    /// The pinned server key.
    pub server_key: Option<&'a SigningPublicKey>,
    /// Skew and lifetime.
    pub rules: TimeRules,
}

/// A `pair` statement (PROTOCOL §16): signed by the pinned server key, and
/// consented to by both members, each `enter_queue` signed by its client
/// with a key current then and made at most its wait before the pairing.
fn check_pair(s: &ChangeRoomArgs, at: u64, consents: &[EnterQueueArgs], trust: Trust<'_>) -> Result<(), String> {
    let key = trust
        .server_key
        .ok_or("a pen-pal room is started by the server: no server key is pinned to check it")?;
    if s.key_id != key.kid() {
        return Err(format!(
            "signed by {}, not the pinned server key {}",
            s.key_id,
            key.kid()
        ));
    }
    let sig = decode_sig("sig", &s.sig).map_err(|e| e.to_string())?;
    key.verify(&s.sign_input(), &sig)
        .map_err(|_| "the server's signature does not verify".to_owned())?;
    let [first, second] = consents else {
        return Err("a pen-pal room has exactly two consents".to_owned());
    };
    for (who, c) in [(&s.client_id, first), (&s.member, second)] {
        if &c.client_id != who {
            return Err(format!("the consent of {who} is signed by {}", c.client_id));
        }
        let ts = parse_ts("ts", &c.ts).map_err(|e| e.to_string())?;
        let wait = crate::protocol::parse_decimal("wait_s", &c.wait_s).map_err(|e| e.to_string())?;
        if at.saturating_sub(ts) > wait.saturating_mul(1000) + trust.rules.max_skew_ms {
            return Err(format!("{who} entered the queue longer ago than it agreed to wait"));
        }
        // Judged when it was made: the key must have held then.
        let made = ts.clamp(at.saturating_sub(wait.saturating_mul(1000)), at);
        let input = c.sign_input();
        check_signed(
            &log_of(trust.logs, who)?,
            who,
            [&c.key_id, &c.ts, &c.sig],
            &input,
            made,
            trust.rules,
        )
        .map_err(|e| format!("consent of {who}: {e}"))?;
    }
    Ok(())
}

/// Verifies a room's whole log: each statement follows the rules of
/// [`RoomState`] and is signed by its actor with a key current when it was
/// signed and accepted (a pen-pal room's first statement by the server
/// key, with both members' consents). The error names the statement.
pub fn verify_log(
    statements: &[ChangeRoomArgs],
    accepted_at: &[u64],
    consents: &[EnterQueueArgs],
    trust: Trust<'_>,
) -> Result<VerifiedRoom, String> {
    if accepted_at.len() != statements.len() {
        return Err("the log has not exactly one accepted_at per statement".to_owned());
    }
    let mut state: Option<RoomState> = None;
    let mut members_by_epoch = Vec::new();
    for (i, (s, &at)) in statements.iter().zip(accepted_at).enumerate() {
        let at_fault = |e: String| format!("statement {i} ({} by {}): {e}", s.op, s.client_id);
        if i == 0 && Op::parse(&s.op) == Some(Op::Pair) {
            check_pair(s, at, consents, trust).map_err(at_fault)?;
        } else {
            let auth = [s.key_id.as_str(), &s.ts, &s.sig];
            let log = log_of(trust.logs, &s.client_id).map_err(at_fault)?;
            check_signed(&log, &s.client_id, auth, &s.sign_input(), at, trust.rules).map_err(at_fault)?;
        }
        match state.as_mut() {
            None => state = Some(RoomState::create(s).map_err(|e| at_fault(e.message))?),
            Some(st) => st.apply(s).map_err(|e| at_fault(e.message))?,
        }
        let st = state.as_ref().expect("set above");
        if members_by_epoch.len() < st.epoch() as usize {
            members_by_epoch.push(st.members().clone());
        }
    }
    let state = state.ok_or("a room's log has at least its create statement")?;
    Ok(VerifiedRoom {
        state,
        members_by_epoch,
    })
}

/// A genuine room message, opened and neutralised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRoomMessage {
    /// The text, safe to print.
    pub text: String,
    /// Whether it was sealed end to end.
    pub sealed: bool,
}

/// What every delivered copy of a fanned-out send gets checked for (a room
/// message, a broadcast): checked against its sender's own log, its
/// `message_id` derived from its signature, not older than a message may
/// live, and signed strictly by the sender's key current at its `ts` and
/// at `received_at`, when the server accepted it.
pub(crate) fn check_copy<A: SignedArgs>(
    send: &A,
    message_id: &str,
    received_at: &str,
    sender: &SenderLog<'_>,
    rules: TimeRules,
    now: u64,
) -> Result<(), String> {
    let sender_id = send.actor();
    if sender.state.client_id() != sender_id {
        return Err(format!("checked against the log of {}", sender.state.client_id()));
    }
    let [key_id, ts_text, _, sig] = send.auth();
    let derived = decode_sig("sig", sig).map_err(|e| e.to_string())?;
    if crate::protocol::message_id(&derived) != message_id {
        return Err("message_id is not derived from its signature".to_owned());
    }
    let received_at = parse_ts("received_at", received_at).map_err(|e| e.to_string())?;
    let ts = parse_ts("ts", ts_text).map_err(|e| e.to_string())?;
    if now.saturating_sub(ts) > rules.lifetime_ms + rules.max_skew_ms {
        return Err("older than a message may live: an old message delivered again".to_owned());
    }
    check_signed(
        sender,
        sender_id,
        [key_id, ts_text, sig],
        &send.sign_input(),
        received_at,
        rules,
    )
}

/// Checks room message `m` for member `me` against the verified `room`
/// and the sender's verified log: addressed to us, in this room, signed by
/// a member of the epoch it names (of which we were a member too) with a
/// key current then, fresh, and, when sealed, wrapped for exactly that
/// epoch's other members and opened with one of our `sealing` secrets.
pub fn check_message(
    m: &RoomDelivered,
    me: &str,
    room: &VerifiedRoom,
    sender: &SenderLog<'_>,
    sealing: &[&SealingSecret],
    rules: TimeRules,
    now: u64,
) -> Result<OpenedRoomMessage, String> {
    if m.recipient_id != me {
        return Err(format!("addressed to {}, not to this client", m.recipient_id));
    }
    if m.room_id != room.state.room_id() {
        return Err(format!("for room {}, not {}", m.room_id, room.state.room_id()));
    }
    let epoch = crate::protocol::parse_decimal("epoch", &m.epoch).map_err(|e| e.to_string())?;
    let members = room
        .members_at(epoch)
        .ok_or_else(|| format!("made for epoch {epoch}, which the verified log does not reach"))?;
    if !members.contains(&m.sender_id) || !members.contains(me) {
        return Err(format!(
            "{} and this client were not both members at epoch {epoch}",
            m.sender_id
        ));
    }
    let send = m.as_send();
    check_copy(&send, &m.message_id, &m.received_at, sender, rules, now)?;
    if !send.is_sealed() {
        if !m.wraps.is_empty() {
            return Err("an unsealed message carries wraps".to_owned());
        }
        return Ok(OpenedRoomMessage {
            text: neutralise(&m.message),
            sealed: false,
        });
    }
    let wrapped: BTreeSet<String> = parse_wraps(&m.wraps)?.into_iter().map(|w| w.member).collect();
    let others: BTreeSet<String> = members.iter().filter(|c| **c != m.sender_id).cloned().collect();
    if wrapped != others {
        let extra: Vec<_> = wrapped.difference(&others).cloned().collect();
        let missing: Vec<_> = others.difference(&wrapped).cloned().collect();
        return Err(format!(
            "sealed to another set than the verified members of epoch {epoch} (extra: {extra:?}, missing: {missing:?})"
        ));
    }
    let text = sealing
        .iter()
        .find_map(|s| send.open(me, s).ok())
        .ok_or("the sealed message cannot be opened with this client's keys")?;
    Ok(OpenedRoomMessage {
        text: neutralise(&text),
        sealed: true,
    })
}

/// The longest a typing signal may have been signed before it is read:
/// the longest lifetime a server may give one (`--signal-ttl` is at most
/// 300 s). An older one is a signal delivered again.
pub const SIGNAL_MAX_AGE_MS: u64 = 300_000;

/// Checks typing signal `s` (PROTOCOL §15d) for member `me` against the
/// verified `room` and the sender's verified log: addressed to us, in this
/// room, from a current member (as are we), with a key current then, and
/// recent. Returns the signal, `typing` or `stopped`.
pub fn check_signal(
    s: &SignalDelivered,
    me: &str,
    room: &VerifiedRoom,
    sender: &SenderLog<'_>,
    rules: TimeRules,
    now: u64,
) -> Result<(), String> {
    if s.recipient_id != me {
        return Err(format!("addressed to {}, not to this client", s.recipient_id));
    }
    if s.room_id != room.state.room_id() {
        return Err(format!("for room {}, not {}", s.room_id, room.state.room_id()));
    }
    if !room.state.is_member(&s.sender_id) || !room.state.is_member(me) {
        return Err(format!(
            "{} and this client are not both members of the verified room",
            s.sender_id
        ));
    }
    if !crate::protocol::tools::SIGNALS.contains(&s.signal.as_str()) {
        return Err("not a signal this client knows".to_owned());
    }
    if sender.state.client_id() != s.sender_id {
        return Err(format!("checked against the log of {}", sender.state.client_id()));
    }
    let received_at = parse_ts("received_at", &s.received_at).map_err(|e| e.to_string())?;
    let ts = parse_ts("ts", &s.ts).map_err(|e| e.to_string())?;
    if now.saturating_sub(ts) > SIGNAL_MAX_AGE_MS + rules.max_skew_ms {
        return Err("older than a signal may live: an old signal delivered again".to_owned());
    }
    check_signed(
        sender,
        &s.sender_id,
        [&s.key_id, &s.ts, &s.sig],
        &s.as_signed().sign_input(),
        received_at,
        rules,
    )
}
