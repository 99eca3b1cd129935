//! A session as a tab holds it: its title, how many messages it has, and a window of them.
//!
//! The leader holds every message of every session. Another tab learns most of an import's
//! batches by their size alone (their records would cost it as much to take in as the leader
//! spends writing them): its session then counts every message but holds a *window* of them,
//! a run of consecutive ones, and reads from the store those it draws ([`Session::fill`]).

use super::model::{ItemId, Message};

/// A session: a title, how many messages it has, and those this tab holds, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its id (the request that created it).
    pub id: ItemId,
    /// Its title.
    pub title: String,
    /// The store revision that created it: sessions are listed in this order.
    pub created: u64,
    /// The messages this tab holds, in the order the leader applied them: the session's
    /// messages at places `from..from + messages.len()` (places count from 0). All of them
    /// where `from` is 0 and the length is `count`.
    pub messages: Vec<Message>,
    /// The place of the first message held.
    pub from: u64,
    /// How many messages the session has.
    pub count: u64,
}

impl Session {
    /// A session of `messages`, every one held.
    #[must_use]
    pub fn new(id: ItemId, title: String, created: u64, messages: Vec<Message>) -> Self {
        Self {
            id,
            title,
            created,
            count: messages.len() as u64,
            messages,
            from: 0,
        }
    }

    /// The place after the last message held.
    #[must_use]
    pub fn held_to(&self) -> u64 {
        self.from + self.messages.len() as u64
    }

    /// Whether every message is held.
    #[must_use]
    pub fn holds_all(&self) -> bool {
        self.from == 0 && self.held_to() == self.count
    }

    /// Whether the latest message is held (or there is none).
    #[must_use]
    pub fn holds_latest(&self) -> bool {
        self.held_to() == self.count
    }

    /// `messages` become the session's next ones. Held with those held before them if those
    /// reach the end, else they become the window.
    pub fn append(&mut self, messages: &[Message]) {
        if messages.is_empty() {
            return;
        }
        if !self.holds_latest() {
            self.messages.clear();
            self.from = self.count;
        }
        self.messages.extend_from_slice(messages);
        self.count += messages.len() as u64;
    }

    /// `added` messages the tab was not given became the session's next ones: the window stays
    /// as it is (no longer the latest).
    pub fn skip(&mut self, added: u64) {
        self.count += added;
    }

    /// Takes in `messages`, read from the store: the session's messages at places
    /// `from..from + messages.len()`. Joined to the window where they meet or overlap it;
    /// otherwise they replace it if they are later, and are dropped if earlier (what was
    /// held is closer to what is drawn). Whether the window changed.
    pub fn fill(&mut self, from: u64, mut messages: Vec<Message>) -> bool {
        let to = from + messages.len() as u64;
        if messages.is_empty() || to > self.count {
            // Nothing, or more than the session has: not of this session as it is.
            return false;
        }
        let (held_from, held_to) = (self.from, self.held_to());
        if from <= held_to && to >= held_from {
            if from >= held_from && to <= held_to {
                return false;
            }
            // Keep what is held, and add what the read has on either side of it.
            let before = usize::try_from(held_from.saturating_sub(from)).unwrap_or(usize::MAX);
            let after_at = usize::try_from(held_to.saturating_sub(from)).unwrap_or(usize::MAX);
            let after = messages.split_off(after_at.min(messages.len()));
            messages.truncate(before);
            messages.append(&mut self.messages);
            messages.extend(after);
            self.messages = messages;
            self.from = held_from.min(from);
            true
        } else if from > held_to || self.messages.is_empty() {
            self.messages = messages;
            self.from = from;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TabId;

    fn message(n: u64) -> Message {
        Message {
            id: ItemId {
                tab: TabId::from_bytes([5; 16]),
                number: n,
            },
            text: format!("m{n}"),
        }
    }

    fn messages(places: std::ops::Range<u64>) -> Vec<Message> {
        places.map(message).collect()
    }

    fn places(session: &Session) -> Vec<u64> {
        session.messages.iter().map(|m| m.id.number).collect()
    }

    fn session() -> Session {
        Session::new(
            ItemId {
                tab: TabId::from_bytes([5; 16]),
                number: 1_000,
            },
            "s".into(),
            1,
            Vec::new(),
        )
    }

    #[test]
    fn a_session_told_only_sizes_keeps_its_window_and_takes_the_next_batch_given_whole_as_its_window(
    ) {
        let mut s = session();
        s.append(&messages(0..3));
        assert!(s.holds_all());
        s.skip(4);
        assert_eq!((s.count, s.from, places(&s)), (7, 0, vec![0, 1, 2]));
        assert!(!s.holds_latest());
        // A batch of no records changes nothing.
        s.append(&[]);
        assert_eq!((s.count, s.from, places(&s)), (7, 0, vec![0, 1, 2]));
        s.append(&messages(7..9));
        assert_eq!((s.count, s.from, places(&s)), (9, 7, vec![7, 8]));
        assert!(s.holds_latest() && !s.holds_all());
        s.append(&messages(9..10));
        assert_eq!((s.from, places(&s)), (7, vec![7, 8, 9]));
    }

    #[test]
    fn a_read_from_the_store_joins_the_window_where_they_meet_and_replaces_it_only_if_later() {
        let mut s = session();
        s.skip(10);
        s.append(&messages(10..12));
        // Overlapping on the left: joined.
        assert!(s.fill(6, messages(6..11)));
        assert_eq!((s.from, places(&s)), (6, (6..12).collect::<Vec<_>>()));
        // Inside what is held: nothing to do.
        assert!(!s.fill(7, messages(7..9)));
        // Touching on the left: joined.
        assert!(s.fill(0, messages(0..6)));
        assert!(s.holds_all());
        // More than the session has: not taken.
        assert!(!s.fill(10, messages(10..13)));
        s.skip(10);
        // Later and apart: replaces the window; earlier and apart: dropped.
        assert!(s.fill(18, messages(18..22)));
        assert_eq!((s.from, places(&s)), (18, vec![18, 19, 20, 21]));
        assert!(!s.fill(0, messages(0..3)));
        // Touching on the right: joined.
        assert!(s.fill(14, messages(14..18)));
        assert_eq!((s.from, places(&s)), (14, (14..22).collect::<Vec<_>>()));
        assert!(s.holds_latest());
        assert!(!s.fill(3, Vec::new()));
    }
}
