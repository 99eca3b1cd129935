//! `localStorage`'s two term items as the driver sees them, text, and a fault that writes
//! anything into them: a corrupted profile, an older build's bug, a hostile script.
//!
//! In one seed in four, while the faults run, either item is now and then overwritten with
//! arbitrary text, edge values included (the wire format's limit and past it, u64's, no
//! leader, no number). The tabs read and write the items through the core's own
//! [`Term::parse_stored`] and [`Term::outranks_stored`], as the driver does. After the heal no
//! item is touched, and the simulator's agreement check follows: one leader whose term every
//! running tab follows (so its app messages are accepted), and that term within
//! [`Term::MAX_NUMBER`].

use conclave_core::{TabId, Term};

use super::Rng;

/// The term items, and the fault.
pub struct TermItems {
    /// The highest term stored (`<channel>:term:v1`), if any text is there.
    pub term: Option<String>,
    /// The highest theft record (`<channel>:theft:v1`).
    pub theft: Option<String>,
    /// Whether this seed corrupts them.
    pub corrupting: bool,
    rng: Rng,
    next_at: u64,
    /// The last instant counted in [`TermStats::overlaps`].
    overlap_at: Option<u64>,
    pub stats: TermStats,
}

/// What the fault did, over one seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct TermStats {
    /// Seeds whose items were overwritten.
    pub seeds: u64,
    /// Overwrites of either item.
    pub overwrites: u64,
    /// ...of which with text no tab believes (corrupt, or removed).
    pub unbelievable: u64,
    /// Virtual instants (ms) at which two running tabs acted as leader at once with Web Locks
    /// (S1′, not asserted in these seeds).
    pub overlaps: u64,
}

impl TermStats {
    pub fn add(&mut self, other: &TermStats) {
        self.seeds += other.seeds;
        self.overwrites += other.overwrites;
        self.unbelievable += other.unbelievable;
        self.overlaps += other.overlaps;
    }
}

/// Mean virtual ms between two overwrites, in a seed that corrupts.
const CORRUPT_EVERY_MS: u64 = 2_500;

impl TermItems {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x7e_a5ed);
        let corrupting = rng.chance(250);
        let next_at = rng.range(0, 2 * CORRUPT_EVERY_MS);
        Self {
            term: None,
            theft: None,
            corrupting,
            rng,
            next_at,
            overlap_at: None,
            stats: TermStats {
                seeds: u64::from(corrupting),
                ..TermStats::default()
            },
        }
    }

    /// The stored term as a tab reads it: [`Term::ZERO`] if none, or corrupt.
    pub fn term(&self) -> Term {
        believe(self.term.as_deref())
    }

    /// A tab's write of `term` (the driver's `store_term`): unless a higher one is stored.
    pub fn store_term(&mut self, term: Term) {
        store(&mut self.term, term);
    }

    /// A thief's record of the term it robs, written the same way.
    pub fn store_theft(&mut self, term: Term) {
        store(&mut self.theft, term);
    }

    /// When the next overwrite is due, if this seed corrupts and the faults still run.
    pub fn due(&self, healing: bool) -> Option<u64> {
        (self.corrupting && !healing).then_some(self.next_at)
    }

    /// Two tabs act as leader at once at `now`: counted once per instant.
    pub fn overlap(&mut self, now: u64) {
        if self.overlap_at != Some(now) {
            self.overlap_at = Some(now);
            self.stats.overlaps += 1;
        }
    }

    /// No overwrite at `now` (the machine sleeps, or the chaos is over): the next one later.
    pub fn postpone(&mut self, now: u64) {
        self.next_at = now + self.rng.range(1, 2 * CORRUPT_EVERY_MS);
    }

    /// Overwrites one item at `now` with arbitrary text; returns a line for the trace.
    pub fn corrupt(&mut self, now: u64) -> String {
        self.next_at = now + self.rng.range(1, 2 * CORRUPT_EVERY_MS);
        let text = arbitrary(&mut self.rng);
        self.stats.overwrites += 1;
        let believed = text.as_deref().and_then(|t| Term::parse_stored(t).ok());
        self.stats.unbelievable += u64::from(believed.is_none());
        let (name, item) = if self.rng.chance(700) {
            ("term", &mut self.term)
        } else {
            ("theft", &mut self.theft)
        };
        *item = text.clone();
        format!("storage: the {name} item overwritten with {text:?}")
    }
}

fn believe(text: Option<&str>) -> Term {
    text.and_then(|text| Term::parse_stored(text).ok())
        .unwrap_or(Term::ZERO)
}

fn store(item: &mut Option<String>, term: Term) {
    if term.outranks_stored(item.as_deref()) {
        *item = Some(term.stored_text());
    }
}

/// Text for a term item: the edges of the number's range, malformed terms, or a believable
/// term far above the tabs' (terms then jump); `None` removes the item.
fn arbitrary(rng: &mut Rng) -> Option<String> {
    let id = if rng.chance(100) {
        TabId::from_bytes([0xff; 16])
    } else {
        rng.id()
    };
    let number = match rng.range(0, 6) {
        0 => Term::MAX_NUMBER + 1,
        1 => (1 << 53) - 1,
        2 => 1 << 53,
        3 => u64::MAX,
        4 => rng.range(1, 1 << 40),
        5 => rng.range(1, 50),
        _ => 0,
    };
    Some(match rng.range(0, 9) {
        0 => return None,
        1 => String::new(),
        2 => "garbage".to_owned(),
        3 => format!("{number}"),
        4 => format!("{number}:not-a-tab"),
        5 => format!("18446744073709551616:{id}"),
        6 => format!("-{number}:{id}"),
        7 => format!("{number}:{id}:{id}"),
        _ => format!("{number}:{id}"),
    })
}
