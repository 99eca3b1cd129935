//! The rare moments the regression seeds were pinned for, counted as a seed runs: a seed whose
//! history drifts away from the scenario it pins (a harness change, a new fault drawn first)
//! still keeps every invariant, so the pinned-seed test asks these counts that its scenario
//! still happens.
//!
//! Each count is taken where the simulator performs or observes the moment, from what it
//! already knows (its own queue and lock manager, the engines' public state and events): no
//! random draw, so counting changes no history.

use super::*;

/// How often each pinned scenario happened in one seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScenarioStats {
    /// A tab that was a candidate at its last input ran the next one more than the stall bound
    /// later (it verifies before it acts).
    pub stalled_candidates: u64,
    /// Messages rejected as a deposed leader's (a term lower than the receiver's), all tabs.
    pub stale_term_rejections: u64,
    /// A lock grant reaching a page after the loss of the same request, which the lock
    /// manager sent later (notices shuffled, as a paused page's queued tasks are).
    pub shuffled_grants: u64,
    /// A thief died before its steal's grant reached it, the leader lock in its name (the
    /// lock passes on, and its victim may still think it leads).
    pub dead_thieves: u64,
    /// Steals of the leader lock from a tab whose grant of it was still on its way.
    pub steals_of_unheard_grants: u64,
    /// Steals of the leader lock from a tab that was frozen or blocked.
    pub steals_from_paused: u64,
    /// The leader lock given to a tab (granted or stolen) while another tab, hidden and
    /// blocked, still held the leader role.
    pub grants_past_blocked_hidden_leader: u64,
    /// A thief released the leader lock it had stolen (it stepped down, or handed it on).
    pub stolen_locks_released: u64,
    /// A thief heard that it lost the heir lock while it held the leader lock it had stolen.
    pub thieves_losing_heir: u64,
    /// A thief stopped leading (or campaigning for) its term while it held the leader lock it
    /// had stolen.
    pub thieves_stepping_down: u64,
    /// A thief ran an input more than the stall bound after its last one, the leader lock it
    /// had stolen still in its name.
    pub stalled_thieves: u64,
    /// A leader's blocked thread resumed (it says it leads again only after an input).
    pub blocked_leaders_resumed: u64,
    /// A tab restored from the back/forward cache became leader later.
    pub led_after_restore: u64,
    /// A tab's leader, followed at a term, was gone (not heard for too long) and then was its
    /// leader again, at the same term...
    pub leaders_back_after_silence: u64,
    /// ...or after it had said goodbye.
    pub leaders_back_after_goodbye: u64,
    /// A goodbye (or resignation) delivered after its sender began a new life (a new
    /// incarnation) in which it leads.
    pub late_leader_goodbyes: u64,
    /// A message delivered after its sender's goodbye (or resignation) of the same incarnation
    /// (a heartbeat overtaken by the goodbye, say).
    pub heard_after_goodbye: u64,
    /// Agreement checks at which no tab ran.
    pub agreement_without_tabs: u64,
}

/// What the simulator remembers to count [`ScenarioStats`].
#[derive(Debug, Default)]
pub(super) struct Watch {
    pub stats: ScenarioStats,
    /// Every goodbye and resignation sent.
    goodbyes: BTreeSet<MessageKey>,
    /// Per (tab, peer): how the peer last left the tab's list, until it is heard again.
    left: BTreeMap<(usize, TabId), LeaveReason>,
    /// Per (tab, sender, incarnation): the tab delivered that incarnation's goodbye.
    goodbye_heard: BTreeSet<(usize, TabId, Incarnation)>,
}

/// What one tab's scenarios need remembered.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TabWatch {
    /// Its clock and role when it last drained.
    last_drain: Option<(Millis, Role)>,
    /// Per lock, the queue order and request generation of the last loss notice it was sent.
    lost: [(u64, u64); 2],
    /// The term whose leader it followed at its last drain.
    following: Option<Term>,
    /// The term whose leader it found gone, and whether that leader had said goodbye.
    leader_gone: Option<(Term, bool)>,
    /// It holds (or waits for the grant of) a leader lock it stole.
    stole: bool,
    /// It came back from the back/forward cache.
    restored: bool,
}

impl Sim {
    /// Tab `i` is about to drain after an input: counts a stalled candidate or leader.
    pub(super) fn watch_input(&mut self, i: usize) {
        let stall = Millis(Config::default().stall_ms);
        if let Some((at, role)) = self.tabs[i].watch.last_drain {
            let clock = self.tabs[i].clock(self.now);
            if clock.0.saturating_sub(at.0) > stall.0 {
                let stats = &mut self.watch.stats;
                if self.tabs[i].watch.stole {
                    stats.stalled_thieves += 1;
                }
                if role == Role::Candidate {
                    stats.stalled_candidates += 1;
                }
            }
        }
    }

    /// Tab `i` drained: remembers its clock and role, and counts its leader back from gone.
    pub(super) fn watch_drained(&mut self, i: usize) {
        let clock = self.tabs[i].clock(self.now);
        let tab = &mut self.tabs[i];
        tab.watch.last_drain = Some((clock, tab.engine.role()));
        let term = tab.engine.term();
        let following = tab.watch.following.take();
        let Some(leader) = term.leader().filter(|&l| l != tab.engine.id()) else {
            tab.watch.leader_gone = None;
            return;
        };
        if tab.engine.leader().is_some() {
            tab.watch.following = Some(term);
        }
        match (tab.engine.leader(), tab.watch.leader_gone) {
            (None, Some((gone, _))) if gone == term => {}
            (None, _) if following == Some(term) => {
                let bye = self.watch.left.get(&(i, leader)) == Some(&LeaveReason::Goodbye);
                tab.watch.leader_gone = Some((term, bye));
            }
            (None, _) => tab.watch.leader_gone = None,
            (Some(_), Some((gone, bye))) if gone == term => {
                tab.watch.leader_gone = None;
                let stats = &mut self.watch.stats;
                if bye {
                    stats.leaders_back_after_goodbye += 1;
                } else {
                    stats.leaders_back_after_silence += 1;
                }
            }
            (Some(_), _) => tab.watch.leader_gone = None,
        }
    }

    /// Tab `i` sent its own message `key` whose body is `msg`.
    pub(super) fn watch_sent(&mut self, key: MessageKey, msg: &serde_json::Value) {
        if msg == "bye" || msg.get("resign").is_some() {
            self.watch.goodbyes.insert(key);
        }
    }

    /// Lock notice number `order` reaches tab `i`, for its request of generation `lock_gen`
    /// (void if that is not its current request).
    pub(super) fn watch_notice(&mut self, i: usize, lock: (LockName, LockChange, u64), order: u64) {
        let (name, change, lock_gen) = lock;
        let watch = &mut self.tabs[i].watch;
        match change {
            LockChange::Lost => {
                watch.lost[name.index()] = (order, lock_gen);
                if name == LockName::Heir && watch.stole {
                    self.watch.stats.thieves_losing_heir += 1;
                }
            }
            LockChange::Granted
                if watch.lost[name.index()].1 == lock_gen && order < watch.lost[name.index()].0 =>
            {
                self.watch.stats.shuffled_grants += 1;
            }
            _ => {}
        }
    }

    /// Tab `i` asks the lock manager for `request` of the leader lock, which `victim` holds
    /// (its grant due at `grant_due`).
    pub(super) fn watch_lock_request(
        &mut self,
        i: usize,
        request: LockRequest,
        victim: Option<usize>,
        grant_due: u64,
    ) {
        match request {
            LockRequest::Steal => {
                self.tabs[i].watch.stole = true;
                if let Some(h) = victim {
                    if grant_due > self.now {
                        self.watch.stats.steals_of_unheard_grants += 1;
                    }
                    if matches!(self.tabs[h].state, State::Paused { .. }) {
                        self.watch.stats.steals_from_paused += 1;
                    }
                }
            }
            LockRequest::Request => self.tabs[i].watch.stole = false,
            LockRequest::Release => {
                if std::mem::take(&mut self.tabs[i].watch.stole) {
                    self.watch.stats.stolen_locks_released += 1;
                }
            }
        }
    }

    /// The leader lock goes to tab `i`: counts it if a hidden, blocked tab still leads.
    pub(super) fn watch_leader_lock_given(&mut self, i: usize) {
        let past = self.tabs.iter().enumerate().any(|(j, t)| {
            j != i
                && t.hidden.is_some()
                && matches!(t.state, State::Paused { frozen: false, .. })
                && t.engine.role() == Role::Leader
        });
        if past {
            self.watch.stats.grants_past_blocked_hidden_leader += 1;
        }
    }

    /// A thief crashes before its steal's grant reached it: counts it if the leader lock was
    /// still in its name.
    pub(super) fn thief_dies(&mut self, i: usize) {
        if self.locks[LockName::Leader.index()].holder == Some(i) {
            self.watch.stats.dead_thieves += 1;
        }
        self.crash(i);
    }

    /// Tab `i`'s thread resumes from a block (not a freeze).
    pub(super) fn watch_unblocked(&mut self, i: usize) {
        if self.tabs[i].engine.role() == Role::Leader {
            self.watch.stats.blocked_leaders_resumed += 1;
        }
    }

    /// Tab `i` is restored from the back/forward cache.
    pub(super) fn watch_restored(&mut self, i: usize) {
        self.tabs[i].watch.restored = true;
    }

    /// Tab `i` reported `event`.
    pub(super) fn watch_event(&mut self, i: usize, event: &Event) {
        let stats = &mut self.watch.stats;
        match *event {
            Event::BecameLeader { .. } if self.tabs[i].watch.restored => {
                stats.led_after_restore += 1;
            }
            Event::LostLeadership { .. } if self.tabs[i].watch.stole => {
                stats.thieves_stepping_down += 1;
            }
            Event::PeerLeft { id, reason } => {
                self.watch.left.insert((i, id), reason);
            }
            Event::PeerJoined(id) => {
                self.watch.left.remove(&(i, id));
            }
            Event::Delivered {
                from,
                incarnation,
                seq,
                ..
            } => {
                if self.watch.goodbyes.contains(&(from, incarnation, seq.0)) {
                    let sender = self.tabs.iter().find(|t| t.engine.id() == from);
                    if sender.is_some_and(|t| {
                        t.engine.incarnation() != incarnation && t.engine.role() == Role::Leader
                    }) {
                        stats.late_leader_goodbyes += 1;
                    }
                    self.watch.goodbye_heard.insert((i, from, incarnation));
                    return;
                }
                if self.watch.goodbye_heard.contains(&(i, from, incarnation)) {
                    stats.heard_after_goodbye += 1;
                }
            }
            _ => {}
        }
    }

    /// The seed ended: counts what the engines counted themselves.
    pub(super) fn watch_end(&mut self) {
        self.watch.stats.stale_term_rejections = self
            .tabs
            .iter()
            .map(|t| t.engine.counters().rejected(Rejection::StaleTerm))
            .sum();
    }
}
