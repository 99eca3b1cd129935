//! A plain-data picture of one tab's coordination state, handed to the app after every change.

use conclave_core::data::{BackupStatus, Breaker, Found, Pending, RequestCounters, StoreStatus};
use conclave_core::{Counters, Engine, Incarnation, Millis, Mode, Peer, Role, TabId, Term};

/// Everything the coordination panel shows, as plain data (no `web_sys` object inside), so it
/// can live in a Leptos signal and be compared, cloned and tested natively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// This tab's id.
    pub id: TabId,
    /// This tab's incarnation.
    pub incarnation: Incarnation,
    /// Whether this tab's page is visible.
    pub visible: bool,
    /// When the snapshot was taken, on this tab's clock (compare with [`Peer::last_heard`]).
    pub now: Millis,
    /// The other tabs, ordered by id.
    pub peers: Vec<Peer>,
    /// Message counters by class and by rejection reason.
    pub counters: Counters,
    /// Whether this tab holds the shared key (signs and verifies every message).
    pub keyed: bool,
    /// Whether the bootstrap window is open (no key yet, and started under 5 s ago).
    pub bootstrap_open: bool,
    /// How leadership is gated here: Web Locks, or lease-only where the browser lacks them.
    pub mode: Mode,
    /// The highest term this tab knows.
    pub term: Term,
    /// This tab's part in the election.
    pub role: Role,
    /// Whether this tab may act as leader at [`Snapshot::now`]
    /// ([`conclave_core::Engine::is_leader_at`]); read again with [`crate::Driver::is_leader`]
    /// when it matters later.
    pub is_leader: bool,
    /// The leader this tab follows (itself when leading), if any.
    pub leader: Option<TabId>,
    /// What this tab's requests have come to.
    pub requests: RequestCounters,
    /// This tab's requests not yet ended, oldest first.
    pub pending: Vec<Pending>,
    /// How the durable store stands, as this tab knows it.
    pub store: StoreStatus,
    /// The retry policy's circuit breaker: open while no leader answers (the tab is
    /// read-only).
    pub breaker: Breaker,
    /// How this tab's emergency backup stands.
    pub backup: BackupStatus,
    /// The backups this tab found the last time it read them (as leader), and what became of
    /// each.
    pub backups_found: Vec<Found>,
}

impl Snapshot {
    pub(crate) fn of(engine: &Engine, now: Millis) -> Self {
        Self {
            id: engine.id(),
            incarnation: engine.incarnation(),
            visible: engine.is_visible(),
            now,
            peers: engine.peers().collect(),
            counters: engine.counters().clone(),
            keyed: engine.has_key(),
            bootstrap_open: engine.bootstrap_open(now),
            mode: engine.mode(),
            term: engine.term(),
            role: engine.role(),
            is_leader: engine.is_leader_at(now),
            leader: engine.leader(),
            requests: engine.request_counters(),
            pending: engine.pending_requests().cloned().collect(),
            store: engine.store_status(),
            breaker: engine.breaker(now),
            backup: engine.backup_status(),
            backups_found: engine.backups_found().to_vec(),
        }
    }
}
