//! Every rule of PROTOCOL §3, one refusal at a time, each with its exact error.

use super::*;
use crate::crypto::KeyError;
use crate::crypto::{b64, SealingSecret, SigningSecret};
use crate::protocol::FieldError;

const TS: u64 = 1_700_000_000_000;

/// Keys k0 (inception), k1 (committed by k0's event), k2, k3, and a log.
struct Fixture {
    k: Vec<SigningSecret>,
    seal: SealingSecret,
}

impl Fixture {
    fn new() -> Self {
        Self {
            k: (0..4u8).map(|i| SigningSecret::from_seed(&[i + 1; 32])).collect(),
            seal: SealingSecret::from_bytes(&[42; 32]),
        }
    }

    fn inception(&self) -> Event {
        Event::inception("alice", &self.k[0], &self.seal.public(), &self.k[1].public(), TS)
    }

    /// Rotation number `n` (1-based) on top of `events`, signed by `signer`.
    fn rotation(&self, events: &[Event], signer: usize) -> Event {
        let prev = events.last().unwrap().hash().unwrap();
        Event::rotation(
            "alice",
            events.len() as u64,
            &prev,
            &self.k[signer],
            &self.seal.public(),
            &self.k[signer + 1].public(),
            TS + 1,
        )
    }

    fn revocation(&self, events: &[Event], signer: usize) -> Event {
        let prev = events.last().unwrap().hash().unwrap();
        Event::revocation(
            "alice",
            events.len() as u64,
            &prev,
            &self.k[signer],
            Reason::Retired,
            TS + 2,
        )
    }

    /// inception, rotation to k1, rotation to k2.
    fn log(&self) -> Vec<Event> {
        let mut log = vec![self.inception()];
        log.push(self.rotation(&log, 1));
        log.push(self.rotation(&log, 2));
        log
    }
}

fn err_at(events: &[Event]) -> (usize, KelError) {
    let e = verify_log(events).unwrap_err();
    (e.index, e.error)
}

/// Re-signs an edited establishment event with `signer`, so only the edit is wrong.
fn resign(event: &mut Event, signer: &SigningSecret) {
    let sig = b64::encode(&signer.sign(&event.sign_input()));
    match event {
        Event::Inception(e) | Event::Rotation(e) => e.sig = sig,
        Event::Revocation(r) => r.sig = sig,
    }
}

#[test]
fn a_valid_log_verifies_and_says_what_it_proves() {
    let f = Fixture::new();
    let mut log = f.log();
    let state = verify_log(&log).unwrap();
    assert_eq!(state.client_id(), "alice");
    assert_eq!(state.seq(), 2);
    assert_eq!(state.head(), log[2].hash().unwrap());
    assert_eq!(state.current().signing_key, f.k[2].public());
    assert_eq!(state.inception_key(), &f.k[0].public());
    assert_eq!(state.fingerprint(), f.k[0].public().fingerprint());
    assert_eq!(state.next_key_digest(), f.k[3].public().fingerprint());
    assert_eq!(state.history().len(), 3);
    assert_eq!(state.revoked(), None);
    log.push(f.revocation(&log, 2));
    assert_eq!(verify_log(&log).unwrap().revoked(), Some((3, Reason::Retired)));
}

#[test]
fn json_form_has_exactly_the_protocol_members() {
    let f = Fixture::new();
    let event = f.inception();
    let value = serde_json::to_value(&event).unwrap();
    let mut members: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
    members.sort();
    assert_eq!(
        members,
        [
            "client_id",
            "next_key_digest",
            "prev",
            "sealing_key",
            "seq",
            "sig",
            "signing_key",
            "ts",
            "type"
        ]
    );
    assert!(value.as_object().unwrap().values().all(|v| v.is_string()));
    assert_eq!(serde_json::from_value::<Event>(value.clone()).unwrap(), event);

    let mut extra = value.clone();
    extra["note"] = "hi".into();
    assert!(
        serde_json::from_value::<Event>(extra).is_err(),
        "unknown member accepted"
    );
    let mut missing = value.clone();
    missing.as_object_mut().unwrap().remove("ts");
    assert!(
        serde_json::from_value::<Event>(missing).is_err(),
        "missing member accepted"
    );
    let mut number = value.clone();
    number["seq"] = 0.into();
    assert!(
        serde_json::from_value::<Event>(number).is_err(),
        "non-string member accepted"
    );
    let mut kind = value;
    kind["type"] = "genesis".into();
    assert!(serde_json::from_value::<Event>(kind).is_err(), "unknown type accepted");
}

#[test]
fn rotation_signed_by_the_current_key_instead_of_the_committed_next_key() {
    let f = Fixture::new();
    let mut log = vec![f.inception()];
    // k0 is current; only k1 was committed. A thief holding k0 tries to
    // rotate to a key of their own, signing with k0.
    let prev = log[0].hash().unwrap();
    log.push(Event::rotation(
        "alice",
        1,
        &prev,
        &f.k[0],
        &f.seal.public(),
        &f.k[3].public(),
        TS,
    ));
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::NotCommitted {
                kid: f.k[0].public().kid(),
                committed: f.k[1].public().fingerprint()
            }
        )
    );
}

#[test]
fn seq_gap_and_wrong_prev() {
    let f = Fixture::new();
    let mut log = f.log();
    log.remove(1);
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::BadSeq {
                expected: 1,
                found: "2".into()
            }
        )
    );

    let mut log = f.log();
    let Event::Rotation(e) = &mut log[2] else {
        unreachable!()
    };
    e.prev = "00".repeat(32);
    resign(&mut log[2], &f.k[2]);
    let expected = log[1].hash().unwrap();
    assert_eq!(
        err_at(&log),
        (
            2,
            KelError::BadPrev {
                seq_before: 1,
                expected,
                found: "00".repeat(32)
            }
        )
    );

    let mut log = f.log();
    let Event::Rotation(e) = &mut log[1] else {
        unreachable!()
    };
    e.seq = "01".into();
    resign(&mut log[1], &f.k[1]);
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::BadSeq {
                expected: 1,
                found: "01".into()
            }
        )
    );
}

#[test]
fn nothing_after_a_revocation() {
    let f = Fixture::new();
    // A revocation by the committed next key (k1) is final (A1).
    let mut log = vec![f.inception()];
    log.push(f.revocation(&log, 1));
    log.push(f.rotation(&log, 1));
    assert_eq!(err_at(&log), (2, KelError::AfterRevocation { revoked_at: 1 }));
}

#[test]
fn a_revocation_by_the_current_key_suspends_and_the_next_key_recovers() {
    let f = Fixture::new();
    let mut log = vec![f.inception()];
    // A thief holding only k0 suspends the identity: it may not act...
    log.push(f.revocation(&log, 0));
    let suspended = verify_log(&log).unwrap();
    assert_eq!(
        suspended.status(),
        KelStatus::Suspended {
            seq: 1,
            reason: Reason::Retired
        }
    );
    assert_eq!(suspended.revoked(), Some((1, Reason::Retired)));
    // ...and k0 has no further say: it can neither revoke again nor rotate.
    let mut again = log.clone();
    again.push(f.revocation(&again, 0));
    assert_eq!(err_at(&again), (2, KelError::Suspended { suspended_at: 1 }));
    // The owner, holding k1, recovers with a rotation under new keys.
    let mut recovered = log.clone();
    recovered.push(f.rotation(&recovered, 1));
    let state = verify_log(&recovered).unwrap();
    assert_eq!(state.status(), KelStatus::Active);
    assert_eq!(state.current().signing_key, f.k[1].public());
    assert_eq!(state.revocations().len(), 1);
    assert!(!state.revocations()[0].is_final);
    // Or ends it for good with a revocation by k1.
    let mut ended = log;
    ended.push(f.revocation(&ended, 1));
    let state = verify_log(&ended).unwrap();
    assert_eq!(
        state.status(),
        KelStatus::Revoked {
            seq: 2,
            reason: Reason::Retired
        }
    );
    assert!(state.revocations()[1].is_final);
}

#[test]
fn revocation_by_the_current_or_committed_next_key_only() {
    let f = Fixture::new();
    let base = vec![f.inception()];
    for signer in [0, 1] {
        let mut log = base.clone();
        log.push(f.revocation(&log, signer));
        assert!(verify_log(&log).is_ok(), "signer k{signer}");
    }
    let mut log = base.clone();
    log.push(f.revocation(&log, 2));
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::UnauthorizedSigner {
                kid: f.k[2].public().kid()
            }
        )
    );

    let mut log = base;
    log.push(f.revocation(&log, 0));
    let Event::Revocation(r) = &mut log[1] else {
        unreachable!()
    };
    r.reason = "bored".into();
    resign(&mut log[1], &f.k[0]);
    assert_eq!(err_at(&log), (1, KelError::BadReason("bored".into())));
}

#[test]
fn weak_and_malformed_keys_are_refused() {
    let f = Fixture::new();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.signing_key = format!("ed25519:{}", b64::encode(&identity));
    assert_eq!(
        err_at(&[event]),
        (
            0,
            KelError::BadKey {
                field: "signing_key",
                error: KeyError::Weak
            }
        )
    );

    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.sealing_key = format!("x25519:{}", b64::encode(&[0; 32]));
    assert_eq!(
        err_at(&[event]),
        (
            0,
            KelError::BadKey {
                field: "sealing_key",
                error: KeyError::Weak
            }
        )
    );

    // Standard-alphabet base64 in a key.
    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.signing_key = e.signing_key.replace('-', "+").replace('_', "/");
    if !e.signing_key.contains(['+', '/']) {
        e.signing_key.push('+');
    }
    assert!(matches!(
        err_at(&[event]),
        (
            0,
            KelError::BadKey {
                field: "signing_key",
                error: KeyError::Encoding(_)
            }
        )
    ));
}

#[test]
fn padded_or_non_url_signatures_are_refused() {
    let f = Fixture::new();
    let expected = KelError::Malformed(FieldError::new(
        "sig",
        "base64url (no padding) of a 64-byte Ed25519 signature",
    ));
    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.sig.push_str("==");
    assert_eq!(err_at(&[event]), (0, expected.clone()));

    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.sig = e.sig.replace('-', "+").replace('_', "/");
    let sig = e.sig.clone();
    let result = err_at(&[event]);
    if sig.contains(['+', '/']) {
        assert_eq!(result, (0, expected));
    } else {
        panic!("fixture signature has no - or _; pick another seed");
    }
}

#[test]
fn tampered_events_fail_their_signature() {
    let f = Fixture::new();
    let mut log = f.log();
    let Event::Rotation(e) = &mut log[1] else {
        unreachable!()
    };
    e.ts = (TS + 99).to_string();
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::BadSignature {
                kid: f.k[1].public().kid()
            }
        )
    );
}

#[test]
fn inception_only_first_and_identity_fixed() {
    let f = Fixture::new();
    let log = f.log();
    assert_eq!(err_at(&log[1..]), (0, KelError::NotInception { found: "rotation" }));
    assert_eq!(err_at(&[]), (0, KelError::Empty));

    let mut bad = vec![f.inception()];
    let mut again = f.inception();
    let Event::Inception(e) = &mut again else {
        unreachable!()
    };
    e.seq = "1".into();
    e.prev = bad[0].hash().unwrap();
    resign(&mut again, &f.k[0]);
    bad.push(again);
    assert_eq!(err_at(&bad), (1, KelError::LateInception { seq: 1 }));

    let mut log = f.log();
    let Event::Rotation(e) = &mut log[1] else {
        unreachable!()
    };
    e.client_id = "mallory".into();
    resign(&mut log[1], &f.k[1]);
    assert_eq!(
        err_at(&log),
        (
            1,
            KelError::ClientIdMismatch {
                expected: "alice".into(),
                found: "mallory".into()
            }
        )
    );

    let mut event = f.inception();
    let Event::Inception(e) = &mut event else {
        unreachable!()
    };
    e.client_id = "-alice".into();
    resign(&mut event, &f.k[0]);
    assert!(matches!(
        err_at(&[event]),
        (0, KelError::Malformed(FieldError { field: "client_id", .. }))
    ));
}

#[test]
fn extension_refuses_forks_and_rollbacks() {
    let f = Fixture::new();
    let log = f.log();
    let stored = &log[..2];
    let state = verify_log(stored).unwrap();
    let (extended, added) = state.extend(stored, &log).unwrap();
    assert_eq!((extended.seq(), added), (2, 1));
    assert_eq!(state.extend(stored, stored).unwrap().1, 0);

    // A fork: a different (validly signed) event at seq 1.
    let mut forked = vec![log[0].clone()];
    forked.push(f.revocation(&forked, 0));
    assert_eq!(
        state.extend(stored, &forked).unwrap_err().error,
        KelError::Fork { seq: 1 }
    );
    assert_eq!(
        state.extend(stored, &log[..1]).unwrap_err().error,
        KelError::Rollback { known: 1, found: 0 }
    );

    assert_eq!(check_pin(&log, 1, &log[1].hash().unwrap()).unwrap().seq(), 2);
    assert_eq!(
        check_pin(&forked, 1, &log[1].hash().unwrap()).unwrap_err().error,
        KelError::Fork { seq: 1 }
    );
    assert_eq!(
        check_pin(&log[..2], 2, &log[2].hash().unwrap()).unwrap_err().error,
        KelError::Rollback { known: 2, found: 1 }
    );
}
