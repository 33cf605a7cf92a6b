//! Pen-pal pairing (PROTOCOL §16) as clients do it, and the scenarios every
//! store and topology must pass.

use std::collections::{BTreeMap, BTreeSet};

use mcpmsg_core::protocol::room::{Op, RoomState};
use mcpmsg_core::protocol::tools::{EnterQueueArgs, LeaveQueueArgs};
use serde_json::{json, Value};

use super::rooms::{open_room_message, room_messages, verified_room};
use super::{register, Client, Ident};

impl Ident {
    /// enter_queue arguments.
    pub fn enter_queue(&self, display_name: &str, interests: &str, wait_s: &str) -> Value {
        self.signed(EnterQueueArgs {
            client_id: self.id.clone(),
            display_name: display_name.into(),
            interests: interests.into(),
            wait_s: wait_s.into(),
            ..Default::default()
        })
    }

    /// leave_queue arguments.
    pub fn leave_queue(&self) -> Value {
        self.signed(LeaveQueueArgs {
            client_id: self.id.clone(),
            ..Default::default()
        })
    }
}

/// The events of type `event` in `who`'s queue, taken (with everything
/// else there).
pub async fn events(c: &Client, who: &Ident, event: &str) -> Vec<Value> {
    let got = c.call("get_messages", who.get(None, None, None)).await.ok();
    got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["event"] == event)
        .cloned()
        .collect()
}

/// The state of room `room_id` as `who` verifies it.
async fn room_state(c: &Client, who: &Ident, room_id: &str) -> RoomState {
    verified_room(c, who, room_id).await.unwrap().state
}

/// alice waits, bob enters through another client and is paired with her:
/// both are told with `chatroom.found` (partner, display name, key log
/// head), both verify the room (the server's `pair` statement and both
/// consents), exchange sealed messages, and when bob leaves, alice gets
/// `partner.disconnected` and the room is gone.
pub async fn two_pen_pals_talk_and_one_leaves(ca: &Client, cb: &Client) {
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    register(ca, &[&a, &b]).await;
    let r = ca
        .call("enter_queue", a.enter_queue("Alice ✓", "rust,chess", "60"))
        .await
        .ok();
    assert_eq!(r["status"], "waiting", "{r}");
    // Entering again replaces the entry: nobody is paired with itself.
    let r = ca
        .call("enter_queue", a.enter_queue("Alice ✓", "rust,chess", "60"))
        .await
        .ok();
    assert_eq!(r["status"], "waiting", "{r}");
    let r = cb.call("enter_queue", b.enter_queue("Bob", "chess", "60")).await.ok();
    assert_eq!(
        (r["status"].as_str(), r["partner_id"].as_str()),
        (Some("paired"), Some("alice")),
        "{r}"
    );
    let room_id = r["room_id"].as_str().unwrap().to_owned();

    let found_a = events(ca, &a, "chatroom.found").await;
    let found_b = events(cb, &b, "chatroom.found").await;
    assert_eq!((found_a.len(), found_b.len()), (1, 1));
    assert_eq!(found_a[0]["data"]["partner_id"], "bob");
    assert_eq!(found_a[0]["data"]["display_name"], "Bob");
    assert_eq!(found_a[0]["data"]["shared_interests"], "chess");
    assert_eq!(found_a[0]["data"]["partner_kel_head"], b.events[0].hash().unwrap());
    assert_eq!(found_b[0]["data"]["partner_id"], "alice");
    assert_eq!(found_b[0]["data"]["display_name"], "Alice ✓");
    assert_eq!(found_b[0]["data"]["room_id"], room_id.as_str());

    let state = room_state(ca, &a, &room_id).await;
    assert!(state.is_pair());
    assert_eq!(state.members().iter().collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(room_state(cb, &b, &room_id).await, state);
    // Nobody is invited into a pen-pal room.
    let carol = Ident::new("carol");
    register(ca, &[&carol]).await;
    ca.call("change_room", a.room(Some(&state), Op::Invite, "carol", ""))
        .await
        .refused("not_member");

    for (c, from, to_c, to) in [(ca, &a, cb, &b), (cb, &b, ca, &a)] {
        let text = format!("hello from {}", from.id);
        let sealed = from.room_sealed(&state, &[(to.id.as_str(), to.sealing_key())], &text);
        c.call("send_room_message", sealed).await.ok();
        let got = room_messages(to_c, to).await;
        let room = verified_room(to_c, to, &room_id).await.unwrap();
        assert_eq!(open_room_message(to_c, to, &room, &got[0]).await.unwrap(), text);
    }

    cb.call("change_room", b.room(Some(&state), Op::Leave, "", ""))
        .await
        .ok();
    let gone = events(ca, &a, "partner.disconnected").await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0]["data"]["member"], "bob");
    assert_eq!(gone[0]["data"]["reason"], "left");
    assert_eq!(gone[0]["data"]["room_id"], room_id.as_str());
    ca.call("get_room_log", a.room_log(&room_id))
        .await
        .refused("unknown_room");
    let listed = ca.call("list_rooms", a.list_rooms()).await.ok();
    assert_eq!(listed["rooms"], json!([]), "the room ended for both");
}

/// Entering prefers a partner with shared interests, leaving the queue
/// works, and bad entries are refused with their codes.
pub async fn pairing_prefers_shared_interests(c: &Client) {
    let (a, b, carol, dave) = (
        Ident::new("ann"),
        Ident::new("ben"),
        Ident::new("cat"),
        Ident::new("dan"),
    );
    register(c, &[&a, &b, &carol, &dave]).await;
    assert_eq!(
        c.call("enter_queue", a.enter_queue("", "rust", "60")).await.ok()["status"],
        "waiting"
    );
    let r = c.call("enter_queue", b.enter_queue("", "go", "60")).await.ok();
    assert_eq!(
        r["status"], "waiting",
        "no shared interest, and ann has not waited her grace: {r}"
    );
    let r = c.call("enter_queue", carol.enter_queue("", "go,sql", "60")).await.ok();
    assert_eq!(
        r["partner_id"], "ben",
        "the one sharing an interest, though ann waited longer: {r}"
    );
    assert_eq!(c.call("leave_queue", a.leave_queue()).await.ok()["removed"], true);
    assert_eq!(c.call("leave_queue", a.leave_queue()).await.ok()["removed"], false);
    let r = c.call("enter_queue", dave.enter_queue("", "", "60")).await.ok();
    assert_eq!(r["status"], "waiting", "ann left: nobody to pair with: {r}");

    for (interests, wait) in [
        ("Rust", "60"),
        ("a,a", "60"),
        ("a,b,c,d,e,f,g,h,i", "60"),
        ("", "0"),
        ("", "100000"),
    ] {
        let r = c.call("enter_queue", a.enter_queue("", interests, wait)).await;
        r.refused("invalid_argument");
    }
    let r = c.call("enter_queue", a.enter_queue("bad\u{202e}name", "", "60")).await;
    r.refused("invalid_argument");
}

/// `n` clients enter at once through the clients in `cs` in turn: each is
/// paired exactly once, never with itself, in `n / 2` rooms of two.
pub async fn many_enter_and_each_is_paired_once(cs: &[&Client], n: usize) {
    let people: Vec<Ident> = (0..n).map(|i| Ident::new(&format!("p{i:03}"))).collect();
    let refs: Vec<&Ident> = people.iter().collect();
    register(cs[0], &refs).await;
    let calls = people.iter().enumerate().map(|(i, p)| {
        let c = cs[i % cs.len()];
        async move { c.call("enter_queue", p.enter_queue("", "", "120")).await.ok() }
    });
    futures_util::future::join_all(calls).await;
    let mut partner: BTreeMap<String, String> = BTreeMap::new();
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, p) in people.iter().enumerate() {
        let found = events(cs[i % cs.len()], p, "chatroom.found").await;
        assert_eq!(found.len(), 1, "{} was told {} times", p.id, found.len());
        let other = found[0]["data"]["partner_id"].as_str().unwrap().to_owned();
        assert_ne!(other, p.id, "paired with itself");
        partner.insert(p.id.clone(), other);
        let room = found[0]["data"]["room_id"].as_str().unwrap().to_owned();
        rooms.entry(room).or_default().insert(p.id.clone());
    }
    for (p, q) in &partner {
        assert_eq!(partner[q], *p, "{p} and {q} disagree about their pairing");
    }
    assert_eq!(rooms.len(), n / 2);
    assert!(rooms.values().all(|m| m.len() == 2));
}

impl Ident {
    /// block_client arguments.
    pub fn block(&self, other: &str, action: &str) -> Value {
        self.signed(mcpmsg_core::protocol::tools::BlockClientArgs {
            client_id: self.id.clone(),
            blocked_id: other.into(),
            action: action.into(),
            ..Default::default()
        })
    }
}

/// A block list (PROTOCOL §17): a blocked sender's 1:1 messages are
/// refused with `blocked` and nothing is queued (the same request goes
/// through once unblocked: its nonce stayed free); the blocked client is
/// never paired with its blocker; refusals with their codes.
pub async fn blocking_refuses_messages_and_pairing(c: &Client) {
    let (a, b, carol) = (Ident::new("blocker"), Ident::new("blockee"), Ident::new("bystander"));
    register(c, &[&a, &b, &carol]).await;
    let r = c.call("block_client", a.block(&b.id, "block")).await.ok();
    assert_eq!(r["blocked"], json!(["blockee"]));
    let send = b.send(&a.id, "let me in");
    let msg = c.call("send_message", send.clone()).await.refused("blocked");
    assert!(msg.contains("blocker blocks messages from blockee"), "{msg}");
    assert_eq!(
        c.call("get_messages", a.get(None, None, None)).await.ok()["messages"],
        json!([])
    );
    // Others still reach it, and it still reaches the one it blocks.
    c.call("send_message", carol.send(&a.id, "hello")).await.ok();
    c.call("send_message", a.send(&b.id, "go away")).await.ok();

    // Never paired with each other, whichever enters first.
    assert_eq!(
        c.call("enter_queue", a.enter_queue("", "", "60")).await.ok()["status"],
        "waiting"
    );
    let r = c.call("enter_queue", b.enter_queue("", "", "60")).await.ok();
    assert_eq!(r["status"], "waiting", "blockee is not paired with its blocker: {r}");
    c.call("leave_queue", a.leave_queue()).await.ok();
    c.call("leave_queue", b.leave_queue()).await.ok();

    let r = c.call("block_client", a.block(&b.id, "unblock")).await.ok();
    assert_eq!(r["blocked"], json!([]));
    c.call("send_message", send).await.ok();

    c.call("block_client", a.block(&a.id, "block"))
        .await
        .refused("invalid_argument");
    c.call("block_client", a.block(&b.id, "ban"))
        .await
        .refused("invalid_argument");
}
