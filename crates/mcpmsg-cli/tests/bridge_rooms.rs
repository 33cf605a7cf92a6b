//! Rooms and pairing through the signing bridge, as an IDE's model uses
//! them: two bridges paired through enter_queue exchange sealed messages,
//! each IDE is pushed `chatroom.found`, `message.received` and, when the
//! partner leaves, `partner.disconnected`.

mod common;

use common::ide::{ide_bridge, next};
use common::*;
use rmcp::model::CallToolRequestParams;
use serde_json::{json, Value};

/// The model calls `tool` through an IDE's bridge.
async fn call(
    ide: &rmcp::service::RunningService<rmcp::RoleClient, common::ide::Ide>,
    tool: &str,
    args: Value,
) -> Value {
    let Value::Object(map) = args else { unreachable!() };
    let r = ide
        .peer()
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(map))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{tool}: {:?}", r.content);
    r.structured_content.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_bridges_paired_by_the_queue_talk_sealed_and_the_partner_is_told_of_a_leave() {
    let s = Server::start(0).await;
    let (alice, bob) = (User::new("alice", &s.url()), User::new("bob", &s.url()));
    let (ide_a, mut pushed_a) = ide_bridge(&alice).await;
    let (ide_b, mut pushed_b) = ide_bridge(&bob).await;

    let r = call(
        &ide_a,
        "enter_queue",
        json!({"display_name": "Alice", "interests": "chess", "wait_s": 60}),
    )
    .await;
    assert_eq!(r["status"], "waiting", "{r}");
    let r = call(&ide_b, "enter_queue", json!({"interests": "chess"})).await;
    assert_eq!(r["status"], "paired", "{r}");
    let room = r["room_id"].as_str().unwrap().to_owned();

    // alice's idle IDE is woken with the seed's name for it.
    let found = next(&mut pushed_a, "notifications/claude/channel").await;
    assert_eq!(found["meta"]["event"], "chatroom.found", "{found}");
    let read = call(&ide_a, "get_messages", json!({})).await;
    let event = &read["messages"][0];
    assert_eq!(
        (event["event"].as_str(), event["verified"].as_bool()),
        (Some("chatroom.found"), Some(true)),
        "{read}"
    );
    assert_eq!(event["data"]["partner_id"], "bob");
    assert_eq!(event["data"]["room_id"], room.as_str());

    let r = call(
        &ide_a,
        "send_room_message",
        json!({"room_id": room, "message": "hello, pen pal"}),
    )
    .await;
    assert_eq!(r["delivered"], json!(["bob"]));
    let note = loop {
        let n = next(&mut pushed_b, "notifications/claude/channel").await;
        if n["meta"]["event"] == "message.received" {
            break n;
        }
    };
    assert_eq!(note["meta"]["room_id"], room.as_str(), "{note}");
    let read = call(&ide_b, "get_messages", json!({})).await;
    let m = read["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["room_id"] == room.as_str())
        .unwrap_or_else(|| panic!("{read}"))
        .clone();
    assert_eq!(
        (m["text"].as_str(), m["sealed"].as_bool(), m["from"].as_str()),
        (Some("hello, pen pal"), Some(true), Some("alice"))
    );

    // bob types: alice's IDE is pushed `typing`, verified, and her next
    // read shows it while it lasts.
    let r = call(&ide_b, "send_typing", json!({"room_id": room})).await;
    assert_eq!(r["delivered"], json!(["alice"]), "{r}");
    let typing = loop {
        let n = next(&mut pushed_a, "notifications/claude/channel").await;
        if n["meta"]["event"] == "typing" {
            break n;
        }
    };
    assert_eq!(
        (typing["meta"]["sender"].as_str(), typing["meta"]["signal"].as_str()),
        (Some("bob"), Some("typing")),
        "{typing}"
    );
    let read = call(&ide_a, "get_messages", json!({})).await;
    assert_eq!(read["signals"][0]["from"], "bob", "{read}");
    assert_eq!(read["signals"][0]["room_id"], room.as_str());

    let members = call(&ide_b, "room_members", json!({"room_id": room})).await;
    assert_eq!(members["members"], json!(["alice", "bob"]));
    call(&ide_b, "leave_chat", json!({"room_id": room})).await;
    let gone = next(&mut pushed_a, "notifications/claude/channel").await;
    assert_eq!(gone["meta"]["event"], "partner.disconnected", "{gone}");
    let read = call(&ide_a, "get_messages", json!({})).await;
    assert_eq!(read["messages"][0]["data"]["reason"], "left", "{read}");
    assert_eq!(call(&ide_a, "list_rooms", json!({})).await["rooms"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_room_made_and_joined_through_bridges() {
    let s = Server::start(0).await;
    let (alice, bob) = (User::new("alice", &s.url()), User::new("bob", &s.url()));
    let (ide_a, _pa) = ide_bridge(&alice).await;
    let (ide_b, mut pushed_b) = ide_bridge(&bob).await;
    let room = call(&ide_a, "create_room", json!({"title": "review"})).await["room_id"]
        .as_str()
        .unwrap()
        .to_owned();
    call(&ide_a, "invite", json!({"room_id": room, "member": "bob"})).await;
    let invited = next(&mut pushed_b, "notifications/claude/channel").await;
    assert_eq!(invited["meta"]["event"], "room.invited");
    call(&ide_b, "join_room", json!({"room_id": room})).await;
    call(
        &ide_b,
        "send_room_message",
        json!({"room_id": room, "message": "joined"}),
    )
    .await;
    let rooms = call(&ide_a, "list_rooms", json!({})).await;
    assert_eq!(rooms["rooms"][0]["members"], json!(["alice", "bob"]));

    // The protocol tools: alice registers through her CLI; bob's model
    // discovers it, reads it verified, and negotiates after both declare.
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("s.json");
    std::fs::write(&schema, r#"{"type":"object"}"#).unwrap();
    let schema = schema.to_str().unwrap();
    alice.mcpmsg(&[
        "protocol",
        "register",
        "code_review",
        "1.1.0",
        "--schema",
        schema,
        "--tags",
        "ci",
    ]);
    let found = call(&ide_b, "discover_protocols", json!({"tag": "ci"})).await;
    assert_eq!(found["protocols"][0]["name"], "code_review", "{found}");
    let p = call(&ide_b, "get_protocol", json!({"name": "code_review", "version": "^1"})).await;
    assert_eq!(p["registration"]["client_id"], "alice");
    alice.mcpmsg(&["declare", "--protocols", "code_review@1.1.0"]);
    bob.mcpmsg(&["declare", "--protocols", "code_review@1.1.0"]);
    let n = call(&ide_b, "negotiate", json!({"peer": "alice"})).await;
    assert_eq!(n["protocols"][0]["version"], "1.1.0", "{n}");
    s.stop().await;
}
