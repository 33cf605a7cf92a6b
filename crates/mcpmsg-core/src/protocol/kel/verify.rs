//! The rules of PROTOCOL §3, applied one event at a time.

use crate::crypto::{is_fingerprint, KeyError, SealingPublicKey, SigningPublicKey};
use crate::protocol::{check_client_id, parse_decimal, parse_ts, FieldError};

use super::event::{Establishment, Event, Reason};

/// Why an event does not extend a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KelError {
    /// The log has no events.
    #[error("the log is empty: it must start with an inception event")]
    Empty,
    /// A member does not have its protocol form.
    #[error(transparent)]
    Malformed(#[from] FieldError),
    /// A key member is not a valid key (or is a weak one).
    #[error("{field}: {error}")]
    BadKey {
        /// `signing_key`, `sealing_key` or `signer_key`.
        field: &'static str,
        /// What is wrong with it.
        error: KeyError,
    },
    /// The first event is not an inception.
    #[error("event 0 must be an inception, found a {found}")]
    NotInception {
        /// The `type` found.
        found: &'static str,
    },
    /// An inception after seq 0.
    #[error("an inception may only start a log; seq {seq} must be a rotation or revocation")]
    LateInception {
        /// Where it was found.
        seq: u64,
    },
    /// The event names another identity.
    #[error("client_id: the log belongs to {expected:?}, the event names {found:?}")]
    ClientIdMismatch {
        /// The log's identity.
        expected: String,
        /// What the event says.
        found: String,
    },
    /// `seq` is not the next number.
    #[error("seq: expected {expected}, found {found:?}")]
    BadSeq {
        /// The next seq.
        expected: u64,
        /// What the event says.
        found: String,
    },
    /// `prev` is not the hash of the previous event.
    #[error("prev: expected the hash of event {seq_before} ({expected}), found {found:?}")]
    BadPrev {
        /// Seq of the event it should point at.
        seq_before: u64,
        /// Its hash.
        expected: String,
        /// What the event says.
        found: String,
    },
    /// An event after a final revocation.
    #[error("the identity was revoked at seq {revoked_at}: no event may follow")]
    AfterRevocation {
        /// Seq of the revocation.
        revoked_at: u64,
    },
    /// An event signed by the current key after a suspension (A1): only
    /// the committed next key may rotate or finally revoke.
    #[error("the identity was suspended at seq {suspended_at}: only the committed next key may follow, with a rotation (recovery) or a revocation (final)")]
    Suspended {
        /// Seq of the suspending revocation.
        suspended_at: u64,
    },
    /// A rotation to a key that is not the committed next key.
    #[error("rotation: signing_key {kid} is not the committed next key (its fingerprint must equal next_key_digest {committed})")]
    NotCommitted {
        /// Kid of the key the rotation names.
        kid: String,
        /// The committed digest.
        committed: String,
    },
    /// A revocation signed by neither the current nor the committed next key.
    #[error("revocation: signer_key {kid} is neither the current signing key nor the committed next key")]
    UnauthorizedSigner {
        /// Kid of the signer.
        kid: String,
    },
    /// `reason` is not one of the three.
    #[error("reason: expected superseded, compromised or retired, found {0:?}")]
    BadReason(String),
    /// The event's signature does not verify under its key.
    #[error("sig: the signature does not verify (verify_strict) under {kid}")]
    BadSignature {
        /// Kid of the key.
        kid: String,
    },
    /// A log that differs from a stored or pinned one at `seq`.
    #[error("the log forks from the known one at seq {seq}")]
    Fork {
        /// First differing seq.
        seq: u64,
    },
    /// A log shorter than the stored or pinned one.
    #[error("the log rolls back: it ends at seq {found}, the known one at seq {known}")]
    Rollback {
        /// Seq of the known head.
        known: u64,
        /// Seq of the submitted head.
        found: u64,
    },
}

/// A [`KelError`] with the position of the event that caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {error}")]
pub struct LogError {
    /// Index of the offending event in the submitted array.
    pub index: usize,
    /// What is wrong.
    pub error: KelError,
}

/// The keys an establishment event put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstablishedKeys {
    /// Seq of the establishment event.
    pub seq: u64,
    /// Its signing key.
    pub signing_key: SigningPublicKey,
    /// Its sealing key.
    pub sealing_key: SealingPublicKey,
}

/// A revocation event in a verified log (amendment A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationEntry {
    /// Its seq.
    pub seq: u64,
    /// Its reason.
    pub reason: Reason,
    /// Signed by the committed next key: the identity has ended. Signed by
    /// the current key: the identity is suspended until the next key
    /// rotates (recovery) or finally revokes.
    pub is_final: bool,
}

/// Whether an identity may act now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KelStatus {
    /// Its current key may sign.
    Active,
    /// A revocation by the current key: every request is refused until the
    /// committed next key rotates or finally revokes.
    Suspended {
        /// Seq of the suspending revocation.
        seq: u64,
        /// Its reason.
        reason: Reason,
    },
    /// A revocation by the committed next key: the identity has ended.
    Revoked {
        /// Seq of the final revocation.
        seq: u64,
        /// Its reason.
        reason: Reason,
    },
}

impl KelStatus {
    /// `active`, `suspended` or `revoked`, as results say it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended { .. } => "suspended",
            Self::Revoked { .. } => "revoked",
        }
    }
}

/// What a verified log proves. Only built by checking events from inception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KelState {
    client_id: String,
    seq: u64,
    head: String,
    keys: Vec<EstablishedKeys>,
    next_key_digest: String,
    status: KelStatus,
    revocations: Vec<RevocationEntry>,
}

fn key<T>(field: &'static str, r: Result<T, KeyError>) -> Result<T, KelError> {
    r.map_err(|error| KelError::BadKey { field, error })
}

fn verify_sig(event: &Event, key: &SigningPublicKey) -> Result<(), KelError> {
    let sig = event.sig_bytes()?;
    key.verify(&event.sign_input(), &sig)
        .map_err(|_| KelError::BadSignature { kid: key.kid() })
}

/// Keys and commitment of an establishment event, its signature checked.
fn establishment(event: &Event, e: &Establishment) -> Result<(SigningPublicKey, SealingPublicKey), KelError> {
    let signing = key("signing_key", SigningPublicKey::parse(&e.signing_key))?;
    let sealing = key("sealing_key", SealingPublicKey::parse(&e.sealing_key))?;
    if !is_fingerprint(&e.next_key_digest) {
        return Err(FieldError::new(
            "next_key_digest",
            "64 lowercase hex characters: SHA-256 of the next signing key's text",
        )
        .into());
    }
    parse_ts("ts", &e.ts)?;
    verify_sig(event, &signing)?;
    Ok((signing, sealing))
}

impl KelState {
    /// Starts a state from an inception event (proof of possession checked).
    pub fn incept(event: &Event) -> Result<Self, KelError> {
        let Event::Inception(e) = event else {
            return Err(KelError::NotInception { found: event.kind() });
        };
        check_client_id("client_id", &e.client_id)?;
        if e.seq != "0" {
            return Err(KelError::BadSeq {
                expected: 0,
                found: e.seq.clone(),
            });
        }
        if !e.prev.is_empty() {
            return Err(FieldError::new("prev", "the empty string in an inception").into());
        }
        let (signing_key, sealing_key) = establishment(event, e)?;
        Ok(Self {
            client_id: e.client_id.clone(),
            seq: 0,
            head: event.hash()?,
            keys: vec![EstablishedKeys {
                seq: 0,
                signing_key,
                sealing_key,
            }],
            next_key_digest: e.next_key_digest.clone(),
            status: KelStatus::Active,
            revocations: Vec::new(),
        })
    }

    /// Checks that `event` extends this log and returns the new state.
    pub fn apply(&self, event: &Event) -> Result<Self, KelError> {
        if let KelStatus::Revoked { seq, .. } = self.status {
            return Err(KelError::AfterRevocation { revoked_at: seq });
        }
        if event.client_id() != self.client_id {
            return Err(KelError::ClientIdMismatch {
                expected: self.client_id.clone(),
                found: event.client_id().to_owned(),
            });
        }
        let seq = self.seq + 1;
        if parse_decimal("seq", event.seq()).ok() != Some(seq) {
            return Err(KelError::BadSeq {
                expected: seq,
                found: event.seq().to_owned(),
            });
        }
        if event.prev() != self.head {
            return Err(KelError::BadPrev {
                seq_before: self.seq,
                expected: self.head.clone(),
                found: event.prev().to_owned(),
            });
        }
        let mut next = self.clone();
        match event {
            Event::Inception(_) => return Err(KelError::LateInception { seq }),
            Event::Rotation(e) => {
                // Pre-rotation: only the key committed by the previous
                // establishment event may take over.
                let signing = key("signing_key", SigningPublicKey::parse(&e.signing_key))?;
                if signing.fingerprint() != self.next_key_digest {
                    return Err(KelError::NotCommitted {
                        kid: signing.kid(),
                        committed: self.next_key_digest.clone(),
                    });
                }
                let (signing_key, sealing_key) = establishment(event, e)?;
                next.keys.push(EstablishedKeys {
                    seq,
                    signing_key,
                    sealing_key,
                });
                next.next_key_digest = e.next_key_digest.clone();
                // A1: the owner's next key lifts a suspension, under new keys.
                next.status = KelStatus::Active;
            }
            Event::Revocation(r) => {
                let signer = key("signer_key", SigningPublicKey::parse(&r.signer_key))?;
                // A1: the committed next key ends the identity; the current
                // key only suspends it, so a thief holding just the current
                // key cannot lock the owner out. Once suspended, the current
                // key has no more say.
                let is_final = signer.fingerprint() == self.next_key_digest;
                if !is_final {
                    if let KelStatus::Suspended { seq, .. } = self.status {
                        return Err(KelError::Suspended { suspended_at: seq });
                    }
                    if signer != self.current().signing_key {
                        return Err(KelError::UnauthorizedSigner { kid: signer.kid() });
                    }
                }
                let reason = Reason::parse(&r.reason).ok_or_else(|| KelError::BadReason(r.reason.clone()))?;
                parse_ts("ts", &r.ts)?;
                verify_sig(event, &signer)?;
                next.status = if is_final {
                    KelStatus::Revoked { seq, reason }
                } else {
                    KelStatus::Suspended { seq, reason }
                };
                next.revocations.push(RevocationEntry { seq, reason, is_final });
            }
        }
        next.seq = seq;
        next.head = event.hash()?;
        Ok(next)
    }

    /// Checks that `submitted` starts with exactly `stored` (the log this
    /// state was built from) and applies the events past it. Returns the new
    /// state and how many events were new.
    pub fn extend(&self, stored: &[Event], submitted: &[Event]) -> Result<(Self, usize), LogError> {
        if let Some(index) = stored.iter().zip(submitted).position(|(a, b)| a != b) {
            return Err(LogError {
                index,
                error: KelError::Fork { seq: index as u64 },
            });
        }
        if submitted.len() < stored.len() {
            return Err(LogError {
                index: submitted.len(),
                error: KelError::Rollback {
                    known: self.seq,
                    found: submitted.len().saturating_sub(1) as u64,
                },
            });
        }
        let mut state = self.clone();
        for (index, event) in submitted.iter().enumerate().skip(stored.len()) {
            state = state.apply(event).map_err(|error| LogError { index, error })?;
        }
        Ok((state, submitted.len() - stored.len()))
    }

    /// The identity.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Seq of the last event.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Hash of the last event.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The keys in force now (the last establishment event's).
    pub fn current(&self) -> &EstablishedKeys {
        self.keys.last().expect("a state always has its inception keys")
    }

    /// Every establishment's keys, oldest first.
    pub fn history(&self) -> &[EstablishedKeys] {
        &self.keys
    }

    /// The inception signing key: the identity's stable anchor.
    pub fn inception_key(&self) -> &SigningPublicKey {
        &self.keys[0].signing_key
    }

    /// Fingerprint of the inception key: what people compare out of band.
    pub fn fingerprint(&self) -> String {
        self.inception_key().fingerprint()
    }

    /// The committed next key's fingerprint.
    pub fn next_key_digest(&self) -> &str {
        &self.next_key_digest
    }

    /// Seq and reason of the revocation that stops the identity now, if
    /// it is suspended or finally revoked: either way it may not act.
    pub fn revoked(&self) -> Option<(u64, Reason)> {
        match self.status {
            KelStatus::Active => None,
            KelStatus::Suspended { seq, reason } | KelStatus::Revoked { seq, reason } => Some((seq, reason)),
        }
    }

    /// Active, suspended or revoked (A1).
    pub fn status(&self) -> KelStatus {
        self.status
    }

    /// Every revocation in the log, suspensions included, oldest first.
    pub fn revocations(&self) -> &[RevocationEntry] {
        &self.revocations
    }
}

/// Verifies a whole log from inception.
pub fn verify_log(events: &[Event]) -> Result<KelState, LogError> {
    let (first, rest) = events.split_first().ok_or(LogError {
        index: 0,
        error: KelError::Empty,
    })?;
    let mut state = KelState::incept(first).map_err(|error| LogError { index: 0, error })?;
    for (i, event) in rest.iter().enumerate() {
        state = state.apply(event).map_err(|error| LogError { index: i + 1, error })?;
    }
    Ok(state)
}

/// Verifies a log against a pinned `(seq, head)`: the log must reach the
/// pinned seq and hold the pinned event there (no rollback, no fork).
pub fn check_pin(events: &[Event], pinned_seq: u64, pinned_head: &str) -> Result<KelState, LogError> {
    let state = verify_log(events)?;
    if state.seq() < pinned_seq {
        return Err(LogError {
            index: events.len(),
            error: KelError::Rollback {
                known: pinned_seq,
                found: state.seq(),
            },
        });
    }
    let index = pinned_seq as usize;
    if events[index].hash().ok().as_deref() != Some(pinned_head) {
        return Err(LogError {
            index,
            error: KelError::Fork { seq: pinned_seq },
        });
    }
    Ok(state)
}
