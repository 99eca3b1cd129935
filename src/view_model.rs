//! Plain view-model logic: what the panel shows, computed from a [`Snapshot`] without Leptos, so
//! it is tested without a page. The sessions workspace's part is in `view_model/workspace.rs`,
//! the backups' in `view_model/backups.rs`, the election timeline's in `view_model/timeline.rs`.

use conclave_web::{Counters, Mode, Rejection, Role, SendError, Snapshot};

use crate::use_conclave::AppMessage;

mod backups;
mod imports;
mod reads;
mod timeline;
mod workspace;

pub use backups::{backup_warning, found_rows, verdict_text, FoundRow};
pub use imports::{format_of, import_refused, task_rows, TaskRow, MAX_SHOWN, MAX_SHOWN_IMPORTING};
pub use reads::{read_retry_ms, ReadQueue};
pub use timeline::{chart as timeline_chart, Bar, Chart, Timeline, CHART_WIDTH};

pub use workspace::{
    breaker_label, check_title, choose_active, latest_post_rows, not_sent, op_label, outcome_of,
    outline_changed, pending_rows, request_rows, search, search_count, session_rows, stage_label,
    to_read, ComposeStatus, PendingRow, PostRow, SessionRow,
};

/// One row of the peer table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerRow {
    /// The full id (also the row's key and its `data-peer-id`).
    pub id: String,
    /// The first 8 hex digits, for display.
    pub short: String,
    /// The peer's incarnation.
    pub incarnation: u32,
    /// The highest sequence number heard from it.
    pub seq: u64,
    /// "just now", "2.4 s ago", "3 min ago".
    pub heard: String,
    /// Whether the peer's page is visible.
    pub visible: bool,
}

/// The peer table's rows, ordered by id (the snapshot's order).
#[must_use]
pub fn peer_rows(snapshot: &Snapshot) -> Vec<PeerRow> {
    snapshot
        .peers
        .iter()
        .map(|peer| PeerRow {
            id: peer.id.to_string(),
            short: peer.id.short(),
            incarnation: peer.incarnation.0,
            seq: peer.seq.0,
            heard: format_age(snapshot.now.since(peer.last_heard)),
            visible: peer.visible,
        })
        .collect()
}

/// Whether `next` changes what must be shown at once: who leads, at which term, this tab's role,
/// mode, key or visibility, which tabs are listed (and their incarnations and visibility), or
/// how this tab's requests and the store stand (a request made or ended, a new revision, a
/// store error, the breaker), or whether its drafts are backed up. Message counters, sequence numbers and ages alone may wait for
/// the next refresh.
#[must_use]
pub fn shows_at_once(shown: &Snapshot, next: &Snapshot) -> bool {
    let essentials = |s: &Snapshot| {
        (
            s.id,
            s.incarnation,
            s.visible,
            s.keyed,
            s.bootstrap_open,
            s.mode,
            s.term,
            s.role,
            s.is_leader,
            s.leader,
        )
    };
    let listed = |s: &Snapshot| {
        s.peers
            .iter()
            .map(|p| (p.id, p.incarnation, p.visible))
            .collect::<Vec<_>>()
    };
    // Whether this tab can write shows at once (the read-only banner hangs on it); the
    // request counters, the requests in flight and the store's revision move with every
    // write, in every tab, and wait like the message counters (the benchmark of sustained
    // writes found the panel redrawing on each one cost more than the message list).
    let writable = |s: &Snapshot| (s.breaker, s.store.writing, s.store.error.clone());
    // Whether every draft is backed up shows at once too (the backup banner hangs on it).
    let protected = |s: &Snapshot| (s.backup.failure, s.backup.unprotected.clone());
    essentials(shown) != essentials(next)
        || listed(shown) != listed(next)
        || writable(shown) != writable(next)
        || protected(shown) != protected(next)
}

/// One received app message, as the message board shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    /// The sender's full id (the row's `data-from`).
    pub from: String,
    /// The sender's first 8 hex digits, for display.
    pub short: String,
    /// What its app sent.
    pub data: String,
}

/// The message board's rows, newest first.
#[must_use]
pub fn message_rows(messages: &[AppMessage]) -> Vec<MessageRow> {
    messages
        .iter()
        .rev()
        .map(|m| MessageRow {
            from: m.from.to_string(),
            short: m.from.short(),
            data: m.data.clone(),
        })
        .collect()
}

/// What the message board says after a send.
#[must_use]
pub fn send_status(result: &Result<(), SendError>) -> String {
    match result {
        Ok(()) => "Sent to every other tab.".to_owned(),
        Err(SendError::Away) => {
            "Not sent: this tab runs alone (frozen, closing or in safe mode).".to_owned()
        }
        Err(error) => format!("Not sent: {error}."),
    }
}

/// A human reading of an age in milliseconds.
#[must_use]
pub fn format_age(ms: u64) -> String {
    match ms {
        0..=199 => "just now".to_owned(),
        _ => format!("{} ago", seconds(ms)),
    }
}

/// A length of time in seconds, to a tenth under 10 s, or in minutes from 2 min: "0.4 s",
/// "4.2 s", "45 s", "3 min".
fn seconds(ms: u64) -> String {
    match ms {
        0..=9_999 => format!("{}.{} s", ms / 1_000, (ms % 1_000) / 100),
        10_000..=119_999 => format!("{} s", ms / 1_000),
        _ => format!("{} min", ms / 60_000),
    }
}

/// How this tab authenticates, in words.
#[must_use]
pub fn signing_state(snapshot: &Snapshot) -> &'static str {
    match (snapshot.keyed, snapshot.bootstrap_open) {
        (true, _) => "signed (HMAC-SHA-256)",
        (false, true) => "no key yet: bootstrap window open",
        (false, false) => "no key: storage unavailable, cannot sign",
    }
}

/// This tab's part in the election, in words (tests read it too).
#[must_use]
pub fn role_label(snapshot: &Snapshot) -> &'static str {
    match snapshot.role {
        Role::Leader if snapshot.is_leader => "leader",
        // It stalled (its thread was blocked) and is reading the stored term before acting.
        Role::Leader => "leader (verifying)",
        Role::Candidate => "candidate",
        Role::Follower => "follower",
    }
}

/// How leadership is gated, in words.
#[must_use]
pub fn mode_label(snapshot: &Snapshot) -> &'static str {
    match snapshot.mode {
        Mode::WebLocks => "Web Locks",
        Mode::Lease => "lease-only (no Web Locks)",
    }
}

/// One row of a counter table: `key` is stable (tests select `count-{key}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterRow {
    /// Stable kebab-case key.
    pub key: &'static str,
    /// What a person reads.
    pub label: &'static str,
    /// The count.
    pub value: u64,
}

/// Messages by sequence class: what was sent, delivered and dropped.
#[must_use]
pub fn class_rows(counters: &Counters) -> Vec<CounterRow> {
    let row = |key, label, value| CounterRow { key, label, value };
    vec![
        row("sent", "sent", counters.sent),
        row("relayed", "passed on as heir", counters.relayed),
        row("first", "first from a tab", counters.first),
        row("next", "in order", counters.next),
        row("gap", "after a gap", counters.gap),
        row("missing", "skipped by gaps", counters.missing),
        row("late", "late (gap filled)", counters.late),
        row("duplicate", "duplicate (dropped)", counters.duplicate),
        row("old", "too old (dropped)", counters.old),
    ]
}

/// Rejected messages, one row per reason, in the core's order.
#[must_use]
pub fn rejection_rows(counters: &Counters) -> Vec<CounterRow> {
    Rejection::ALL
        .iter()
        .map(|&reason| CounterRow {
            key: reason.name(),
            label: rejection_label(reason),
            value: counters.rejected(reason),
        })
        .collect()
}

fn rejection_label(reason: Rejection) -> &'static str {
    match reason {
        Rejection::NotText => "not a string",
        Rejection::Oversized => "oversized",
        Rejection::Malformed => "malformed JSON",
        Rejection::WrongType => "wrong field type",
        Rejection::UnsafeNumber => "unsafe number",
        Rejection::TermOutOfRange => "term out of range",
        Rejection::UnknownVersion => "other protocol version",
        Rejection::OtherChannel => "other channel",
        Rejection::OwnId => "claims this tab's id",
        Rejection::StaleIncarnation => "stale incarnation",
        Rejection::Unsigned => "unsigned",
        Rejection::UnsignedKind => "unsigned, not a greeting",
        Rejection::BadTag => "bad signature",
        Rejection::TagLength => "signature of wrong length",
        Rejection::NoKey => "signed, no key yet",
        Rejection::StaleTerm => "from a deposed leader",
        Rejection::SentBeforeStart => "sent before this tab listened",
        Rejection::TooOld => "too old",
        Rejection::NotLeader => "leader's message from a non-leader",
        // The core may name new reasons before the app learns to word them.
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    // The same tests run natively under `cargo test` and in Chromium under wasm-pack.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    use super::*;
    use conclave_web::{
        Breaker, Incarnation, Millis, Peer, RequestCounters, StoreStatus, TabId, Term,
    };

    #[test]
    fn ages_read_naturally() {
        assert_eq!(format_age(0), "just now");
        assert_eq!(format_age(2_450), "2.4 s ago");
        assert_eq!(format_age(45_000), "45 s ago");
        assert_eq!(format_age(180_000), "3 min ago");
    }

    #[test]
    fn peer_rows_measure_age_on_this_tabs_clock() {
        let snapshot = Snapshot {
            peers: vec![peer(2, 17, false)],
            ..snapshot()
        };
        let rows = peer_rows(&snapshot);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].short, "cdcdcdcd");
        assert_eq!(rows[0].heard, "2.5 s ago");
        assert_eq!(
            (rows[0].incarnation, rows[0].seq, rows[0].visible),
            (2, 17, false)
        );
    }

    /// Tab cdcd…, last heard at 1 s.
    fn peer(incarnation: u32, seq: u64, visible: bool) -> Peer {
        Peer {
            id: TabId::from_bytes([0xcd; 16]),
            incarnation: Incarnation(incarnation),
            seq: conclave_web::Seq(seq),
            last_heard: Millis(1_000),
            visible,
        }
    }

    /// A follower's snapshot at 3.5 s, alone (the workspace's tests start from it too).
    pub(super) fn snapshot() -> Snapshot {
        Snapshot {
            id: TabId::from_bytes([1; 16]),
            incarnation: Incarnation(0),
            visible: true,
            now: Millis(3_500),
            peers: Vec::new(),
            counters: Counters::default(),
            keyed: true,
            bootstrap_open: false,
            mode: Mode::WebLocks,
            term: Term::ZERO,
            role: Role::Follower,
            is_leader: false,
            leader: None,
            requests: RequestCounters::default(),
            pending: Vec::new(),
            store: StoreStatus::default(),
            breaker: Breaker::default(),
            backup: conclave_core::data::BackupStatus::default(),
            backups_found: Vec::new(),
        }
    }

    #[test]
    fn a_stalled_leader_reads_as_verifying_until_it_may_act() {
        let leading = Snapshot {
            role: Role::Leader,
            is_leader: true,
            ..snapshot()
        };
        assert_eq!(role_label(&leading), "leader");
        let verifying = Snapshot {
            is_leader: false,
            ..leading
        };
        assert_eq!(role_label(&verifying), "leader (verifying)");
        assert_eq!(role_label(&snapshot()), "follower");
        let lease = Snapshot {
            mode: Mode::Lease,
            ..snapshot()
        };
        assert_eq!(mode_label(&lease), "lease-only (no Web Locks)");
    }

    #[test]
    fn leadership_membership_and_writability_show_at_once_counters_and_ages_may_wait() {
        let shown = Snapshot {
            peers: vec![peer(1, 3, true)],
            ..snapshot()
        };
        let mut later = shown.clone();
        later.now = Millis(9_000);
        later.counters.sent += 5;
        later.peers[0].seq = conclave_web::Seq(9);
        later.peers[0].last_heard = Millis(8_000);
        assert!(
            !shows_at_once(&shown, &later),
            "only counters and ages moved"
        );

        let leading = Snapshot {
            role: Role::Leader,
            is_leader: true,
            term: Term::ZERO.next(shown.id),
            leader: Some(shown.id),
            ..later.clone()
        };
        assert!(shows_at_once(&shown, &leading));
        let mut made = later.clone();
        made.requests.made += 1;
        made.store.rev = Some(3);
        assert!(!shows_at_once(&shown, &made), "requests and revisions wait");
        let mut cut_off = later.clone();
        cut_off.breaker = conclave_web::Breaker::HalfOpen;
        assert!(shows_at_once(&shown, &cut_off), "the tab turned read-only");
        let joined = Snapshot {
            peers: Vec::new(),
            ..later.clone()
        };
        assert!(shows_at_once(&shown, &joined), "a tab left the list");
        let mut hidden = later;
        hidden.peers[0].visible = false;
        assert!(
            shows_at_once(&shown, &hidden),
            "a peer's visibility changed"
        );
    }

    #[test]
    fn the_board_shows_messages_newest_first_and_says_why_a_send_failed() {
        let from = |b: u8| TabId::from_bytes([b; 16]);
        let message = |b: u8, data: &str| AppMessage {
            from: from(b),
            data: data.to_owned(),
        };
        let rows = message_rows(&[message(1, "first"), message(2, "second")]);
        assert_eq!(
            rows.iter()
                .map(|r| (r.short.as_str(), r.data.as_str()))
                .collect::<Vec<_>>(),
            [("02020202", "second"), ("01010101", "first")]
        );
        assert_eq!(rows[0].from, from(2).to_string());
        assert_eq!(send_status(&Ok(())), "Sent to every other tab.");
        assert!(send_status(&Err(SendError::Away)).contains("runs alone"));
        let too_large = send_status(&Err(SendError::TooLarge {
            size: 70_000,
            max: 65_536,
        }));
        assert_eq!(
            too_large,
            "Not sent: the message would be 70000 bytes; at most 65536 are accepted."
        );
    }

    #[test]
    fn every_rejection_reason_has_a_row_and_a_label() {
        let rows = rejection_rows(&Counters::default());
        assert_eq!(rows.len(), Rejection::ALL.len());
        assert!(rows.iter().all(|r| r.label != "other" && r.value == 0));
    }
}
