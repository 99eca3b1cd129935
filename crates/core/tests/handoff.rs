//! Web Locks hand-off scenarios through the public API: two tabs, one in-memory channel, one
//! virtual clock, and the lock manager played by hand, step by step.
//!
//! The rules under test: the heir (holder of the heir lock, the one tab waiting for the leader
//! lock) leads on a resignation at once, before the leader lock arrives; it declines when it
//! stalled lately or when the stored term is past the resigned one; and a leader that stalled
//! lately hands nothing off.

use conclave_core::{
    Config, Engine, Event, Key, LeaveReason, Lifecycle, LockChange, LockName, LockRequest, Millis,
    Received, Start, TabId, Term,
};

struct Pair {
    now: Millis,
    tabs: [Engine; 2],
    /// The durable term, as `localStorage` would hold it.
    stored: Term,
    /// Per tab, the lock requests made and not yet looked at.
    requests: [Vec<(LockName, LockRequest)>; 2],
    /// A tab whose main thread is blocked: it runs nothing, and what is posted to it is dropped.
    blocked: [bool; 2],
}

impl Pair {
    fn new() -> Self {
        let start = |byte: u8| {
            Engine::start(
                Config::default(),
                Start {
                    id: TabId::from_bytes([byte; 16]),
                    now: Millis(0),
                    visible: true,
                    key: Some(Key::from_bytes([42; 32])),
                    term: Term::ZERO,
                },
            )
        };
        Self {
            now: Millis(0),
            tabs: [start(1), start(2)],
            stored: Term::ZERO,
            requests: [Vec::new(), Vec::new()],
            blocked: [false; 2],
        }
    }

    /// Runs both tabs' outputs the way the driver does (storage answers at once, posts reach
    /// the other tab), until both are quiet; returns tab `i`'s lock requests.
    fn drain(&mut self, i: usize) -> Vec<(LockName, LockRequest)> {
        loop {
            let mut busy = false;
            for t in 0..2 {
                while let Some(term) = self.tabs[t].poll_persist() {
                    busy = true;
                    self.stored = self.stored.max(term);
                    self.tabs[t].handle_persisted(self.now, term);
                }
                if self.tabs[t].poll_read_term() {
                    busy = true;
                    self.tabs[t].handle_stored_term(self.now, self.stored);
                }
                while let Some(request) = self.tabs[t].poll_lock() {
                    busy = true;
                    self.requests[t].push(request);
                }
                while let Some(text) = self.tabs[t].poll_transmit() {
                    busy = true;
                    if !self.blocked[1 - t] {
                        self.tabs[1 - t].handle_message(self.now, Received::Text(&text));
                    }
                }
                while self.tabs[t].poll_event().is_some() {}
            }
            if !busy {
                return std::mem::take(&mut self.requests[i]);
            }
        }
    }

    fn grant(&mut self, i: usize, name: LockName) -> Vec<(LockName, LockRequest)> {
        if name == LockName::Leader {
            self.tabs[i].handle_stored_term(self.now, self.stored);
        }
        self.tabs[i].handle_lock(self.now, name, LockChange::Granted);
        self.drain(i)
    }

    fn tick(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
        for i in 0..2 {
            if !self.blocked[i] {
                self.tabs[i].handle_timeout(self.now);
            }
        }
        let _ = self.drain(0);
    }

    /// The leader's tab (tab 0) closes: `pagehide`, then whatever follows; returns its lock
    /// requests.
    fn close_leader(&mut self) -> Vec<(LockName, LockRequest)> {
        self.tabs[0].handle_lifecycle(self.now, Lifecycle::Closing);
        self.drain(0)
    }

    /// Tab `i`'s main thread is blocked for `ms` while the other runs on.
    fn block(&mut self, i: usize, ms: u64) {
        self.blocked[i] = true;
        for _ in 0..ms / 100 {
            self.tick(100);
        }
        self.blocked[i] = false;
    }

    /// Tab 0 leads (it took both locks, heir first), tab 1 is the heir, queued for the leader
    /// lock.
    fn leader_and_heir() -> Self {
        let mut pair = Self::new();
        assert_eq!(pair.drain(0), [(LockName::Heir, LockRequest::Request)]);
        assert_eq!(
            pair.requests[1].split_off(0),
            [(LockName::Heir, LockRequest::Request)]
        );
        assert_eq!(
            pair.grant(0, LockName::Heir),
            [(LockName::Leader, LockRequest::Request)]
        );
        let after_lead = pair.grant(0, LockName::Leader);
        assert!(pair.tabs[0].is_leader());
        assert!(
            after_lead.contains(&(LockName::Heir, LockRequest::Release)),
            "a leader lets go of the heir lock: {after_lead:?}"
        );
        assert_eq!(
            pair.grant(1, LockName::Heir),
            [(LockName::Leader, LockRequest::Request)]
        );
        pair.tick(300);
        pair
    }
}

#[test]
fn the_heir_leads_on_the_resignation_before_the_lock_arrives_and_the_lock_follows() {
    let mut pair = Pair::leader_and_heir();
    let resigned = pair.tabs[0].term();
    let released = pair.close_leader();
    assert!(released.contains(&(LockName::Leader, LockRequest::Release)));
    assert!(!pair.tabs[0].is_leader());

    // The channel was faster than the lock manager: the heir already leads, above the term.
    assert!(pair.tabs[1].is_leader(), "the heir leads by hand-off");
    assert!(pair.tabs[1].term() > resigned);
    assert_eq!(
        pair.stored,
        pair.tabs[1].term(),
        "its term was stored first"
    );

    // The lock follows; only then does it let the next tab be heir.
    let after = pair.grant(1, LockName::Leader);
    assert!(pair.tabs[1].is_leader());
    assert_eq!(after, [(LockName::Heir, LockRequest::Release)]);
}

#[test]
fn losing_the_heir_lock_ends_a_hand_off_before_the_lock_arrives() {
    let mut pair = Pair::leader_and_heir();
    let _ = pair.close_leader();
    assert!(pair.tabs[1].is_leader());
    pair.tabs[1].handle_lock(pair.now, LockName::Heir, LockChange::Lost);
    let requests = pair.drain(1);
    assert!(
        !pair.tabs[1].is_leader(),
        "no longer the heir, no longer leading"
    );
    assert!(
        requests.contains(&(LockName::Leader, LockRequest::Release)),
        "it stops waiting for the leader lock, which is the new heir's: {requests:?}"
    );
}

#[test]
fn an_heir_that_stalled_lately_waits_for_the_lock() {
    let mut pair = Pair::leader_and_heir();
    // The heir's main thread was blocked for 2 s; the leader ran on. The resignation is the
    // heir's first input after the block.
    pair.block(1, 2_000);
    let _ = pair.close_leader();
    assert!(
        !pair.tabs[1].is_leader(),
        "a theft of its heir lock may be on its way: no hand-off"
    );
    let _ = pair.grant(1, LockName::Leader);
    assert!(!pair.tabs[1].is_leader());
    // After a stall a grant is used only once a queued theft notice would have come.
    pair.tick(Config::default().lock_notice_ms);
    assert!(
        pair.tabs[1].is_leader(),
        "the lock, once granted, makes it lead"
    );
}

#[test]
fn a_leader_that_stalled_lately_hands_nothing_off() {
    let mut pair = Pair::leader_and_heir();
    // The leader says it is there, then its thread is blocked for 1.3 s (past the stall bound,
    // short of the heir's probe timing out) while the heir runs on; its first input after is
    // `pagehide`.
    pair.tabs[0].handle_lifecycle(pair.now, Lifecycle::Visible);
    let _ = pair.drain(0);
    pair.block(0, 1_300);
    let _ = pair.close_leader();
    assert!(
        !pair.tabs[1].is_leader(),
        "its lock may have been stolen meanwhile: no hand-off"
    );
}

#[test]
fn no_hand_off_when_the_stored_term_is_past_the_resigned_one() {
    let mut pair = Pair::leader_and_heir();
    let resigned = pair.tabs[0].term();
    // A thief minted and stored a higher term that neither tab has heard yet.
    let thief = Term::new(resigned.number() + 1, TabId::from_bytes([9; 16]));
    pair.stored = thief;
    let _ = pair.close_leader();
    assert!(!pair.tabs[1].is_leader());
    assert_eq!(
        pair.tabs[1].term(),
        thief,
        "it follows the stored term instead"
    );
}

#[test]
fn a_closing_leaders_resignation_is_its_only_message_and_its_goodbye() {
    let mut pair = Pair::leader_and_heir();
    let leader = pair.tabs[0].id();
    pair.tabs[0].handle_lifecycle(pair.now, Lifecycle::Closing);
    let mut posted = Vec::new();
    while let Some(text) = pair.tabs[0].poll_transmit() {
        posted.push(text);
    }
    // One message wakes every other tab once, not twice, while the heir takes over.
    assert_eq!(posted.len(), 1, "{posted:?}");
    while pair.tabs[1].poll_event().is_some() {}
    pair.tabs[1].handle_message(pair.now, Received::Text(&posted[0]));
    let events: Vec<_> = std::iter::from_fn(|| pair.tabs[1].poll_event()).collect();
    assert!(
        events.contains(&Event::PeerLeft {
            id: leader,
            reason: LeaveReason::Goodbye
        }),
        "{events:?}"
    );
    assert_eq!(
        pair.tabs[1].peers().count(),
        0,
        "the leader is forgotten at once"
    );
    let _ = pair.drain(1);
    assert!(pair.tabs[1].is_leader(), "and the heir leads by hand-off");
}

#[test]
fn a_grant_reported_after_the_loss_of_its_request_is_handed_back_unused() {
    let mut pair = Pair::leader_and_heir();
    // After a stall, the heir's queued notices run in no promised order: it lost the heir lock
    // (so it stopped waiting for the leader lock), then hears of a leader lock grant that the
    // lock manager already took back.
    pair.tabs[1].handle_lock(pair.now, LockName::Heir, LockChange::Lost);
    let requests = pair.drain(1);
    assert!(
        requests.contains(&(LockName::Leader, LockRequest::Release)),
        "{requests:?}"
    );
    pair.tabs[1].handle_lock(pair.now, LockName::Leader, LockChange::Lost);
    let _ = pair.drain(1);
    let requests = pair.grant(1, LockName::Leader);
    assert_eq!(requests, [(LockName::Leader, LockRequest::Release)]);
    pair.tick(Config::default().lock_notice_ms + Config::default().steal_grace_ms());
    assert!(
        !pair.tabs[1].is_leader(),
        "a lock it does not hold makes nobody lead"
    );
    assert!(pair.tabs[0].is_leader());
}
