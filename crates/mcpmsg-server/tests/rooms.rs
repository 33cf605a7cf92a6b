//! Rooms (PROTOCOL §15) on both stores and across nodes: a sealed room of
//! three that every member opens and no one else can, refusals with their
//! codes, and a ghost member written straight into the store that every
//! member's verification refuses.

use mcpmsg_testkit as common;

use common::redis::RedisServer;
use common::rooms::{a_ghost_member_gets_no_key, a_sealed_room_of_three};
use common::TestServer;
use mcpmsg_server::store::{RedisStore, RedisTls};

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_room_of_three_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    a_sealed_room_of_three([&c, &c, &c]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_room_of_three_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let url = redis.url();
    let [n1, n2] = TestServer::two_nodes(&url).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    a_sealed_room_of_three([&c1, &c2, &c1]).await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ghost_member_gets_no_key_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    a_ghost_member_gets_no_key(&c, s.broker.store().as_ref()).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ghost_member_gets_no_key_on_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let s = TestServer::start(&["--store", &url]).await;
    let c = s.client().await;
    let store = RedisStore::connect(&url, &RedisTls::default()).await.unwrap();
    a_ghost_member_gets_no_key(&c, &store).await;
    s.stop().await;
}

/// The "done when" of rooms: an implementation written from PROTOCOL.md
/// alone (tests/independent/check_rooms.py) verifies a live room's log and
/// opens a sealed message as a member.
#[tokio::test(flavor = "multi_thread")]
async fn an_independent_member_verifies_a_live_room_and_opens_its_message() {
    use common::rooms::{room_messages, room_of_three};
    use common::Ident;

    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (a, b, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    let state = room_of_three([&c, &c, &c], [&a, &b, &carol]).await;
    let to = [("bob", b.sealing_key()), ("carol", carol.sealing_key())];
    c.call("send_room_message", a.room_sealed(&state, &to, "from a live room ✓"))
        .await
        .ok();
    let message = room_messages(&c, &b).await.pop().expect("bob has the message");
    c.call("send_signal", carol.signal(state.room_id(), "typing"))
        .await
        .ok();
    let got = c.call("get_messages", b.get(None, None, None)).await.ok();
    let signal = common::signals::signals_in(&got).pop().expect("bob has carol's signal");
    let stdout = independent_member(&c, &b, state.room_id(), message, Some(signal)).await;
    assert!(stdout.contains("ok statement 4: join by carol, epoch 3"), "{stdout}");
    assert!(stdout.contains("ok signal: carol typing"), "{stdout}");
    assert!(stdout.trim_end().ends_with("from a live room ✓"), "{stdout}");
    s.stop().await;
}

/// What tests/independent/check_rooms.py prints when it verifies room
/// `room_id`'s log (with every signer's and consenter's key log, and the
/// server key) and checks `message` as `who`; it must pass.
async fn independent_member(
    c: &common::Client,
    who: &common::Ident,
    room_id: &str,
    message: mcpmsg_core::protocol::tools::RoomDelivered,
    signal: Option<mcpmsg_core::protocol::tools::SignalDelivered>,
) -> String {
    use serde_json::json;
    let log = c.call("get_room_log", who.room_log(room_id)).await.ok();
    let mut kels = serde_json::Map::new();
    let signers = log["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["client_id"].clone());
    let consenters = log["consents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["client_id"].clone());
    for id in signers.chain(consenters) {
        let k = c.call("get_client_keys", json!({ "client_id": id })).await.ok();
        kels.insert(
            id.as_str().unwrap().into(),
            json!({"kel": k["kel"], "accepted_at": k["accepted_at"]}),
        );
    }
    let server_key = c.call("get_server_key", json!({})).await.ok()["server_key"].clone();
    let secret: String = who.sealing[0].to_bytes().iter().map(|x| format!("{x:02x}")).collect();
    let file = json!({
        "kels": kels, "statements": log["statements"], "accepted_at": log["accepted_at"],
        "consents": log.get("consents").cloned().unwrap_or(json!([])), "server_key": server_key,
        "message": message, "signal": signal, "me": who.id, "sealing_secret": secret,
        "now": mcpmsg_core::protocol::now_ms().to_string(),
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room.json");
    std::fs::write(&path, file.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/independent/check_rooms.py"
        ))
        .arg("member")
        .arg(&path)
        .output()
        .expect("python3 is needed for the independent checks");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The same for a pen-pal room: the independent implementation checks the
/// server's `pair` statement against the server key and both consents.
#[tokio::test(flavor = "multi_thread")]
async fn an_independent_member_verifies_a_live_pen_pal_room() {
    use common::rooms::room_messages;
    use common::{register, Ident};
    use mcpmsg_core::protocol::room::RoomState;
    use mcpmsg_core::protocol::tools::ChangeRoomArgs;

    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    let (a, b) = (Ident::new("alice"), Ident::new("bob"));
    register(&c, &[&a, &b]).await;
    c.call("enter_queue", a.enter_queue("Alice", "chess", "60")).await.ok();
    let r = c.call("enter_queue", b.enter_queue("Bob", "chess", "60")).await.ok();
    let room_id = r["room_id"].as_str().unwrap().to_owned();
    let log = c.call("get_room_log", a.room_log(&room_id)).await.ok();
    let first: ChangeRoomArgs = serde_json::from_value(log["statements"][0].clone()).unwrap();
    let state = RoomState::create(&first).unwrap();
    let sealed = b.room_sealed(&state, &[("alice", a.sealing_key())], "pen pal ✓");
    c.call("send_room_message", sealed).await.ok();
    let message = room_messages(&c, &a).await.pop().expect("alice has the message");
    let stdout = independent_member(&c, &a, &room_id, message, None).await;
    assert!(stdout.contains("ok statement 0: pair by alice, epoch 1"), "{stdout}");
    assert!(stdout.trim_end().ends_with("pen pal ✓"), "{stdout}");
    s.stop().await;
}

/// Every room limit refuses with `room_full` naming its flag, an invitee
/// that never checked in with `unknown_recipient`, and nothing changes;
/// a member can still leave a room whose log is full.
#[tokio::test(flavor = "multi_thread")]
async fn room_limits_refuse_with_their_codes() {
    use common::rooms::change;
    use common::{register, Ident};
    use mcpmsg_core::protocol::room::Op;

    let flags = [
        "--max-room-members",
        "2",
        "--max-rooms-per-client",
        "1",
        "--max-room-log",
        "3",
    ];
    let s = TestServer::start(&flags).await;
    let c = s.client().await;
    let (a, b, carol) = (Ident::new("alice"), Ident::new("bob"), Ident::new("carol"));
    register(&c, &[&a, &b, &carol]).await;
    let room = change(&c, &a, None, Op::Create, "").await;
    let msg = c
        .call("change_room", a.room(None, Op::Create, "", "another"))
        .await
        .refused("room_full");
    assert!(msg.contains("--max-rooms-per-client"), "{msg}");
    c.call("change_room", a.room(Some(&room), Op::Invite, "nobody", ""))
        .await
        .refused("unknown_recipient");
    let room = change(&c, &a, Some(&room), Op::Invite, "bob").await;
    let msg = c
        .call("change_room", a.room(Some(&room), Op::Invite, "carol", ""))
        .await
        .refused("room_full");
    assert!(msg.contains("--max-room-members"), "{msg}");
    let room = change(&c, &b, Some(&room), Op::Join, "").await;
    assert_eq!(room.len(), 3);
    let msg = c
        .call("change_room", a.room(Some(&room), Op::Invite, "carol", ""))
        .await
        .refused("room_full");
    assert!(msg.contains("--max-room-log"), "{msg}");
    // Nothing was appended by the refusals; leaving a full room works.
    let log = c.call("get_room_log", a.room_log(room.room_id())).await.ok();
    assert_eq!(log["statements"].as_array().unwrap().len(), 3);
    change(&c, &b, Some(&room), Op::Leave, "").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_reaches_the_other_members_in_memory() {
    let s = TestServer::start(&[]).await;
    let c = s.client().await;
    common::signals::typing_reaches_the_other_members([&c, &c, &c]).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_reaches_the_other_members_across_two_redis_nodes() {
    let redis = RedisServer::start();
    let [n1, n2] = TestServer::two_nodes(&redis.url()).await;
    let (c1, c2) = (n1.client().await, n2.client().await);
    common::signals::typing_reaches_the_other_members([&c1, &c2, &c1]).await;
    n1.stop().await;
    n2.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_are_bounded_apart_from_queues_on_both_stores() {
    let flags = ["--max-queue", "1", "--max-signals", "1"];
    let s = TestServer::start(&flags).await;
    common::signals::signals_are_bounded_apart_from_queues(&s.client().await).await;
    s.stop().await;
    let redis = RedisServer::start();
    let url = redis.url();
    let s = TestServer::start(&[&flags[..], &["--store", &url]].concat()).await;
    common::signals::signals_are_bounded_apart_from_queues(&s.client().await).await;
    s.stop().await;
}
