//! Per-sender sequence tracking: classify every received message, deliver none twice.
//!
//! Each sender gets a fixed-size window: the highest sequence number seen and a 64-bit map of
//! which of the 64 numbers at or below it arrived. That is all the state, so memory is
//! O(live senders) whatever the input: a jump to 2^53 shifts the map out and allocates nothing.
//!
//! A number inside the window that has not arrived yet fills a gap and is delivered (a reorder
//! that drops the gap filler loses data). A number below the window cannot be told apart from a
//! replay, so it is dropped as [`Class::Old`]; so is a number below the first one heard from a
//! sender (it was sent before this tab listened, or overtook nothing: BroadcastChannel keeps each
//! sender's order), which keeps delivery per sender in order or after an announced gap.
//!
//! A [`Tracker`] holds the windows of every sender. When a sender leaves, its window is
//! *retired*, not dropped: a late copy of one of its old messages is still recognised, so no
//! message is delivered twice after pruning either. A message it sent before it left that
//! arrives only now is delivered, once, but leaves the sender retired: only a message newer
//! than any heard before it left (or of a later incarnation) makes it live again. Retired
//! windows are forgotten after [`Tracker::new`]'s `retain_ms` on the receiver's own clock, and
//! there are at most `max_retired` of them: memory stays O(live senders + a constant).

use std::collections::BTreeMap;

use crate::ids::{Incarnation, Millis, Seq, TabId};

/// How many sequence numbers below the highest one the window remembers.
pub const WINDOW: u64 = 64;

/// What a received sequence number is, relative to what came before from the same sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// The first message heard from this sender (or from its new incarnation).
    First,
    /// Exactly one more than the highest seen.
    Next,
    /// Higher than expected: `missing` numbers were skipped (they may still arrive).
    Gap {
        /// How many numbers lie between the previous highest and this one.
        missing: u64,
    },
    /// Below the highest, inside the window, not seen before: it fills an earlier gap.
    Late,
    /// Seen before: dropped.
    Duplicate,
    /// Below the window: it cannot be told from a replay, so it is dropped.
    Old,
}

impl Class {
    /// Whether a message of this class is handed on to the protocol.
    #[must_use]
    pub const fn is_delivered(self) -> bool {
        !matches!(self, Class::Duplicate | Class::Old)
    }
}

/// The window of one sender incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    incarnation: Incarnation,
    highest: u64,
    /// Bit `i` is set when `highest - i` has arrived.
    seen: u64,
    /// Numbers below this one are [`Class::Old`]: the window starts where listening started.
    floor: u64,
    last_heard: Millis,
}

/// Whether `incarnation` is older than the one the window tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleIncarnation;

impl Window {
    /// A window opened by the first message `seq` of `incarnation`, heard at `now`.
    #[must_use]
    pub const fn open(incarnation: Incarnation, seq: Seq, now: Millis) -> Self {
        Self {
            incarnation,
            highest: seq.0,
            seen: 1,
            floor: seq.0,
            last_heard: now,
        }
    }

    /// The incarnation this window tracks.
    #[must_use]
    pub const fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// The highest sequence number seen.
    #[must_use]
    pub const fn highest(&self) -> Seq {
        Seq(self.highest)
    }

    /// When the sender was last heard, on the receiver's clock.
    #[must_use]
    pub const fn last_heard(&self) -> Millis {
        self.last_heard
    }

    /// Classifies `seq` of `incarnation` heard at `now`, and records it.
    ///
    /// # Errors
    /// [`StaleIncarnation`] when `incarnation` is older than the tracked one; nothing is recorded.
    pub fn observe(
        &mut self,
        incarnation: Incarnation,
        seq: Seq,
        now: Millis,
    ) -> Result<Class, StaleIncarnation> {
        if incarnation < self.incarnation {
            return Err(StaleIncarnation);
        }
        if incarnation > self.incarnation {
            *self = Self::open(incarnation, seq, now);
            return Ok(Class::First);
        }
        let seq = seq.0;
        let class = if seq > self.highest {
            let step = seq - self.highest;
            self.seen = if step >= WINDOW {
                1
            } else {
                (self.seen << step) | 1
            };
            self.highest = seq;
            if step == 1 {
                Class::Next
            } else {
                Class::Gap { missing: step - 1 }
            }
        } else {
            let offset = self.highest - seq;
            if offset >= WINDOW || seq < self.floor {
                Class::Old
            } else if self.seen & (1 << offset) != 0 {
                Class::Duplicate
            } else {
                self.seen |= 1 << offset;
                Class::Late
            }
        };
        if class.is_delivered() {
            self.last_heard = now;
        }
        Ok(class)
    }
}

/// What is left of a sender that left: enough to recognise its old messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retired {
    window: Window,
    since: Millis,
}

/// The sequence windows of every sender, live and recently retired.
#[derive(Clone, Debug)]
pub struct Tracker {
    live: BTreeMap<TabId, Window>,
    retired: BTreeMap<TabId, Retired>,
    retain_ms: u64,
    max_retired: usize,
}

impl Tracker {
    /// A tracker that remembers a retired sender for `retain_ms` (on the receiver's clock),
    /// and at most `max_retired` of them (the longest retired go first).
    #[must_use]
    pub fn new(retain_ms: u64, max_retired: usize) -> Self {
        Self {
            live: BTreeMap::new(),
            retired: BTreeMap::new(),
            retain_ms,
            max_retired,
        }
    }

    /// Classifies message `seq` of `incarnation` from `from`, heard at `now`, and records it.
    ///
    /// # Errors
    /// [`StaleIncarnation`] when `from` has been heard in a later incarnation.
    pub fn observe(
        &mut self,
        from: TabId,
        incarnation: Incarnation,
        seq: Seq,
        now: Millis,
    ) -> Result<Class, StaleIncarnation> {
        if let Some(window) = self.live.get_mut(&from) {
            return window.observe(incarnation, seq, now);
        }
        let Some(retired) = self.retired.get_mut(&from) else {
            self.live.insert(from, Window::open(incarnation, seq, now));
            return Ok(Class::First);
        };
        let class = retired.window.observe(incarnation, seq, now)?;
        // A late message was sent before it left, and overtaken by its goodbye (or its
        // silence): delivered once, but no sign of life, so it stays retired. Anything newer
        // than what was heard before it left means it is back: its window is live again, with
        // all its history.
        if class.is_delivered() && class != Class::Late {
            let window = retired.window;
            self.retired.remove(&from);
            self.live.insert(from, window);
        }
        Ok(class)
    }

    /// The live window of `from`, if any.
    #[must_use]
    pub fn window(&self, from: TabId) -> Option<&Window> {
        self.live.get(&from)
    }

    /// Counts every live sender as heard at `now`, without recording a message: used when this
    /// tab itself was away, so that the time it spent frozen is not held against its peers.
    pub fn refresh(&mut self, now: Millis) {
        for window in self.live.values_mut() {
            window.last_heard = window.last_heard.max(now);
        }
    }

    /// Moves the window of `from` (which left) to the retired set, at `now`.
    pub fn retire(&mut self, from: TabId, now: Millis) {
        if let Some(window) = self.live.remove(&from) {
            self.retired.insert(from, Retired { window, since: now });
        }
        self.prune(now);
    }

    /// Forgets retired senders older than the retention, then the oldest beyond the cap.
    pub fn prune(&mut self, now: Millis) {
        let retain_ms = self.retain_ms;
        self.retired.retain(|_, r| now.since(r.since) < retain_ms);
        while self.retired.len() > self.max_retired {
            let oldest = self
                .retired
                .iter()
                .min_by_key(|(id, r)| (r.since, **id))
                .map(|(id, _)| *id);
            match oldest {
                Some(id) => self.retired.remove(&id),
                None => break,
            };
        }
    }

    /// How many senders are tracked: (live, retired).
    #[must_use]
    pub fn counts(&self) -> (usize, usize) {
        (self.live.len(), self.retired.len())
    }

    /// When the next retired sender is due to be forgotten, if any.
    #[must_use]
    pub fn next_expiry(&self) -> Option<Millis> {
        self.retired
            .values()
            .map(|r| r.since.plus(self.retain_ms))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INC: Incarnation = Incarnation(0);

    fn observe_all(seqs: &[u64]) -> Vec<Class> {
        let mut window = Window::open(INC, Seq(seqs[0]), Millis(0));
        let mut out = vec![Class::First];
        for &s in &seqs[1..] {
            out.push(window.observe(INC, Seq(s), Millis(s)).unwrap_or(Class::Old));
        }
        out
    }

    #[test]
    fn in_order_messages_are_next() {
        assert_eq!(
            observe_all(&[1, 2, 3]),
            [Class::First, Class::Next, Class::Next]
        );
    }

    #[test]
    fn a_message_older_than_the_first_heard_is_old() {
        // Found by the simulator (seed 4): seq 3 arriving after the first-heard seq 4 was
        // delivered out of order with no gap announced.
        assert_eq!(
            observe_all(&[4, 3, 5]),
            [Class::First, Class::Old, Class::Next]
        );
    }

    #[test]
    fn a_retired_sender_s_old_messages_are_not_delivered_again() {
        // Found by the simulator (seed 9): after a peer left, a delayed copy of its message
        // opened a fresh window and was delivered a second time.
        let a = TabId::from_bytes([1; 16]);
        let mut tracker = Tracker::new(300_000, 4);
        assert_eq!(tracker.observe(a, INC, Seq(5), Millis(0)), Ok(Class::First));
        assert_eq!(tracker.observe(a, INC, Seq(6), Millis(1)), Ok(Class::Next));
        tracker.retire(a, Millis(2));
        assert_eq!(
            tracker.observe(a, INC, Seq(6), Millis(3)),
            Ok(Class::Duplicate)
        );
        assert_eq!(
            tracker.observe(a, INC, Seq(5), Millis(3)),
            Ok(Class::Duplicate)
        );
        assert_eq!(
            tracker.counts(),
            (0, 1),
            "a dropped message does not revive the sender"
        );
        assert_eq!(tracker.observe(a, INC, Seq(7), Millis(4)), Ok(Class::Next));
        assert_eq!(tracker.counts(), (1, 0));
    }

    #[test]
    fn a_message_from_before_a_sender_left_is_delivered_once_and_keeps_it_retired() {
        // Found by the simulator (seed 44): a heartbeat overtaken by its sender's goodbye
        // revived the sender's window, and the receiver listed it again for a whole TTL.
        let a = TabId::from_bytes([1; 16]);
        let mut tracker = Tracker::new(300_000, 4);
        assert_eq!(tracker.observe(a, INC, Seq(1), Millis(0)), Ok(Class::First));
        assert_eq!(
            tracker.observe(a, INC, Seq(3), Millis(1)),
            Ok(Class::Gap { missing: 1 })
        );
        tracker.retire(a, Millis(2));
        assert_eq!(tracker.observe(a, INC, Seq(2), Millis(3)), Ok(Class::Late));
        assert_eq!(tracker.counts(), (0, 1), "still retired");
        assert_eq!(tracker.window(a), None);
        assert_eq!(
            tracker.observe(a, INC, Seq(2), Millis(4)),
            Ok(Class::Duplicate),
            "delivered once"
        );
        // A message newer than any before it left: it is back.
        assert_eq!(tracker.observe(a, INC, Seq(4), Millis(5)), Ok(Class::Next));
        assert_eq!(tracker.counts(), (1, 0));
    }

    #[test]
    fn retired_senders_are_bounded_by_age_and_count() {
        let mut tracker = Tracker::new(1_000, 2);
        for k in 0..5u8 {
            let id = TabId::from_bytes([k; 16]);
            let _ = tracker.observe(id, INC, Seq(1), Millis(u64::from(k)));
            tracker.retire(id, Millis(u64::from(k)));
        }
        assert_eq!(tracker.counts(), (0, 2));
        assert_eq!(tracker.next_expiry(), Some(Millis(1_003)));
        tracker.prune(Millis(1_004));
        assert_eq!(tracker.counts(), (0, 0));
    }

    #[test]
    fn late_message_filling_a_gap_is_delivered_once() {
        // The reorder bug this pins: a buffer that dropped the message filling a gap.
        assert_eq!(
            observe_all(&[1, 3, 2, 2, 3]),
            [
                Class::First,
                Class::Gap { missing: 1 },
                Class::Late,
                Class::Duplicate,
                Class::Duplicate
            ]
        );
    }

    #[test]
    fn a_jump_to_the_top_keeps_the_window_bounded() {
        let top = crate::ids::MAX_SAFE_INTEGER;
        assert_eq!(
            observe_all(&[1, top, top - 63, top - 64, 2]),
            [
                Class::First,
                Class::Gap { missing: top - 2 },
                Class::Late,
                Class::Old,
                Class::Old
            ]
        );
        assert!(std::mem::size_of::<Window>() <= 48);
    }

    #[test]
    fn a_new_incarnation_resets_and_an_old_one_is_refused() {
        let mut window = Window::open(Incarnation(1), Seq(50), Millis(0));
        assert_eq!(
            window.observe(Incarnation(0), Seq(51), Millis(1)),
            Err(StaleIncarnation)
        );
        assert_eq!(
            window.observe(Incarnation(2), Seq(1), Millis(2)),
            Ok(Class::First)
        );
        assert_eq!(
            window.observe(Incarnation(2), Seq(2), Millis(3)),
            Ok(Class::Next)
        );
        assert_eq!(window.last_heard(), Millis(3));
    }

    #[test]
    fn dropped_messages_do_not_refresh_last_heard() {
        let mut window = Window::open(INC, Seq(5), Millis(10));
        assert_eq!(
            window.observe(INC, Seq(5), Millis(99)),
            Ok(Class::Duplicate)
        );
        assert_eq!(window.last_heard(), Millis(10));
    }
}
