//! Leadership: terms, the two election modes, and what the engine asks of the lock manager.
//!
//! # The protocol
//! Every message carries its sender's highest known [`Term`]. A term is a *ballot*: a number
//! that only grows, and the tab that minted it, so two tabs can never lead the same term, even
//! if they mint at the same instant without hearing each other. The leader of the highest known
//! term is the leader; a tab that hears a higher term adopts it and, if it was leading, steps
//! down before doing anything else.
//!
//! - **Fencing.** A message whose term names its own sender as the leader is a *leader message*.
//!   One with a term lower than the receiver's is rejected as [`crate::Rejection::StaleTerm`], and
//!   the receiver answers with its own term so the stale leader learns and steps down.
//! - **Minting.** A tab mints `(highest known number + 1, itself)`, emits it through
//!   [`crate::Engine::poll_persist`], and acts only once the driver confirms the write
//!   ([`crate::Engine::handle_persisted`]): a term is never used before it is durable.
//! - **Web Locks mode.** Two exclusive locks. Every tab queues for the *heir* lock; its holder,
//!   the heir, is the only tab that queues for (or steals) the *leader* lock, so the leader
//!   lock has one tab waiting behind its holder. A tab mints only when the leader lock is
//!   granted (or by hand-off, below), so two tabs never act at once. A crashed leader's lock
//!   is released by the browser and the heir takes over without waiting for any timeout. A new
//!   leader lets go of the heir lock once its term is durable, and the next tab in that queue
//!   becomes the heir.
//! - **Lease mode** (no Web Locks). A tab mints when the leader is gone, after listening; the
//!   higher term wins. Message loss can make two tabs lead at once until they hear each other:
//!   the simulator measures that split-brain time.
//! - **Resign.** On `pagehide` or `freeze` the leader stops acting, names a successor (a visible
//!   peer first, then the lowest id), says so (one message, which is also its goodbye), and
//!   lets go of its lock. In lease mode the successor mints at once. In Web Locks mode the
//!   resignation is a *hand-off* to the heir: the heir mints and acts as soon as it hears it,
//!   before the lock manager hands it the lock, which no other tab can be granted meanwhile
//!   (only the heir waits for it). A leader that
//!   stalled within [`crate::Config::steal_grace_ms`] names no successor, and its resignation is
//!   no hand-off: a thief may be taking its lock. The heir declines too if it stalled itself, or
//!   if the stored term is past the resigned one.
//! - **Probe.** A follower that has heard nothing from the leader for
//!   [`crate::Config::probe_after_ms`] asks "leader, are you there?". An alive leader answers at
//!   once, even hidden (only timers are throttled, not messages). Without an answer within
//!   [`crate::Config::probe_timeout_ms`] the followers take over in rank order (visible tabs
//!   first, then by id), [`crate::Config::stagger_ms`] apart; in Web Locks mode that is a lock
//!   *steal* (of the heir lock first, unless the thief is the heir, then of the leader lock),
//!   and the thief waits [`crate::Config::steal_grace_ms`] before acting, long enough for an
//!   alive victim to hear of the theft or to notice it had stalled — counted from the grant of
//!   the heir lock too, which an heir leading by hand-off must have heard it lost. Before it
//!   steals the leader lock the thief records in storage whose lock it takes (the term it
//!   knows); if it dies before it mints, the lock's next holder finds that record with no term
//!   past it and waits for the victim just as the thief would have.
//! - **Stall guard.** A leader whose previous input is older than [`crate::Config::stall_ms`]
//!   (its main thread was blocked, or the page frozen without a `freeze` event) does not act on
//!   this input: it asks its peers for their terms and waits [`crate::Config::verify_ms`] first.
//! - **Bounded terms.** No term number above [`Term::MAX_NUMBER`] is minted, stored, sent or
//!   believed: one read from storage ([`Term::parse_stored`]) or the channel above it is corrupt,
//!   ignored and counted, so a corrupted or hostile value cannot push the terms past what the
//!   wire format carries exactly. A tab at the limit mints the limit again (the lowest tab id then
//!   never outranks the highest): reaching it takes 2^50 elections, or a value written there on
//!   purpose, which only clearing the stored term undoes.
//! - **Listen before campaigning** (pre-vote). A tab that starts, resumes or is restored from the
//!   back/forward cache listens for [`crate::Config::listen_ms`] before it may mint or steal, so a
//!   waking tab cannot disrupt a healthy leader.

use std::cmp::Ordering;
use std::fmt;

use crate::ids::TabId;

/// A leadership term: a number that only grows, and the tab that minted it and leads it.
///
/// Terms order by number, then by minting tab, so every two distinct terms are ordered.
///
/// # Examples
/// ```
/// use conclave_core::{TabId, Term};
/// let a = TabId::from_bytes([1; 16]);
/// let b = TabId::from_bytes([2; 16]);
/// assert!(Term::new(3, a) < Term::new(3, b));
/// assert!(Term::new(3, b) < Term::new(4, a));
/// assert_eq!(Term::new(4, a).next(b), Term::new(5, b));
/// assert!(Term::ZERO < Term::new(1, a));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Term {
    number: u64,
    leader: TabId,
}

impl Term {
    /// No term yet: lower than any minted one, led by nobody.
    pub const ZERO: Self = Self {
        number: 0,
        leader: TabId::from_bytes([0; 16]),
    };

    /// The leader id [`Term::ZERO`] carries on the wire: all zeros.
    pub const ZERO_LEADER: TabId = TabId::from_bytes([0; 16]);

    /// The term `number` minted and led by `leader`.
    #[must_use]
    pub const fn new(number: u64, leader: TabId) -> Self {
        Self { number, leader }
    }

    /// The term's number.
    #[must_use]
    pub const fn number(self) -> u64 {
        self.number
    }

    /// The tab that minted the term and leads it; `None` for [`Term::ZERO`].
    #[must_use]
    pub fn leader(self) -> Option<TabId> {
        (self != Self::ZERO).then_some(self.leader)
    }

    /// The highest term number anyone mints, stores, sends or believes: 2^50, an eighth of the
    /// highest integer a JavaScript number holds exactly (what the wire format carries). At one
    /// election a millisecond it lasts 35,000 years; a higher number is corrupt.
    pub const MAX_NUMBER: u64 = 1 << 50;

    /// The term `me` mints after this one (never above [`Term::MAX_NUMBER`]).
    #[must_use]
    pub const fn next(self, me: TabId) -> Self {
        let number = if self.number < Self::MAX_NUMBER {
            self.number + 1
        } else {
            Self::MAX_NUMBER
        };
        Self { number, leader: me }
    }

    /// Whether the number is within [`Term::MAX_NUMBER`]; one above it is corrupt.
    #[must_use]
    pub const fn is_in_range(self) -> bool {
        self.number <= Self::MAX_NUMBER
    }

    /// How a term is stored (in `localStorage`): `<number>:<leader hex>`, read back by
    /// [`Term::parse_stored`].
    #[must_use]
    pub fn stored_text(self) -> String {
        let leader = self.leader().unwrap_or(Self::ZERO_LEADER);
        format!("{}:{leader}", self.number)
    }

    /// Reads a stored term, as [`Term::stored_text`] writes it.
    ///
    /// # Errors
    /// [`CorruptTerm::Malformed`] if it is not `<decimal number>:<32 hex digits>` (or a number
    /// 0 whose leader is not all zeros, or a leader of zeros with a number); [`CorruptTerm::OutOfRange`]
    /// if the number is above [`Term::MAX_NUMBER`].
    ///
    /// # Examples
    /// ```
    /// use conclave_core::{CorruptTerm, TabId, Term};
    /// let term = Term::new(7, TabId::from_bytes([3; 16]));
    /// assert_eq!(Term::parse_stored(&term.stored_text()), Ok(term));
    /// assert_eq!(Term::parse_stored(&Term::ZERO.stored_text()), Ok(Term::ZERO));
    /// let top = format!("9007199254740991:{}", TabId::from_bytes([3; 16]));
    /// assert_eq!(Term::parse_stored(&top), Err(CorruptTerm::OutOfRange));
    /// assert_eq!(Term::parse_stored("7"), Err(CorruptTerm::Malformed));
    /// ```
    pub fn parse_stored(text: &str) -> Result<Self, CorruptTerm> {
        let (number, leader) = text.split_once(':').ok_or(CorruptTerm::Malformed)?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CorruptTerm::Malformed);
        }
        let leader: TabId = leader.parse().map_err(|_| CorruptTerm::Malformed)?;
        // Digits only: the one way to fail is a number past u64, far past the limit.
        let number: u64 = number.parse().map_err(|_| CorruptTerm::OutOfRange)?;
        let term = Self::new(number, leader);
        // Number 0 is "no term", which has exactly one spelling.
        if (number == 0) != (leader == Self::ZERO_LEADER) {
            return Err(CorruptTerm::Malformed);
        }
        if !term.is_in_range() {
            return Err(CorruptTerm::OutOfRange);
        }
        Ok(term)
    }

    /// Whether writing this term over the stored `text` keeps the highest term stored: yes if
    /// nothing is stored, what is stored is corrupt, or it is lower.
    #[must_use]
    pub fn outranks_stored(self, text: Option<&str>) -> bool {
        text.and_then(|text| Self::parse_stored(text).ok())
            .is_none_or(|stored| stored < self)
    }
}

/// Why a stored term was not believed ([`Term::parse_stored`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorruptTerm {
    /// Not `<number>:<leader>` as a term is stored.
    #[error("not a stored term")]
    Malformed,
    /// A number above [`Term::MAX_NUMBER`].
    #[error("a term number above {}", Term::MAX_NUMBER)]
    OutOfRange,
}

impl Ord for Term {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.number, self.leader).cmp(&(other.number, other.leader))
    }
}

impl PartialOrd for Term {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Default for Term {
    fn default() -> Self {
        Self::ZERO
    }
}

impl fmt::Debug for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Term({}, {})", self.number, self.leader.short())
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number)
    }
}

/// How leadership is gated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The browser has Web Locks: a tab leads only while it holds the exclusive lock.
    WebLocks,
    /// No Web Locks: leadership by term and probing over the channel alone.
    Lease,
}

/// The two locks of Web Locks mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockName {
    /// Held by the leader.
    Leader,
    /// Held by the one tab that waits for the leader lock.
    Heir,
}

impl LockName {
    /// Both locks.
    pub const ALL: [Self; 2] = [Self::Leader, Self::Heir];

    /// The position of this lock in [`LockName::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::Leader => 0,
            Self::Heir => 1,
        }
    }

    /// The suffix of the lock's name after the channel's: `leader` or `heir`.
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::Leader => "leader",
            Self::Heir => "heir",
        }
    }
}

/// What the engine asks of the lock manager (Web Locks mode only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockRequest {
    /// Queue for the lock; [`LockChange::Granted`] arrives when it is ours.
    Request,
    /// Take the lock from its holder now (`steal: true`), dropping any queued request first.
    Steal,
    /// Give the lock back, or stop waiting for it.
    Release,
}

/// What the lock manager reports (Web Locks mode only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockChange {
    /// The lock is ours.
    Granted,
    /// The lock we held was taken (stolen) or our request failed.
    Lost,
}

/// This tab's part in the election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Following the leader of the highest known term (or waiting for one).
    Follower,
    /// Has minted a term and waits for it to be durable (and, after a steal, for the grace
    /// period) before acting.
    Candidate,
    /// Leads its term. [`crate::Engine::is_leader`] is false while it verifies after a stall.
    Leader,
}

/// Why a tab stopped leading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepDown {
    /// It heard of a higher term.
    HigherTerm,
    /// Its lock was stolen or lost.
    LockLost,
    /// It resigned: the page is closing or freezing.
    Resigned,
    /// Storage never confirmed the term it minted (full, or disabled): it gave the locks back
    /// so that another tab may lead.
    Unpersisted,
}
