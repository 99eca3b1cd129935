//! Per-sender sequence tracking: classify every received message, deliver none twice.
//!
//! Each sender gets a fixed-size window: the highest sequence number seen and a 64-bit map of
//! which of the 64 numbers at or below it arrived. That is all the state, so memory is
//! O(live senders) whatever the input: a jump to 2^53 shifts the map out and allocates nothing.
//!
//! A number inside the window that has not arrived yet fills a gap and is delivered (a reorder
//! that drops the gap filler loses data). A number below the window cannot be told apart from a
//! replay, so it is dropped as [`Class::Old`].

use crate::ids::{Incarnation, Millis, Seq};

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

    /// Counts the sender as heard at `now` without recording a message (used after this tab
    /// itself was away, so that time spent frozen is not held against its peers).
    pub fn refresh(&mut self, now: Millis) {
        self.last_heard = self.last_heard.max(now);
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
            if offset >= WINDOW {
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
        assert!(std::mem::size_of::<Window>() <= 32);
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
