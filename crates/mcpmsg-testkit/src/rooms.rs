//! Rooms (PROTOCOL §15) as a member does them: signed statements, the log
//! fetched and verified against every signer's key event log, sealed
//! messages opened with the core's checks; and the scenarios every store
//! and topology must pass.

use std::collections::BTreeMap;

use mcpmsg_core::crypto::SigningPublicKey;
use mcpmsg_core::inbox::{SenderLog, TimeRules};
use mcpmsg_core::protocol::kel::{verify_log as verify_kel, Event, KelState};
use mcpmsg_core::protocol::room::{
    check_message, statement, verify_log, Op, RoomSealParts, RoomState, Trust, VerifiedRoom,
};
use mcpmsg_core::protocol::tools::{
    ChangeRoomArgs, GetRoomLogArgs, ListRoomsArgs, RoomDelivered, RoomLog, SendRoomMessageArgs,
};
use mcpmsg_core::protocol::{new_nonce, now_ms};
use mcpmsg_server::store::{LoggedStatement, RoomAppend, Store};
use serde_json::{json, Value};

use super::{register, Client, Ident};

impl Ident {
    /// `op` at the end of `at` (`None`: a create), signed.
    pub fn room(&self, at: Option<&RoomState>, op: Op, member: &str, title: &str) -> Value {
        self.signed(statement(at, op, &self.id, member, title))
    }

    /// get_room_log arguments.
    pub fn room_log(&self, room_id: &str) -> Value {
        self.signed(GetRoomLogArgs {
            client_id: self.id.clone(),
            room_id: room_id.to_owned(),
            ..Default::default()
        })
    }

    /// list_rooms arguments.
    pub fn list_rooms(&self) -> Value {
        self.signed(ListRoomsArgs {
            client_id: self.id.clone(),
            ..Default::default()
        })
    }

    /// A room message sealed for `to` (member id and its sealing key) at
    /// `room`'s epoch.
    pub fn room_sealed(
        &self,
        room: &RoomState,
        to: &[(&str, mcpmsg_core::crypto::SealingPublicKey)],
        text: &str,
    ) -> Value {
        let nonce = new_nonce();
        let parts = RoomSealParts::now(&self.id, room, &nonce);
        let to: Vec<(&str, &_)> = to.iter().map(|(m, k)| (*m, k)).collect();
        serde_json::to_value(SendRoomMessageArgs::seal_and_sign(self.key(), parts, &to, text).unwrap()).unwrap()
    }

    /// An unsealed room message at `room`'s epoch.
    pub fn room_text(&self, room: &RoomState, text: &str) -> Value {
        let nonce = new_nonce();
        let parts = RoomSealParts::now(&self.id, room, &nonce);
        serde_json::to_value(SendRoomMessageArgs::sign_plain(
            self.key(),
            parts,
            "text/markdown",
            text,
        ))
        .unwrap()
    }
}

/// Fetches `room_id`'s log as `who` and verifies it as a member would:
/// every signer's log fetched with get_client_keys, every statement checked.
pub async fn verified_room(c: &Client, who: &Ident, room_id: &str) -> Result<VerifiedRoom, String> {
    let log: RoomLog = serde_json::from_value(c.call("get_room_log", who.room_log(room_id)).await.ok()).unwrap();
    let mut logs = BTreeMap::new();
    let signers = log.statements.iter().map(|s| &s.client_id);
    for who in signers.chain(log.consents.iter().map(|c| &c.client_id)) {
        if !logs.contains_key(who) {
            logs.insert(who.clone(), key_log(c, who).await);
        }
    }
    let accepted: Vec<u64> = log.accepted_at.iter().map(|t| t.parse().unwrap()).collect();
    let info = c.call("get_server_key", json!({})).await.ok();
    let server_key = SigningPublicKey::parse(info["server_key"].as_str().unwrap()).unwrap();
    let trust = Trust {
        logs: &logs,
        server_key: Some(&server_key),
        rules: TimeRules::default(),
    };
    verify_log(&log.statements, &accepted, &log.consents, trust)
}

/// A client's verified key event log and acceptance times.
pub async fn key_log(c: &Client, client_id: &str) -> (KelState, Vec<u64>) {
    let k = c.call("get_client_keys", json!({ "client_id": client_id })).await.ok();
    let events: Vec<Event> = serde_json::from_value(k["kel"].clone()).unwrap();
    let at = k["accepted_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    (verify_kel(&events).unwrap(), at)
}

/// The room messages in `who`'s queue, taken.
pub async fn room_messages(c: &Client, who: &Ident) -> Vec<RoomDelivered> {
    let got = c.call("get_messages", who.get(None, None, None)).await.ok();
    got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "room_message")
        .map(|m| serde_json::from_value(m.clone()).unwrap())
        .collect()
}

/// Opens `m` as `who`, checking it against the verified `room`.
pub async fn open_room_message(
    c: &Client,
    who: &Ident,
    room: &VerifiedRoom,
    m: &RoomDelivered,
) -> Result<String, String> {
    let (state, at) = key_log(c, &m.sender_id).await;
    let sender = SenderLog {
        state: &state,
        accepted_at: Some(&at),
    };
    let secrets: Vec<_> = who.sealing.iter().collect();
    check_message(m, &who.id, room, &sender, &secrets, TimeRules::default(), now_ms()).map(|o| o.text)
}

/// Applies a statement through `c` and returns the room's state after it.
pub async fn change(c: &Client, who: &Ident, at: Option<&RoomState>, op: Op, member: &str) -> RoomState {
    let args = who.room(at, op, member, if at.is_none() { "release train" } else { "" });
    let r = c.call("change_room", args.clone()).await.ok();
    let s: ChangeRoomArgs = serde_json::from_value(args).unwrap();
    let state = match at {
        None => RoomState::create(&s).unwrap(),
        Some(prev) => {
            let mut next = prev.clone();
            next.apply(&s).unwrap();
            next
        }
    };
    assert_eq!(r["room_id"], state.room_id());
    assert_eq!(r["head"], state.head());
    assert_eq!(r["epoch"], state.epoch().to_string());
    state
}

/// alice creates a room and invites bob and carol, who join: each step
/// through its own client (`cs[i]` may be on different nodes).
pub async fn room_of_three(cs: [&Client; 3], who: [&Ident; 3]) -> RoomState {
    let [a, b, c] = who;
    register(cs[0], &[a, b, c]).await;
    let s = change(cs[0], a, None, Op::Create, "").await;
    let s = change(cs[0], a, Some(&s), Op::Invite, &b.id).await;
    let s = change(cs[1], a, Some(&s), Op::Invite, &c.id).await;
    let s = change(cs[1], b, Some(&s), Op::Join, "").await;
    change(cs[2], c, Some(&s), Op::Join, "").await
}

/// The sealed room of three: stored bodies are ciphertext, every member
/// opens every message, a stale epoch and a non-member are refused with
/// their codes, and a removed member cannot open the next message.
pub async fn a_sealed_room_of_three(cs: [&Client; 3]) {
    let (a, b, c) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    let state = room_of_three(cs, [&a, &b, &c]).await;
    assert_eq!(state.epoch(), 3);
    let listed = cs[2].call("list_rooms", c.list_rooms()).await.ok();
    assert_eq!(listed["rooms"][0]["room_id"], state.room_id(), "{listed}");
    assert_eq!(listed["rooms"][0]["members"], json!(["alice", "bob", "carol"]));

    // Events first: bob was invited, then saw carol join. Take them away.
    let events = cs[1].call("get_messages", b.get(None, None, None)).await.ok();
    let kinds: Vec<_> = events["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(kinds, [json!("room.invited"), json!("room.member_joined")], "{events}");
    cs[0].call("get_messages", a.get(None, None, None)).await.ok();
    cs[2].call("get_messages", c.get(None, None, None)).await.ok();

    // Each member sends once; the other two open it.
    let who = [&a, &b, &c];
    for (i, sender) in who.iter().enumerate() {
        let room = verified_room(cs[i], sender, state.room_id()).await.unwrap();
        let to: Vec<_> = who
            .iter()
            .filter(|m| m.id != sender.id)
            .map(|m| (m.id.as_str(), m.sealing_key()))
            .collect();
        let text = format!("from {} to the room", sender.id);
        let r = cs[i]
            .call("send_room_message", sender.room_sealed(&room.state, &to, &text))
            .await
            .ok();
        assert_eq!(r["delivered"].as_array().unwrap().len(), 2, "{r}");
        for (j, member) in who.iter().enumerate().filter(|(j, _)| *j != i) {
            let got = room_messages(cs[j], member).await;
            assert_eq!(got.len(), 1);
            assert!(
                !got[0].message.contains("to the room"),
                "stored and delivered as ciphertext"
            );
            let room = verified_room(cs[j], member, state.room_id()).await.unwrap();
            assert_eq!(open_room_message(cs[j], member, &room, &got[0]).await.unwrap(), text);
        }
    }

    // Stale epoch, and a non-member.
    let mallory = Ident::new("mallory");
    register(cs[0], &[&mallory]).await;
    let s = change(cs[0], &a, Some(&state), Op::Remove, &c.id).await;
    let to = [("bob", b.sealing_key()), ("carol", c.sealing_key())];
    cs[0]
        .call("send_room_message", a.room_sealed(&state, &to, "stale"))
        .await
        .refused("stale_epoch");
    // Sealed for the right epoch but still to carol: the wraps are not the members.
    cs[0]
        .call("send_room_message", a.room_sealed(&s, &to, "to carol too"))
        .await
        .refused("stale_epoch");
    cs[0]
        .call("send_room_message", mallory.room_text(&s, "let me in"))
        .await
        .refused("not_member");
    cs[0]
        .call("get_room_log", mallory.room_log(s.room_id()))
        .await
        .refused("not_member");
    cs[0]
        .call("change_room", mallory.room(Some(&s), Op::Join, "", ""))
        .await
        .refused("not_member");

    // carol was removed: she is told, and the next message is not for her.
    let told = cs[2].call("get_messages", c.get(None, None, None)).await.ok();
    assert_eq!(told["messages"][0]["event"], "room.removed", "{told}");
    let r = cs[0]
        .call("send_room_message", a.room_sealed(&s, &to[..1], "carol is gone"))
        .await
        .ok();
    assert_eq!(r["delivered"], json!(["bob"]));
    assert!(room_messages(cs[2], &c).await.is_empty());
    let bob_got = room_messages(cs[1], &b).await;
    let room = verified_room(cs[1], &b, s.room_id()).await.unwrap();
    let m = bob_got.last().unwrap();
    assert_eq!(open_room_message(cs[1], &b, &room, m).await.unwrap(), "carol is gone");
    let carol_room = verified_room(cs[0], &a, s.room_id()).await.unwrap();
    assert!(open_room_message(
        cs[2],
        &c,
        &carol_room,
        &RoomDelivered {
            recipient_id: c.id.clone(),
            ..m.clone()
        }
    )
    .await
    .is_err());
}

/// A member written straight into the store (no invitation signed by a
/// member, no join signed by itself) gets no key: every member's
/// verification of the log fails at that statement, and a message sealed
/// to the verified members only is refused by the server, which believes
/// its own copy, so the ghost receives nothing either way.
pub async fn a_ghost_member_gets_no_key(c: &Client, store: &dyn Store) {
    let inject = async |at: &RoomState, statement: ChangeRoomArgs| {
        let entry = LoggedStatement {
            statement,
            accepted_at: now_ms(),
            consents: Vec::new(),
        };
        let step = RoomAppend {
            room_id: at.room_id(),
            expected_len: at.len(),
            entry: &entry,
            joins: &[],
            leaves: &[],
            empties: false,
        };
        assert!(store.append_room(step).await.unwrap());
    };
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    let ghost = Ident::new("ghost");
    register(c, &[&a, &b, &ghost]).await;
    let s = change(c, &a, None, Op::Create, "").await;
    let s = change(c, &a, Some(&s), Op::Invite, &b.id).await;
    let s = change(c, &b, Some(&s), Op::Join, "").await;
    // The server's forgery: an invitation "by alice" it cannot sign, and
    // the ghost's join.
    let mut forged: ChangeRoomArgs = serde_json::from_value(ghost.room(Some(&s), Op::Invite, "ghost", "")).unwrap();
    forged.client_id = a.id.clone();
    forged.key_id = a.key().public().kid();
    let mut st = s.clone();
    st.apply(&forged).unwrap();
    inject(&s, forged).await;
    let join: ChangeRoomArgs = serde_json::from_value(ghost.room(Some(&st), Op::Join, "", "")).unwrap();
    inject(&st, join.clone()).await;
    st.apply(&join).unwrap();

    let log = c.call("get_room_log", b.room_log(s.room_id())).await.ok();
    assert_eq!(
        log["members"],
        json!(["alice", "bob", "ghost"]),
        "the server's own reading"
    );
    for who in [&a, &b] {
        let err = verified_room(c, who, s.room_id()).await.unwrap_err();
        assert!(err.starts_with("statement 3 (invite by alice)"), "{err}");
    }
    // alice seals to what she verified: bob. The server wants the ghost too.
    let to = [("bob", b.sealing_key())];
    c.call("send_room_message", a.room_sealed(&st, &to, "not for ghosts"))
        .await
        .refused("stale_epoch");
    let ghost_got = c.call("get_messages", ghost.get(None, None, None)).await.ok();
    assert!(ghost_got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["kind"] != "room_message"));
}
