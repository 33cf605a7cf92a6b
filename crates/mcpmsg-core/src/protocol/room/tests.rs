use std::collections::BTreeMap;

use super::*;
use crate::crypto::{SealingSecret, SigningSecret};
use crate::inbox::{SenderLog, TimeRules};
use crate::protocol::kel::{verify_log as verify_kel, Event, KelState};
use crate::protocol::tools::{RoomDelivered, RoomMessageKind, SendRoomMessageArgs};
use crate::protocol::{new_nonce, now_ms};

/// A member with its keys, registered at `T0`.
struct Member {
    id: &'static str,
    signing: SigningSecret,
    sealing: SealingSecret,
    kel: KelState,
}

const T0: u64 = 1_700_000_000_000;

impl Member {
    fn new(id: &'static str) -> Self {
        let signing = SigningSecret::generate();
        let sealing = SealingSecret::generate();
        let next = SigningSecret::generate();
        let e = Event::inception(id, &signing, &sealing.public(), &next.public(), T0);
        let kel = verify_kel(&[e]).unwrap();
        Self {
            id,
            signing,
            sealing,
            kel,
        }
    }

    /// Signs `op` at the end of `at` (accepted at `T0 + seq`).
    fn sign(&self, at: Option<&RoomState>, op: Op, member: &str, title: &str) -> ChangeRoomArgs {
        let mut s = statement(at, op, self.id, member, title);
        s.sign_at(&self.signing, T0 + at.map_or(0, RoomState::len));
        s
    }
}

fn logs(members: &[&Member]) -> BTreeMap<String, (KelState, Vec<u64>)> {
    members
        .iter()
        .map(|m| (m.id.to_owned(), (m.kel.clone(), vec![T0])))
        .collect()
}

/// alice creates, invites bob and carol, both join: epoch 3.
fn room_of_three(a: &Member, b: &Member, c: &Member) -> (Vec<ChangeRoomArgs>, RoomState) {
    let mut log = vec![a.sign(None, Op::Create, "", "release train")];
    let mut state = RoomState::create(&log[0]).unwrap();
    for (by, op, member) in [
        (a, Op::Invite, "bob"),
        (a, Op::Invite, "carol"),
        (b, Op::Join, ""),
        (c, Op::Join, ""),
    ] {
        let s = by.sign(Some(&state), op, member, "");
        state.apply(&s).unwrap();
        log.push(s);
    }
    (log, state)
}

fn accepted(log: &[ChangeRoomArgs]) -> Vec<u64> {
    (0..log.len() as u64).map(|i| T0 + i).collect()
}

fn verify(log: &[ChangeRoomArgs], logs: &BTreeMap<String, (KelState, Vec<u64>)>) -> Result<VerifiedRoom, String> {
    let trust = Trust {
        logs,
        server_key: None,
        rules: TimeRules::default(),
    };
    verify_log(log, &accepted(log), &[], trust)
}

#[test]
fn a_log_of_create_invite_join_verifies_and_counts_epochs() {
    let (a, b, c) = (Member::new("alice"), Member::new("bob"), Member::new("carol"));
    let (log, state) = room_of_three(&a, &b, &c);
    assert_eq!(state.epoch(), 3);
    assert_eq!(state.len(), 5);
    assert_eq!(state.owner(), "alice");
    assert_eq!(state.title(), "release train");
    assert_eq!(state.room_id(), room_id_of(&log[0]).unwrap());
    let v = verify(&log, &logs(&[&a, &b, &c])).unwrap();
    assert_eq!(v.state, state);
    assert_eq!(v.members_at(1).unwrap().len(), 1);
    assert_eq!(
        v.members_at(3).unwrap().iter().collect::<Vec<_>>(),
        ["alice", "bob", "carol"]
    );
    assert!(v.members_at(4).is_none());
}

#[test]
fn an_invitation_adds_nobody_and_only_the_invitee_joins() {
    let (a, b, m) = (Member::new("alice"), Member::new("bob"), Member::new("mallory"));
    let create = a.sign(None, Op::Create, "", "");
    let mut state = RoomState::create(&create).unwrap();
    // Joining uninvited.
    let err = state.apply(&m.sign(Some(&state), Op::Join, "", "")).unwrap_err();
    assert_eq!(err.rule, RoomRule::NotAllowed);
    state.apply(&a.sign(Some(&state), Op::Invite, "bob", "")).unwrap();
    assert!(!state.is_member("bob") && state.is_invited("bob"));
    assert_eq!(state.epoch(), 1, "an invitation is not a membership change");
    // A non-member inviting, and a statement that does not extend the head.
    let err = state
        .apply(&m.sign(Some(&state), Op::Invite, "mallory", ""))
        .unwrap_err();
    assert_eq!(err.rule, RoomRule::NotAllowed);
    let mut stale = b.sign(Some(&state), Op::Join, "", "");
    stale.prev = "00".repeat(32);
    stale.sign_at(&b.signing, T0);
    assert_eq!(state.apply(&stale).unwrap_err().rule, RoomRule::Stale);
    // Only the owner removes.
    state.apply(&b.sign(Some(&state), Op::Join, "", "")).unwrap();
    let err = state.apply(&b.sign(Some(&state), Op::Remove, "alice", "")).unwrap_err();
    assert_eq!(err.rule, RoomRule::NotAllowed);
    state.apply(&a.sign(Some(&state), Op::Remove, "bob", "")).unwrap();
    assert!(!state.is_member("bob"));
    assert_eq!(state.epoch(), 3);
}

#[test]
fn a_ghost_member_written_into_the_log_fails_verification() {
    let (a, b, c) = (Member::new("alice"), Member::new("bob"), Member::new("carol"));
    let ghost = Member::new("ghost");
    let (mut log, state) = room_of_three(&a, &b, &c);
    // The server appends an invitation "by alice" that it signed itself and
    // the ghost's join: the structure is fine, alice's signature is not.
    let mut forged = statement(Some(&state), Op::Invite, "alice", "ghost", "");
    forged.sign_at(&ghost.signing, T0 + 5);
    forged.key_id = a.signing.public().kid();
    let mut st = state.clone();
    st.apply(&forged).unwrap();
    let join = ghost.sign(Some(&st), Op::Join, "", "");
    log.extend([forged, join]);
    let err = verify(&log, &logs(&[&a, &b, &c, &ghost])).unwrap_err();
    assert!(err.starts_with("statement 5 (invite by alice)"), "{err}");
    assert!(err.contains("does not verify"), "{err}");
}

fn delivered(m: &SendRoomMessageArgs, to: &str, received_at: u64) -> RoomDelivered {
    RoomDelivered {
        kind: RoomMessageKind::RoomMessage,
        message_id: m.message_id().unwrap(),
        recipient_id: to.to_owned(),
        sender_id: m.sender_id.clone(),
        room_id: m.room_id.clone(),
        epoch: m.epoch.clone(),
        content_type: m.content_type.clone(),
        in_reply_to: m.in_reply_to.clone(),
        message: m.message.clone(),
        wraps: m.wraps.clone(),
        key_id: m.key_id.clone(),
        ts: m.ts.clone(),
        nonce: m.nonce.clone(),
        sig: m.sig.clone(),
        received_at: received_at.to_string(),
        expires_at: (received_at + 300_000).to_string(),
    }
}

#[test]
fn every_member_opens_a_sealed_room_message_and_a_removed_one_cannot() {
    let (a, b, c) = (Member::new("alice"), Member::new("bob"), Member::new("carol"));
    let (log, state) = room_of_three(&a, &b, &c);
    let room = verify(&log, &logs(&[&a, &b, &c])).unwrap();
    let now = now_ms();
    let nonce = new_nonce();
    let parts = RoomSealParts {
        sender_id: "alice",
        room_id: state.room_id(),
        epoch: state.epoch(),
        in_reply_to: None,
        ts: now,
        nonce: &nonce,
    };
    let to = [("bob", &b.sealing.public()), ("carol", &c.sealing.public())];
    let m = SendRoomMessageArgs::seal_and_sign(&a.signing, parts, &to, "ship it").unwrap();
    assert!(!m.message.contains("ship"), "the body is ciphertext");
    assert_eq!(parse_wraps(&m.wraps).unwrap().len(), 2);
    let sender = SenderLog {
        state: &a.kel,
        accepted_at: Some(&[T0]),
    };
    for r in [&b, &c] {
        let got = check_message(
            &delivered(&m, r.id, now),
            r.id,
            &room,
            &sender,
            &[&r.sealing],
            TimeRules::default(),
            now,
        )
        .unwrap();
        assert_eq!(got.text, "ship it");
        assert!(got.sealed);
    }
    // A wrap moved to another member, or a message moved to another room,
    // does not open: the AADs bind them.
    assert!(m.open("carol", &b.sealing).is_err());
    let mut moved = m.clone();
    moved.room_id = "AAAAAAAAAAAAAAAAAAAAAA".into();
    assert!(moved.open("bob", &b.sealing).is_err());

    // alice removes carol; the next message is not wrapped for her.
    let mut st = state.clone();
    let remove = a.sign(Some(&st), Op::Remove, "carol", "");
    st.apply(&remove).unwrap();
    let parts = RoomSealParts {
        epoch: st.epoch(),
        nonce: &new_nonce(),
        ..parts
    };
    let next = SendRoomMessageArgs::seal_and_sign(&a.signing, parts, &to[..1], "carol is gone").unwrap();
    assert!(next.open("carol", &c.sealing).is_err());
    assert_eq!(next.open("bob", &b.sealing).unwrap(), "carol is gone");
}

#[test]
fn a_message_sealed_to_a_member_the_log_does_not_show_is_rejected() {
    let (a, b, c) = (Member::new("alice"), Member::new("bob"), Member::new("carol"));
    let ghost = Member::new("ghost");
    let (log, state) = room_of_three(&a, &b, &c);
    let room = verify(&log, &logs(&[&a, &b, &c])).unwrap();
    let now = now_ms();
    let nonce = new_nonce();
    let parts = RoomSealParts {
        sender_id: "alice",
        room_id: state.room_id(),
        epoch: state.epoch(),
        in_reply_to: None,
        ts: now,
        nonce: &nonce,
    };
    let to = [
        ("bob", &b.sealing.public()),
        ("carol", &c.sealing.public()),
        ("ghost", &ghost.sealing.public()),
    ];
    let m = SendRoomMessageArgs::seal_and_sign(&a.signing, parts, &to, "hi").unwrap();
    let sender = SenderLog {
        state: &a.kel,
        accepted_at: Some(&[T0]),
    };
    let err = check_message(
        &delivered(&m, "bob", now),
        "bob",
        &room,
        &sender,
        &[&b.sealing],
        TimeRules::default(),
        now,
    )
    .unwrap_err();
    assert!(err.contains("extra: [\"ghost\"]"), "{err}");
}

#[test]
fn wraps_parse_only_in_their_canonical_form() {
    let w = |m: &str| Wrap {
        member: m.into(),
        kid: "0".repeat(32),
        wrap: "A".repeat(107),
    };
    let s = format_wraps(&[w("carol"), w("bob")]);
    assert!(s.starts_with("bob:"));
    assert_eq!(parse_wraps(&s).unwrap(), vec![w("bob"), w("carol")]);
    let twice = format!("{},{}", format_wraps(&[w("bob")]), format_wraps(&[w("bob")]));
    assert!(parse_wraps(&twice).is_err());
    let descending = format!("{},{}", format_wraps(&[w("carol")]), format_wraps(&[w("bob")]));
    assert!(parse_wraps(&descending).is_err());
    assert!(parse_wraps("bob:00:AAAA").is_err());
    assert!(parse_wraps("").is_err());
}
