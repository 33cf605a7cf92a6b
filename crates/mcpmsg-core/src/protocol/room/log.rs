//! The rules of a membership log, without signatures: what the server
//! enforces on every statement it accepts and what every member re-checks
//! (with signatures, in `verify`) before it trusts the log.

use std::collections::BTreeSet;

use super::{room_id_of, statement_hash, Op, MAX_TITLE_CHARS};
use crate::protocol::tools::ChangeRoomArgs;
use crate::protocol::{check_client_id, is_printable, parse_decimal};

/// Which rule a statement breaks: says which refusal code it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRule {
    /// A member of the wrong form (`invalid_argument`).
    Malformed,
    /// The signer may not do this (`not_member`).
    NotAllowed,
    /// It does not extend the log as it is (`stale_epoch`): another
    /// statement came first.
    Stale,
}

/// A statement that does not fit the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RoomError {
    /// The rule broken.
    pub rule: RoomRule,
    /// What is wrong and what to do, naming the member at fault.
    pub message: String,
}

fn malformed(message: impl Into<String>) -> RoomError {
    RoomError {
        rule: RoomRule::Malformed,
        message: message.into(),
    }
}

fn not_allowed(message: impl Into<String>) -> RoomError {
    RoomError {
        rule: RoomRule::NotAllowed,
        message: message.into(),
    }
}

/// What a membership log says: who the owner and the members are, who is
/// invited, the epoch, and where the log ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    room_id: String,
    title: String,
    owner: String,
    members: BTreeSet<String>,
    invited: BTreeSet<String>,
    epoch: u64,
    len: u64,
    head: String,
    /// A pen-pal room: its two members, nobody invited, nobody removed.
    pair: bool,
}

impl RoomState {
    /// The state a `create` (or a server's `pair`) statement starts.
    pub fn create(s: &ChangeRoomArgs) -> Result<Self, RoomError> {
        let pair = match Op::parse(&s.op) {
            Some(Op::Create) => false,
            Some(Op::Pair) => true,
            _ => return Err(malformed("op: a log starts with \"create\"")),
        };
        if pair {
            return Self::paired(s);
        }
        if !s.room_id.is_empty() || s.seq != "0" || !s.prev.is_empty() || !s.member.is_empty() {
            return Err(malformed(
                "create: room_id, prev and member are empty and seq is \"0\" (the room's id is derived from the signature)",
            ));
        }
        check_client_id("client_id", &s.client_id).map_err(|e| malformed(e.to_string()))?;
        if s.title.chars().count() > MAX_TITLE_CHARS || !is_printable(&s.title) {
            return Err(malformed(format!(
                "title: at most {MAX_TITLE_CHARS} printable characters"
            )));
        }
        let bad_sig = |e: crate::protocol::FieldError| malformed(e.to_string());
        Ok(Self {
            room_id: room_id_of(s).map_err(bad_sig)?,
            title: s.title.clone(),
            owner: s.client_id.clone(),
            members: BTreeSet::from([s.client_id.clone()]),
            invited: BTreeSet::new(),
            epoch: 1,
            len: 1,
            head: statement_hash(s).map_err(bad_sig)?,
            pair: false,
        })
    }

    /// A pen-pal room of `client_id` and `member`, which the server's
    /// `pair` statement starts: no owner.
    fn paired(s: &ChangeRoomArgs) -> Result<Self, RoomError> {
        if !s.room_id.is_empty() || s.seq != "0" || !s.prev.is_empty() || !s.title.is_empty() {
            return Err(malformed("pair: room_id, prev and title are empty and seq is \"0\""));
        }
        check_client_id("client_id", &s.client_id).map_err(|e| malformed(e.to_string()))?;
        check_client_id("member", &s.member).map_err(|e| malformed(e.to_string()))?;
        if s.member == s.client_id {
            return Err(malformed("pair: two different clients"));
        }
        let bad_sig = |e: crate::protocol::FieldError| malformed(e.to_string());
        Ok(Self {
            room_id: room_id_of(s).map_err(bad_sig)?,
            title: String::new(),
            owner: String::new(),
            members: BTreeSet::from([s.client_id.clone(), s.member.clone()]),
            invited: BTreeSet::new(),
            epoch: 1,
            len: 1,
            head: statement_hash(s).map_err(bad_sig)?,
            pair: true,
        })
    }

    /// Applies the next statement, or says which rule it breaks and leaves
    /// the state as it was.
    pub fn apply(&mut self, s: &ChangeRoomArgs) -> Result<(), RoomError> {
        let op = Op::parse(&s.op).ok_or_else(|| malformed("op: one of create, invite, join, leave, remove"))?;
        if s.room_id != self.room_id {
            return Err(malformed(format!("room_id: this log is room {}", self.room_id)));
        }
        if parse_decimal("seq", &s.seq).ok() != Some(self.len) || s.prev != self.head {
            return Err(RoomError {
                rule: RoomRule::Stale,
                message: format!(
                    "the room's log is at seq {} with head {} (epoch {}); fetch it again with get_room_log and sign a statement that extends it",
                    self.len, self.head, self.epoch
                ),
            });
        }
        check_client_id("client_id", &s.client_id).map_err(|e| malformed(e.to_string()))?;
        if !s.title.is_empty() {
            return Err(malformed("title: only a create statement has one"));
        }
        let actor = s.client_id.as_str();
        let is_member = self.members.contains(actor);
        if self.pair && op != Op::Leave {
            return Err(not_allowed(format!(
                "room {} is a pen-pal room of two: nobody is invited, joins or is removed; leave it to end it",
                self.room_id
            )));
        }
        match op {
            Op::Create | Op::Pair => return Err(malformed("op: create and pair only start a log")),
            Op::Invite => {
                if !is_member {
                    return Err(not_allowed(format!(
                        "{actor} is not a member of room {}; only members invite",
                        self.room_id
                    )));
                }
                check_client_id("member", &s.member).map_err(|e| malformed(e.to_string()))?;
                if self.members.contains(&s.member) || self.invited.contains(&s.member) {
                    return Err(malformed(format!(
                        "member: {} is already a member or invited",
                        s.member
                    )));
                }
            }
            Op::Join => {
                if !s.member.is_empty() {
                    return Err(malformed("member: empty for join (the signer joins)"));
                }
                if is_member || !self.invited.contains(actor) {
                    return Err(not_allowed(format!(
                        "{actor} was not invited to room {} (or is a member already): a member must invite it first",
                        self.room_id
                    )));
                }
            }
            Op::Leave => {
                if !s.member.is_empty() {
                    return Err(malformed("member: empty for leave (the signer leaves)"));
                }
                if !is_member {
                    return Err(not_allowed(format!("{actor} is not a member of room {}", self.room_id)));
                }
            }
            Op::Remove => {
                if !is_member || actor != self.owner {
                    return Err(not_allowed(format!(
                        "only the owner of room {}, {}, removes members",
                        self.room_id, self.owner
                    )));
                }
                if s.member == actor || !self.members.contains(&s.member) {
                    return Err(malformed(format!(
                        "member: {} is not another member of the room",
                        s.member
                    )));
                }
            }
        }
        let head = statement_hash(s).map_err(|e| malformed(e.to_string()))?;
        match op {
            Op::Create | Op::Pair => unreachable!("refused above"),
            Op::Invite => {
                self.invited.insert(s.member.clone());
            }
            Op::Join => {
                self.invited.remove(actor);
                self.members.insert(actor.to_owned());
            }
            Op::Leave => {
                self.members.remove(actor);
            }
            Op::Remove => {
                self.members.remove(&s.member);
            }
        }
        if op.changes_membership() {
            self.epoch += 1;
        }
        self.len += 1;
        self.head = head;
        Ok(())
    }

    /// Reads a whole log from its `create`; the error says at which index.
    pub fn replay(statements: &[ChangeRoomArgs]) -> Result<Self, (usize, RoomError)> {
        let (first, rest) = statements
            .split_first()
            .ok_or_else(|| (0, malformed("a room's log has at least its create statement")))?;
        let mut state = Self::create(first).map_err(|e| (0, e))?;
        for (i, s) in rest.iter().enumerate() {
            state.apply(s).map_err(|e| (i + 1, e))?;
        }
        Ok(state)
    }

    /// The room's id.
    pub fn room_id(&self) -> &str {
        &self.room_id
    }

    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Whether it is a pen-pal room (PROTOCOL §16).
    pub fn is_pair(&self) -> bool {
        self.pair
    }

    /// Its creator, who may remove members (empty for a pen-pal room).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Its members, in ascending order.
    pub fn members(&self) -> &BTreeSet<String> {
        &self.members
    }

    /// Whether `client_id` is a member.
    pub fn is_member(&self, client_id: &str) -> bool {
        self.members.contains(client_id)
    }

    /// Whether `client_id` is invited and has not joined.
    pub fn is_invited(&self, client_id: &str) -> bool {
        self.invited.contains(client_id)
    }

    /// How many clients are invited and have not joined.
    pub fn invited_count(&self) -> usize {
        self.invited.len()
    }

    /// Membership changes so far (`create` is the first).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Statements in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never: a log has at least its create statement.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The hash of the last statement.
    pub fn head(&self) -> &str {
        &self.head
    }
}
