//! The scenario harness (quinn's `Pair`, for tabs): tabs on one in-memory channel and the heir's
//! channel, one virtual clock, `localStorage` answering at once, and the lock manager played by
//! hand, step by step.

use conclave_core::{
    Config, Engine, Event, Key, Lifecycle, LockChange, LockName, LockRequest, Millis, Output,
    Received, Role, Start, TabId, Term,
};

use super::Drained;

/// A lock request a tab made: the lock, and what it asks of it.
pub type Request = (LockName, LockRequest);

/// Tabs sharing one broadcast channel, the heir's channel and one virtual clock. Like
/// BroadcastChannel, a post reaches every *other* running tab, in order.
#[derive(Debug)]
pub struct Tabs {
    /// The virtual clock.
    pub now: Millis,
    /// The tabs' engines; tab `i` has the id `[i + 1; 16]`.
    pub tabs: Vec<Engine>,
    /// The durable term, as `localStorage` would hold it.
    pub stored: Term,
    /// The highest theft record, as `localStorage` would hold it.
    pub stored_theft: Term,
    /// Per tab, the lock requests made and not yet looked at.
    pub requests: Vec<Vec<Request>>,
    /// A tab whose main thread is blocked, or that is gone without a goodbye (crashed): it runs
    /// nothing, and what is posted to it is dropped.
    pub blocked: Vec<bool>,
    /// Per tab, whether it holds the heir lock: from the grant until it lets go of the lock.
    /// The driver listens on the heir's channel while it does, or while the tab does not follow.
    pub holds_heir: Vec<bool>,
    /// Per tab, the events for the app that the harness carried (not those [`Tabs::take`] kept).
    pub events: Vec<Vec<Event>>,
}

impl Tabs {
    /// `n` tabs opened at time zero, each queued for the heir lock, which nobody grants: they
    /// have heard each other, and no tab leads.
    pub fn open(n: u8) -> Self {
        let start = |byte: u8| {
            Engine::start(
                Config::default(),
                Start {
                    id: TabId::from_bytes([byte; 16]),
                    now: Millis(0),
                    visible: true,
                    key: Some(Key::from_bytes([42; 32])),
                    term: Term::ZERO,
                    wall: 0,
                },
            )
        };
        let n = usize::from(n);
        let mut tabs = Self {
            now: Millis(0),
            tabs: (1..=n).map(|i| start(i as u8)).collect(),
            stored: Term::ZERO,
            stored_theft: Term::ZERO,
            requests: vec![Vec::new(); n],
            blocked: vec![false; n],
            holds_heir: vec![false; n],
            events: vec![Vec::new(); n],
        };
        tabs.flush();
        tabs
    }

    /// Of `n` tabs, tab 0 leads (it took both locks, heir first), tab 1 is the heir, queued for
    /// the leader lock, and the others wait for the heir lock.
    pub fn leader_and_heir(n: u8) -> Self {
        let mut pair = Self::open(n);
        for t in 0..pair.tabs.len() {
            assert_eq!(
                pair.requests[t].split_off(0),
                [(LockName::Heir, LockRequest::Request)]
            );
        }
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

    /// Runs every tab's outputs the way the driver does (storage answers at once, posts reach
    /// the other tabs, posts to the heir or the leader the tabs listening there), until all
    /// are quiet.
    pub fn flush(&mut self) {
        let mut busy = true;
        while busy {
            busy = false;
            for t in 0..self.tabs.len() {
                while let Some(output) = self.tabs[t].poll_output() {
                    busy = true;
                    match output {
                        Output::TransmitToHeir(text) => self.post_to(
                            t,
                            &text,
                            |tabs, u| tabs.holds_heir[u] || tabs.tabs[u].role() != Role::Follower,
                            Engine::handle_message_to_heir,
                        ),
                        Output::TransmitToLeader(text) => self.post_to(
                            t,
                            &text,
                            |tabs, u| tabs.tabs[u].role() != Role::Follower,
                            Engine::handle_message,
                        ),
                        Output::Transmit(text) => self.post(t, &text),
                        other => self.carry(t, other),
                    }
                }
            }
        }
    }

    /// [`Tabs::flush`], then tab `i`'s lock requests.
    pub fn drain(&mut self, i: usize) -> Vec<Request> {
        self.flush();
        std::mem::take(&mut self.requests[i])
    }

    /// Delivers `text`, posted by tab `from`, to every other running tab.
    pub fn post(&mut self, from: usize, text: &str) {
        self.post_to(from, text, |_, _| true, Engine::handle_message);
    }

    /// Delivers `text`, posted by tab `from` on one of the app's channels, with `handle` to
    /// every other running tab that `listens` there.
    fn post_to(
        &mut self,
        from: usize,
        text: &str,
        listens: fn(&Self, usize) -> bool,
        handle: fn(&mut Engine, Millis, Received<'_>),
    ) {
        for u in self.others(from).collect::<Vec<_>>() {
            if listens(self, u) {
                handle(&mut self.tabs[u], self.now, Received::Text(text));
            }
        }
    }

    /// Carries out tab `t`'s `output` other than a post: storage answers at once, as
    /// `localStorage` does; lock requests are kept for the test; events are kept.
    fn carry(&mut self, t: usize, output: Output) {
        match output {
            Output::Persist(term) => {
                self.stored = self.stored.max(term);
                self.tabs[t].handle_persisted(self.now, term);
            }
            Output::ReadTerm => {
                self.tabs[t].handle_stored_term(self.now, Some(&self.stored.stored_text()))
            }
            Output::RecordTheft(term) => self.stored_theft = self.stored_theft.max(term),
            Output::Lock(name, request) => {
                if (name, request) == (LockName::Heir, LockRequest::Release) {
                    self.holds_heir[t] = false;
                }
                self.requests[t].push((name, request));
            }
            Output::Event(event) => self.events[t].push(event),
            _ => {}
        }
    }

    /// The tabs other than `t` that run.
    pub fn others(&self, t: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.tabs.len()).filter(move |&u| u != t && !self.blocked[u])
    }

    /// The lock manager grants tab `i` the lock `name`; returns the lock requests that follow.
    pub fn grant(&mut self, i: usize, name: LockName) -> Vec<Request> {
        match name {
            LockName::Leader => {
                self.tabs[i].handle_stored_term(self.now, Some(&self.stored.stored_text()));
                self.tabs[i].handle_stored_theft(Some(&self.stored_theft.stored_text()));
            }
            LockName::Heir => self.holds_heir[i] = true,
        }
        self.tabs[i].handle_lock(self.now, name, LockChange::Granted);
        self.drain(i)
    }

    /// The clock moves on `ms`, every running tab's timer fires, and the channel runs quiet.
    pub fn tick(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
        for i in 0..self.tabs.len() {
            if !self.blocked[i] {
                self.tabs[i].handle_timeout(self.now);
            }
        }
        self.flush();
    }

    /// Runs the clock forward to `until`, firing each running tab's timer when it is due.
    pub fn run_until(&mut self, until: u64) {
        while let Some(at) = (0..self.tabs.len())
            .filter(|&i| !self.blocked[i])
            .filter_map(|i| self.tabs[i].poll_timeout())
            .min()
            .filter(|at| at.0 <= until)
        {
            self.now = self.now.max(at);
            for i in 0..self.tabs.len() {
                let due = self.tabs[i].poll_timeout().is_some_and(|t| t <= self.now);
                if !self.blocked[i] && due {
                    self.tabs[i].handle_timeout(self.now);
                }
            }
            self.flush();
        }
        self.now = Millis(until);
    }

    /// The leader's tab (tab 0) closes: `pagehide`, then whatever follows; returns its lock
    /// requests.
    pub fn close_leader(&mut self) -> Vec<Request> {
        self.tabs[0].handle_lifecycle(self.now, Lifecycle::Closing);
        self.drain(0)
    }

    /// Tab `i`'s page closes (`pagehide`): what it posted, not yet delivered, to every tab and
    /// to the heir's channel.
    pub fn closing_posts(&mut self, i: usize) -> (Vec<String>, Vec<String>) {
        self.tabs[i].handle_lifecycle(self.now, Lifecycle::Closing);
        let said = self.take(i);
        (said.posts, said.to_heir)
    }

    /// What tab `i` says now, its posts and events kept and not delivered; the rest (storage,
    /// locks) carried out.
    pub fn take(&mut self, i: usize) -> Drained {
        let mut drained = Drained::default();
        while let Some(output) = self.tabs[i].poll_output() {
            if let Some(other) = drained.keep(output) {
                self.carry(i, other);
            }
        }
        drained
    }

    /// Tab `i`'s main thread is blocked for `ms` while the others run on.
    pub fn block(&mut self, i: usize, ms: u64) {
        self.blocked[i] = true;
        for _ in 0..ms / 100 {
            self.tick(100);
        }
        self.blocked[i] = false;
    }

    /// The leader's (tab 0's) main thread is blocked: the heir probes, hears nothing, and
    /// steals the leader lock. Tab 0 stays blocked.
    pub fn block_leader_until_the_heir_steals(&mut self) {
        self.blocked[0] = true;
        let mut waited = 0;
        while !self.requests[1].contains(&(LockName::Leader, LockRequest::Steal)) {
            assert!(waited < 3_000, "the heir never stole the lock");
            self.tick(10);
            waited += 10;
        }
    }

    /// The ids tab `i` lists.
    pub fn peer_ids(&self, i: usize) -> Vec<TabId> {
        self.tabs[i].peers().map(|p| p.id).collect()
    }
}
