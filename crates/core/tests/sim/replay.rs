//! A replaying adversary: a same-origin page that records what the tabs post and posts it
//! again later, to every tab — genuine, signed messages after their time.
//!
//! In one seed in four, while the faults run, it replays a recorded message now and then
//! (half the time one of a tab that has since left). F1: no tab delivers a message sent before
//! it began to listen (its start, or its return from the back/forward cache or a freeze),
//! give or take [`Config::fresh_slack_ms`](conclave_core::Config::fresh_slack_ms); replays to
//! tabs that heard the original are duplicates, dropped as every duplicate is (S4).

use std::collections::BTreeMap;

use conclave_core::{Incarnation, TabId};

use super::Rng;

/// (sender, incarnation, seq): one message.
pub type MessageKey = (TabId, Incarnation, u64);

/// Mean virtual ms between two replays, in a seed that replays.
const REPLAY_EVERY_MS: u64 = 1_500;

/// The adversary, and when each message was sent.
pub struct Replayer {
    /// Whether this seed replays.
    pub enabled: bool,
    rng: Rng,
    next_at: u64,
    /// Every message sent, with its text and when.
    sent: Vec<(MessageKey, u64, String)>,
    /// When each message was sent (virtual ms).
    sent_at: BTreeMap<MessageKey, u64>,
    pub stats: ReplayStats,
}

/// What the adversary did, over one seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayStats {
    pub seeds: u64,
    pub replays: u64,
    /// Replays of a message of a tab that had left.
    pub departed: u64,
}

impl ReplayStats {
    pub fn add(&mut self, other: &ReplayStats) {
        self.seeds += other.seeds;
        self.replays += other.replays;
        self.departed += other.departed;
    }
}

impl Replayer {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5e91_a7ed);
        let enabled = rng.chance(250);
        let next_at = rng.range(0, 2 * REPLAY_EVERY_MS);
        Self {
            enabled,
            rng,
            next_at,
            sent: Vec::new(),
            sent_at: BTreeMap::new(),
            stats: ReplayStats {
                seeds: u64::from(enabled),
                ..ReplayStats::default()
            },
        }
    }

    /// Records a message a tab sent at `now`.
    pub fn sent(&mut self, key: MessageKey, now: u64, text: &str) {
        self.sent_at.entry(key).or_insert(now);
        if self.enabled {
            self.sent.push((key, now, text.to_owned()));
        }
    }

    /// When the message `key` was sent, if it was.
    pub fn sent_at(&self, key: &MessageKey) -> Option<u64> {
        self.sent_at.get(key).copied()
    }

    /// When the next replay is due, if this seed replays and the faults still run.
    pub fn due(&self, healing: bool) -> Option<u64> {
        (self.enabled && !healing && !self.sent.is_empty()).then_some(self.next_at)
    }

    /// The text to replay at `now`: half the time one of a tab in `departed`, if any.
    pub fn pick(&mut self, now: u64, departed: &[TabId]) -> Option<String> {
        self.next_at = now + self.rng.range(1, 2 * REPLAY_EVERY_MS);
        let of_departed: Vec<usize> = (0..self.sent.len())
            .filter(|&i| departed.contains(&self.sent[i].0 .0))
            .collect();
        let index = if !of_departed.is_empty() && self.rng.chance(500) {
            self.stats.departed += 1;
            of_departed[self.rng.range(0, of_departed.len() as u64 - 1) as usize]
        } else {
            self.rng.range(0, self.sent.len() as u64 - 1) as usize
        };
        self.stats.replays += 1;
        Some(self.sent.get(index)?.2.clone())
    }
}
