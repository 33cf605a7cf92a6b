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
    let n1 = TestServer::start(&["--store", &url]).await;
    let n2 = TestServer::start(&["--store", &url]).await;
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
