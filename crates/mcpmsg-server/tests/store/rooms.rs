//! The room properties of the storage conformance suite (PROTOCOL §15):
//! a log appends only at the length it was read at, the index follows
//! joins and leaves, an emptied room is gone, and a room message fans out
//! once, in one step with its sender's nonce.

use std::sync::Arc;

use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::tools::ChangeRoomArgs;
use mcpmsg_server::store::{
    Delivery, FanOut, FanOutOutcome, FanOutTo, LoggedStatement, NonceRecord, QueueLimits, RoomAppend, SendOutcome,
    SignalStep, Store, StoredMessage, TakeMode,
};

use super::{id_of, msg, queue, tag};

fn entry(op: &str, by: &str, seq: u64) -> LoggedStatement {
    LoggedStatement {
        statement: ChangeRoomArgs {
            op: op.into(),
            seq: seq.to_string(),
            client_id: by.into(),
            title: "a room ✓".into(),
            ..Default::default()
        },
        accepted_at: 1_000 + seq,
        consents: Vec::new(),
    }
}

fn append<'a>(room: &'a str, len: u64, e: &'a LoggedStatement) -> RoomAppend<'a> {
    RoomAppend {
        room_id: room,
        expected_len: len,
        entry: e,
        joins: &[],
        leaves: &[],
        empties: false,
    }
}

pub async fn room_logs_append_only_at_their_length(store: Arc<dyn Store>) {
    let t = tag();
    let (room, alice, bob) = (id_of(7000 + t.len()), format!("alice{t}"), format!("bob{t}"));
    let room = format!("{}{}", &room[..10], &t.replace('-', "_")[..t.len().min(12)]);
    let create = entry("create", &alice, 0);
    let join = entry("join", &bob, 1);
    assert!(store.room(&room).await.unwrap().is_empty());
    let first = RoomAppend {
        joins: &[&alice],
        ..append(&room, 0, &create)
    };
    assert!(store.append_room(first).await.unwrap());
    assert!(!store.append_room(first).await.unwrap(), "a second create at length 0");
    assert!(!store.append_room(append(&room, 0, &join)).await.unwrap());
    let joined = RoomAppend {
        joins: &[&bob],
        ..append(&room, 1, &join)
    };
    assert!(store.append_room(joined).await.unwrap());
    assert_eq!(store.room(&room).await.unwrap(), vec![create.clone(), join.clone()]);
    assert_eq!(store.rooms_of(&bob, 10).await.unwrap(), vec![room.clone()]);
    assert_eq!(store.rooms_of(&bob, 0).await.unwrap(), Vec::<String>::new());

    let leave = entry("leave", &bob, 2);
    let left = RoomAppend {
        leaves: &[&bob],
        ..append(&room, 2, &leave)
    };
    assert!(store.append_room(left).await.unwrap());
    assert!(store.rooms_of(&bob, 10).await.unwrap().is_empty());
    let last = entry("leave", &alice, 3);
    let emptied = RoomAppend {
        leaves: &[&alice],
        empties: true,
        ..append(&room, 3, &last)
    };
    assert!(store.append_room(emptied).await.unwrap());
    assert!(store.room(&room).await.unwrap().is_empty(), "an emptied room is gone");
    assert!(store.rooms_of(&alice, 10).await.unwrap().is_empty());
}

pub async fn room_messages_fan_out_once_with_their_nonce(store: Arc<dyn Store>) {
    let t = tag();
    let room = format!("room{}", t.replace('-', "_"));
    let (alice, bob, carol) = (format!("alice{t}"), format!("bob{t}"), format!("carol{t}"));
    let now = now_ms();
    let create = entry("create", &alice, 0);
    assert!(store.append_room(append(&room, 0, &create)).await.unwrap());
    // bob's queue is full before the message.
    assert_eq!(
        queue(store.as_ref(), &msg("dave", &bob, 7100, "", 60_000), 1, now).await,
        SendOutcome::Queued
    );
    let mut m = msg(&alice, "", 7101, "", 60_000);
    m.content_type = mcpmsg_server::broker::ROOM_CONTENT_TYPE.into();
    m.message = r#"{"room_id":"r","epoch":"2","content_type":"","message":"hi ✓","wraps":""}"#.into();
    let recipients = [bob.as_str(), carol.as_str()];
    let step = FanOut {
        to: FanOutTo::Room {
            room_id: &room,
            log_len: 1,
        },
        message: &m,
        recipients: &recipients,
        nonce_until: now + 60_000,
        limits: QueueLimits::queue_only(1),
        now,
    };
    let moved = FanOut {
        to: FanOutTo::Room {
            room_id: &room,
            log_len: 2,
        },
        ..step
    };
    assert_eq!(store.fan_out(moved).await.unwrap(), FanOutOutcome::Moved);
    assert_eq!(
        store.queue_len(&carol, now).await.unwrap(),
        0,
        "nothing queued when the log moved"
    );
    assert_eq!(
        store.fan_out(step).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::QueueFull, Delivery::Queued])
    );
    let got = store.take(&carol, 10, TakeMode::Remove, now).await.unwrap();
    let mut want = m.clone();
    want.recipient_id = carol.clone();
    assert_eq!(got, vec![want], "carol's copy, exactly, addressed to her");
    let again = store.fan_out(step).await.unwrap();
    let original = NonceRecord::Send {
        message_id: m.message_id.clone(),
        received_at: m.received_at,
        expires_at: m.expires_at,
    };
    assert_eq!(again, FanOutOutcome::NonceUsed(original));
    assert_eq!(store.queue_len(&carol, now).await.unwrap(), 0, "a retry queues nothing");

    // Nobody can take it: refused whole, and its nonce stays free.
    let mut m2 = msg(&alice, "", 7102, "", 60_000);
    m2.content_type = m.content_type.clone();
    let only_bob = [bob.as_str()];
    let full = FanOut {
        message: &m2,
        recipients: &only_bob,
        ..step
    };
    assert_eq!(
        store.fan_out(full).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::QueueFull])
    );
    store.take(&bob, 10, TakeMode::Remove, now).await.unwrap();
    assert_eq!(
        store.fan_out(full).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::Queued])
    );
}

/// Typing signals (PROTOCOL §15d): one per (room, sender) per recipient,
/// the newest replacing; handed out after the messages by any take and
/// removed whatever the mode; never counted in a queue; bounded per
/// recipient; a lapsed one never handed out.
pub async fn signals_replace_lapse_and_never_count(store: Arc<dyn Store>) {
    let (alice, bob, carol, room) = (
        format!("alice-{}", tag()),
        format!("bob-{}", tag()),
        format!("carol-{}", tag()),
        id_of(7200),
    );
    let now = now_ms();
    let signal = |from: &str, n: usize, at: u64| {
        let mut s = msg(from, "", n, "", 10_000);
        s.content_type = "application/mcpmsg-signal".into();
        s.message = format!("{{\"room_id\":\"{room}\",\"signal\":\"typing {n}\"}}");
        s.received_at = at;
        s.expires_at = at + 10_000;
        s
    };
    let to_both = [bob.as_str(), carol.as_str()];
    fn step<'a>(room: &'a str, s: &'a StoredMessage, recipients: &'a [&'a str], now: u64) -> SignalStep<'a> {
        SignalStep {
            room_id: room,
            signal: s,
            recipients,
            max: 2,
            now,
        }
    }
    let first = signal(&alice, 7201, now);
    assert_eq!(
        store.put_signal(step(&room, &first, &to_both, now)).await.unwrap(),
        vec![true, true]
    );
    let newer = signal(&alice, 7202, now + 1);
    assert_eq!(
        store.put_signal(step(&room, &newer, &to_both, now)).await.unwrap(),
        vec![true, true]
    );
    let from_carol = signal(&carol, 7203, now + 2);
    assert_eq!(
        store
            .put_signal(step(&room, &from_carol, &[bob.as_str()], now))
            .await
            .unwrap(),
        vec![true]
    );
    // bob holds two: a third sender is skipped, a holder may still replace.
    let third = signal(&format!("dave-{}", tag()), 7204, now + 3);
    assert_eq!(
        store
            .put_signal(step(&room, &third, &[bob.as_str()], now))
            .await
            .unwrap(),
        vec![false]
    );
    assert_eq!(
        store.queue_len(&bob, now).await.unwrap(),
        0,
        "signals are not in the queue"
    );

    // A message and the signals: the message first, the signals after,
    // even past `max`, and even when the take leases.
    let m = msg(&alice, &bob, 7205, "", 60_000);
    assert_eq!(queue(store.as_ref(), &m, 1, now).await, SendOutcome::Queued);
    let got = store
        .take(&bob, 1, TakeMode::LeaseUntil(now + 30_000), now + 4)
        .await
        .unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].message_id, m.message_id);
    let mut signals: Vec<&StoredMessage> = got[1..].iter().collect();
    signals.sort_by_key(|s| s.received_at);
    let mut want_newer = newer.clone();
    want_newer.recipient_id = bob.clone();
    assert_eq!(signals[0], &want_newer, "alice's newest, exactly, addressed to bob");
    assert_eq!(signals[1].sender_id, carol);
    let again = store.take(&bob, 10, TakeMode::Remove, now + 5).await.unwrap();
    assert!(
        again.is_empty(),
        "the message is leased and the signals were removed: {again:?}"
    );

    // A lapsed signal is never handed out.
    let got = store.take(&carol, 10, TakeMode::Remove, now + 10_002).await.unwrap();
    assert!(got.is_empty(), "{got:?}");
}

/// A broadcast fans out like a room message without a log: each
/// recipient's block list is checked in the same step as its copy; one
/// body, each copy addressed; a retry queues nothing; a broadcast everyone
/// blocks is refused whole with its nonce free.
pub async fn broadcasts_fan_out_honouring_blocks(store: Arc<dyn Store>) {
    let t = tag();
    let (alice, bob, carol, dave) = (
        format!("alice{t}"),
        format!("bob{t}"),
        format!("carol{t}"),
        format!("dave{t}"),
    );
    let now = now_ms();
    assert!(store.set_block(&bob, &alice, true, 10).await.unwrap().is_some());
    let mut m = msg(&alice, "", 7300, "", 60_000);
    m.content_type = mcpmsg_server::broker::BROADCAST_CONTENT_TYPE.into();
    m.message = r#"{"tag":"ops","protocol":"","status":"","content_type":"","message":"to all ✓","wraps":""}"#.into();
    let recipients = [bob.as_str(), carol.as_str(), dave.as_str()];
    let step = FanOut {
        to: FanOutTo::Broadcast,
        message: &m,
        recipients: &recipients,
        nonce_until: now + 60_000,
        limits: QueueLimits::queue_only(10),
        now,
    };
    assert_eq!(
        store.fan_out(step).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::Blocked, Delivery::Queued, Delivery::Queued])
    );
    assert_eq!(store.queue_len(&bob, now).await.unwrap(), 0, "bob blocks alice");
    for who in [&carol, &dave] {
        let got = store.take(who, 10, TakeMode::Remove, now).await.unwrap();
        let mut want = m.clone();
        want.recipient_id = who.clone();
        assert_eq!(got, vec![want], "{who}'s copy, exactly, addressed to them");
    }
    assert!(matches!(
        store.fan_out(step).await.unwrap(),
        FanOutOutcome::NonceUsed(_)
    ));
    assert_eq!(store.queue_len(&carol, now).await.unwrap(), 0, "a retry queues nothing");

    let m2 = msg(&alice, "", 7301, "", 60_000);
    let only_bob = [bob.as_str()];
    let blocked = FanOut {
        message: &m2,
        recipients: &only_bob,
        ..step
    };
    assert_eq!(
        store.fan_out(blocked).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::Blocked])
    );
    store.set_block(&bob, &alice, false, 10).await.unwrap();
    assert_eq!(
        store.fan_out(blocked).await.unwrap(),
        FanOutOutcome::Sent(vec![Delivery::Queued]),
        "refused whole: its nonce stayed free"
    );
}
