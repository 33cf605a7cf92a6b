//! Rooms in the memory store: each log, and each client's rooms.

use std::collections::{BTreeSet, HashMap};

use crate::store::{LoggedStatement, RoomAppend};

/// Room logs by id, and the rooms each client was indexed in. Bounded by
/// the broker: rooms per client and statements per log are limits it
/// checks, and a room nobody is a member of is deleted.
#[derive(Default)]
pub(super) struct Rooms {
    logs: HashMap<String, Vec<LoggedStatement>>,
    index: HashMap<String, BTreeSet<String>>,
}

impl Rooms {
    pub(super) fn log(&self, room_id: &str) -> Vec<LoggedStatement> {
        self.logs.get(room_id).cloned().unwrap_or_default()
    }

    pub(super) fn len_of(&self, room_id: &str) -> u64 {
        self.logs.get(room_id).map_or(0, |l| l.len() as u64)
    }

    pub(super) fn append(&mut self, step: RoomAppend<'_>) -> bool {
        if self.len_of(step.room_id) != step.expected_len {
            return false;
        }
        if step.empties {
            self.logs.remove(step.room_id);
        } else {
            self.logs
                .entry(step.room_id.to_owned())
                .or_default()
                .push(step.entry.clone());
        }
        for c in step.joins {
            self.index
                .entry((*c).to_owned())
                .or_default()
                .insert(step.room_id.to_owned());
        }
        for c in step.leaves {
            if let Some(rooms) = self.index.get_mut(*c) {
                rooms.remove(step.room_id);
                if rooms.is_empty() {
                    self.index.remove(*c);
                }
            }
        }
        true
    }

    pub(super) fn of(&self, client_id: &str, limit: usize) -> Vec<String> {
        self.index
            .get(client_id)
            .map(|r| r.iter().take(limit).cloned().collect())
            .unwrap_or_default()
    }
}
