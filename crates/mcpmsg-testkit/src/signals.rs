//! Typing signals (PROTOCOL §15d) as members send and read them, and the
//! scenarios every store and topology must pass: pushed to a parked
//! reader, replacing, verified by the reader, never counted against a
//! queue, bounded, and refused with their codes.

use mcpmsg_core::inbox::{SenderLog, TimeRules};
use mcpmsg_core::protocol::now_ms;
use mcpmsg_core::protocol::room::{check_signal, Op};
use mcpmsg_core::protocol::tools::{SendSignalArgs, SignalDelivered};
use serde_json::Value;

use super::rooms::{change, key_log, room_of_three, verified_room};
use super::{register, Client, Ident};

impl Ident {
    /// send_signal arguments.
    pub fn signal(&self, room_id: &str, signal: &str) -> Value {
        self.signed(SendSignalArgs {
            sender_id: self.id.clone(),
            room_id: room_id.to_owned(),
            signal: signal.to_owned(),
            ..Default::default()
        })
    }
}

/// The signals among `got` (a get_messages result).
pub fn signals_in(got: &Value) -> Vec<SignalDelivered> {
    got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "signal")
        .map(|m| serde_json::from_value(m.clone()).unwrap())
        .collect()
}

/// The members a send_signal result says it was left for, sorted.
fn delivered_to(result: &Value) -> Vec<&str> {
    let mut to: Vec<&str> = result["delivered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    to.sort_unstable();
    to
}

/// Checks `s` as `who` would: against the room's log and the sender's
/// key log, both verified now.
pub async fn check(c: &Client, who: &Ident, s: &SignalDelivered) -> Result<(), String> {
    let room = verified_room(c, who, &s.room_id).await?;
    let (state, at) = key_log(c, &s.sender_id).await;
    let sender = SenderLog {
        state: &state,
        accepted_at: Some(&at),
    };
    check_signal(s, &who.id, &room, &sender, TimeRules::default(), now_ms())
}

/// Empties the members' queues (of the room's events).
async fn drain(c: &Client, who: &[&Ident]) {
    for w in who {
        c.call("get_messages", w.get(None, None, None)).await.ok();
    }
}

/// In a room of three (each member on its own client, perhaps on other
/// nodes): a signal wakes a parked reader at once, the newest replaces the
/// older, every reader verifies it, reading removes it, and a non-member,
/// an unknown room and an unknown signal are refused with their codes.
pub async fn typing_reaches_the_other_members(cs: [&Client; 3]) {
    let (a, b, c) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    let room = room_of_three(cs, [&a, &b, &c]).await;
    let id = room.room_id();
    drain(cs[0], &[&a, &b, &c]).await;

    // bob waits; alice's signal, sent through another client, wakes him.
    let (waited, sent) = tokio::join!(cs[1].call("get_messages", b.get(None, Some("10"), None)), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        cs[0].call("send_signal", a.signal(id, "typing")).await.ok()
    });
    let delivered = delivered_to(&sent);
    assert_eq!(delivered, ["bob", "carol"]);
    assert_eq!(sent["skipped"].as_array().unwrap().len(), 0);
    let got = signals_in(&waited.ok());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].sender_id.as_str(), got[0].signal.as_str()), ("alice", "typing"));
    assert_eq!(got[0].recipient_id, "bob");
    check(cs[1], &b, &got[0]).await.unwrap();

    // carol missed "typing"; "stopped" replaces it, so she reads one signal.
    cs[0].call("send_signal", a.signal(id, "stopped")).await.ok();
    let got = signals_in(&cs[2].call("get_messages", c.get(None, None, Some("manual"))).await.ok());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].signal, "stopped");
    check(cs[2], &c, &got[0]).await.unwrap();
    // Read once: gone, even though the read leased (signals are never leased).
    let again = cs[2].call("get_messages", c.get(None, None, Some("manual"))).await.ok();
    assert!(signals_in(&again).is_empty(), "{again}");

    // A signal altered by a server does not verify.
    cs[1].call("send_signal", b.signal(id, "typing")).await.ok();
    let mut forged = signals_in(&cs[2].call("get_messages", c.get(None, None, None)).await.ok()).remove(0);
    forged.signal = "stopped".into();
    let why = check(cs[2], &c, &forged).await.unwrap_err();
    assert!(why.contains("does not verify"), "{why}");

    // Refusals, with nothing left for anyone.
    drain(cs[1], &[&b]).await;
    let dave = Ident::new("dave");
    register(cs[0], &[&dave]).await;
    cs[0]
        .call("send_signal", dave.signal(id, "typing"))
        .await
        .refused("not_member");
    cs[0]
        .call("send_signal", a.signal("AAAAAAAAAAAAAAAAAAAAAA", "typing"))
        .await
        .refused("unknown_room");
    let msg = cs[0]
        .call("send_signal", a.signal(id, "shouting"))
        .await
        .refused("invalid_argument");
    assert!(msg.contains("signal:"), "{msg}");
    let got = cs[1].call("get_messages", b.get(None, None, None)).await.ok();
    assert!(signals_in(&got).is_empty(), "{got}");

    // A member who left is no longer one.
    let room = change(cs[2], &c, Some(&room), Op::Leave, "").await;
    cs[2]
        .call("send_signal", c.signal(room.room_id(), "typing"))
        .await
        .refused("not_member");
}

/// On a server started with `--max-queue 1 --max-signals 1`: a full queue
/// still takes signals (they never count against it), and a recipient
/// holding one signal skips a second sender's (`signals_full`) while the
/// first may replace its own.
pub async fn signals_are_bounded_apart_from_queues(c: &Client) {
    let (a, b, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    let room = room_of_three([c, c, c], [&a, &b, &carol]).await;
    let id = room.room_id();
    drain(c, &[&a, &b, &carol]).await;
    c.call("send_message", b.send("carol", "fills the queue")).await.ok();
    c.call("send_message", a.send("carol", "one too many"))
        .await
        .refused("queue_full");

    let r = c.call("send_signal", a.signal(id, "typing")).await.ok();
    let delivered = delivered_to(&r);
    assert_eq!(delivered, ["bob", "carol"], "a full queue still takes a signal");
    let r = c.call("send_signal", b.signal(id, "typing")).await.ok();
    assert_eq!(r["delivered"], serde_json::json!(["alice"]));
    assert_eq!(r["skipped"][0]["member"], "carol");
    assert_eq!(r["skipped"][0]["reason"], "signals_full");
    c.call("send_signal", a.signal(id, "stopped")).await.ok();

    let got = c.call("get_messages", carol.get(None, None, None)).await.ok();
    let items = got["messages"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{got}");
    assert_eq!(items[0]["message"], "fills the queue");
    let signals = signals_in(&got);
    assert_eq!(
        (signals[0].sender_id.as_str(), signals[0].signal.as_str()),
        ("alice", "stopped")
    );
}
