//! The engine's part in the election: terms, the lock, probes, take-overs and hand-offs.
//!
//! The protocol is described in [`crate::election`]; this is its state machine. Every input
//! first runs [`Engine::stall_guard`] and ends with [`Engine::advance`], which takes whatever
//! step is due at `now`; [`Engine::lead_deadline`] says when the next one is.

use std::collections::VecDeque;
use std::mem;

use super::{Engine, Event, Output, Phase, Presence};
use crate::election::{LockChange, LockName, LockRequest, Mode, Role, StepDown, Term};
use crate::ids::{Millis, TabId};
use crate::wire::{Body, Envelope};

/// Where this tab stands with the lock manager, for one lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lock {
    /// Not holding, not waiting (lease mode, or away).
    Idle,
    /// Waiting in the queue.
    Queued,
    /// A steal is on its way.
    Stealing(Steal),
    /// Ours.
    Held,
}

/// Why this tab is stealing the lock (only ever after a probe went unanswered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Steal {
    /// The tab we presume holds the lock.
    victim: Option<TabId>,
}

/// A deposed leader that may not know it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unaware {
    /// The deposed leader, when known (a term found in storage names only its thief).
    id: Option<TabId>,
    since: Millis,
    /// It counts as stepped down once heard at this term or higher.
    until_heard_at: Term,
}

/// How long a tab waits between two corrections of a stale leader, in ms.
const CORRECTION_GAP_MS: u64 = 100;

/// How many of its own deadlines a rehearsed take-over may run through before it leads: a
/// grant that must wait (after a stall, or for a robbed leader) waits one or two.
const REHEARSAL_DEADLINES: usize = 8;

/// Where a tab stands in the election of the term it knows (each state holds what it needs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Follows the leader of the term (if any): probes it when silent, takes over when gone.
    Following(Follower),
    /// Minted the term; leads it once it is durable, holds its lock, and its time has come.
    Candidate(Candidacy),
    /// Leads the term (if by hand-off, as the heir until the leader lock arrives).
    Leading {
        /// It stalled, and does not act before it has read the stored term.
        verifying: bool,
    },
}

/// When a candidate acts, or gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Candidacy {
    /// It acts no earlier than this...
    act_at: Millis,
    /// ...unless the tab it stole the lock from is heard at the new term first...
    victim: Option<TabId>,
    /// ...but never before this: a grant that waited out a stall lets a queued theft notice arrive.
    act_floor: Millis,
    /// Its term not durable by then, it gives up ([`StepDown::Unpersisted`]).
    persist_by: Millis,
    /// It stalled, and does not act before it has read the stored term.
    verifying: bool,
}

/// What a follower knows of its leader's leaving, and what it waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Follower {
    /// When it asked the silent leader whether it is there.
    probe_sent: Option<Millis>,
    /// Since when the leader of the term is known to be gone (resigned, said goodbye, expired).
    leader_gone: Option<Millis>,
    /// Whether it said so itself (resigned or said goodbye), rather than falling silent.
    left_cleanly: bool,
    /// The successor a resigning leader named, and until when to wait for it.
    handoff: Option<(TabId, Millis)>,
    /// A hand-off of this resigned term waits for the stored term to be read.
    handoff_on_read: Option<Term>,
    /// Lease mode: mint as soon as the stored term is read (so as to mint above it).
    mint_on_read: bool,
}

/// The election state of one tab.
#[derive(Clone, Debug)]
pub(super) struct Lead {
    /// The highest term this tab knows (adopted or minted).
    pub(super) term: Term,
    /// The highest term the driver confirmed persisted.
    durable: Term,
    /// Where this tab stands in the election of `term`.
    standing: Standing,
    /// The leader lock.
    lock: Lock,
    /// The heir lock: its holder alone waits for (or steals) the leader lock.
    heir: Lock,
    /// No acting before this, after stealing the heir lock: the robbed heir knows by then (or
    /// has stalled, and reads the thief's term before it acts again).
    heir_floor: Millis,
    /// The leader lock was stolen and its victim may not know until then. A thief that steps
    /// down before keeps the lock (handing it on would let its next holder act at once) and
    /// leads anew once this has passed.
    stolen_until: Option<Millis>,
    /// The heir lock was lost while a steal of the leader lock was on its way: a steal cannot be
    /// withdrawn, so what it takes is kept until its victim knows, then handed on.
    abandon_steal: bool,
    /// A read of the stored term is wanted ([`Output::ReadTerm`]).
    read_term: bool,
    last_input: Millis,
    /// When this tab last found it had not run for longer than the stall bound (whatever its
    /// role): a lock grant that waited in its queue meanwhile may already have been stolen.
    stalled_at: Option<Millis>,
    /// When the leader of `term` was last heard (or the term adopted).
    leader_heard: Millis,
    /// Web Locks mode: a leader deposed by a higher term it may not have heard of yet (its
    /// lock stolen while it could not run), whether it was visible, since when, and the term
    /// it must be heard at to count as stepped down. Whoever takes the lock next waits for it.
    unaware: Option<Unaware>,
    /// No campaign before this (listen after start, resume or restore).
    listen_until: Millis,

    last_correction: Option<Millis>,
    persist: VecDeque<Term>,
    /// A theft of the leader lock from the leader of this term, to record in storage before
    /// the steal goes out ([`Output::RecordTheft`]).
    theft: Option<Term>,
    /// The theft record read with the stored term on the last leader-lock grant.
    robbed: Term,
    locks: VecDeque<(LockName, LockRequest)>,
}

impl Lead {
    pub(super) fn new(config: &super::Config, stored: Term, now: Millis) -> Self {
        Self {
            term: stored,
            durable: stored,
            standing: Standing::Following(Follower::default()),
            lock: Lock::Idle,
            heir: Lock::Idle,
            heir_floor: now,
            stolen_until: None,
            abandon_steal: false,
            read_term: false,
            last_input: now,
            stalled_at: None,
            leader_heard: now,
            unaware: None,
            listen_until: now.plus(config.listen_ms),

            last_correction: None,
            persist: VecDeque::new(),
            theft: None,
            robbed: Term::ZERO,
            locks: VecDeque::new(),
        }
    }

    /// The tab (a follower) runs again after a freeze or the back/forward cache: listen anew.
    pub(super) fn wake(&mut self, config: &super::Config, now: Millis) {
        self.last_input = now;
        self.leader_heard = now;
        if let Standing::Following(f) = &mut self.standing {
            (f.probe_sent, f.leader_gone, f.handoff, f.handoff_on_read) = (None, None, None, None);
        }
        self.listen_until = now.plus(config.listen_ms);
    }

    fn lock_mut(&mut self, name: LockName) -> &mut Lock {
        match name {
            LockName::Leader => &mut self.lock,
            LockName::Heir => &mut self.heir,
        }
    }

    /// Gives lock `name` back, or stops waiting for it (nothing if neither).
    fn let_go(&mut self, name: LockName) {
        let lock = self.lock_mut(name);
        if *lock != Lock::Idle {
            *lock = Lock::Idle;
            self.locks.push_back((name, LockRequest::Release));
        }
    }
}

impl Engine {
    /// The highest term this tab knows.
    #[must_use]
    pub fn term(&self) -> Term {
        self.lead.term
    }

    /// How leadership is gated for this tab.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// This tab's part in the election.
    #[must_use]
    pub fn role(&self) -> Role {
        match self.lead.standing {
            Standing::Following(_) => Role::Follower,
            Standing::Candidate(_) => Role::Candidate,
            Standing::Leading { .. } => Role::Leader,
        }
    }

    /// Whether this tab may act as leader now: it leads the highest term it knows, holds the
    /// lock (in Web Locks mode), and is not verifying after a stall.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        matches!(self.lead.standing, Standing::Leading { verifying: false })
    }

    /// Whether this tab leads but is checking its term after a stall (it does not act meanwhile).
    pub(super) fn verifying_its_lead(&self) -> bool {
        matches!(self.lead.standing, Standing::Leading { verifying: true })
    }

    /// Whether this tab may act as leader at `now`, as app code asks between inputs:
    /// [`Engine::is_leader`], and its last input is no older than [`super::Config::stall_ms`]. A tab
    /// whose thread was blocked (or page frozen) longer may have been deposed meanwhile; until
    /// its next input has it check its term, it does not say it leads, so two running tabs
    /// never both say so. A hidden leader whose timers the browser spaces out says it leads
    /// again at each input.
    #[must_use]
    pub fn is_leader_at(&self, now: Millis) -> bool {
        self.is_leader() && now.since(self.lead.last_input) <= self.config.stall_ms
    }

    /// The leader this tab follows (itself when leading): the tab that leads the highest known
    /// term, while it is listed; `None` when there is none or it is gone.
    #[must_use]
    pub fn leader(&self) -> Option<TabId> {
        let leader = self.lead.term.leader()?;
        if leader == self.me {
            return (self.role() != Role::Follower).then_some(leader);
        }
        let present =
            matches!(self.lead.standing, Standing::Following(f) if f.leader_gone.is_none());
        (present && self.peers.contains_key(&leader)).then_some(leader)
    }

    /// Rehearses this tab's take-over on a copy of the engine, as if the leader lock were
    /// granted at `now`, and returns the term the copy came to lead. `None`, and no copy made,
    /// unless this tab is the heir waiting for the leader lock (Web Locks mode, running, a
    /// follower holding the heir lock); `None` too if the copy did not lead within a few of its
    /// own deadlines. The copy is told what the driver tells a granted heir (the stored term,
    /// taken to be the highest this tab knows; no theft; the grant), its terms are made
    /// durable as it asks, its timers run, and all it says is sealed and dropped. This engine
    /// is not touched.
    ///
    /// For the driver: a WebAssembly engine may compile each function only when it first
    /// runs (V8 does, on the main thread), so a tab's first take-over would compile the
    /// take-over path on the failover's clock. A heir that has rehearsed it has it compiled.
    #[must_use]
    pub fn rehearse_takeover(&self, now: Millis) -> Option<Term> {
        let waiting = self.config.mode == Mode::WebLocks
            && self.phase == Phase::Running
            && self.role() == Role::Follower
            && self.lead.heir == Lock::Held
            && self.lead.lock == Lock::Queued;
        if !waiting {
            return None;
        }
        let mut copy = self.rehearsal_copy();
        let stored = copy.lead.term;
        copy.adopt_stored(now, stored);
        copy.lead.robbed = Term::ZERO;
        copy.handle_lock(now, LockName::Leader, LockChange::Granted);
        let mut at = now;
        for _ in 0..REHEARSAL_DEADLINES {
            copy.drop_outputs(at, stored);
            if copy.is_leader() {
                return Some(copy.lead.term);
            }
            at = copy.poll_timeout()?.max(at);
            copy.handle_timeout(at);
        }
        None
    }

    /// For a rehearsal's copy: answers its storage requests at once (the stored term is
    /// `stored`) and drops everything else it says, until it asks for nothing more.
    fn drop_outputs(&mut self, now: Millis, stored: Term) {
        while let Some(output) = self.poll_output() {
            match output {
                Output::ReadTerm => self.adopt_stored(now, stored),
                Output::Persist(term) => self.handle_persisted(now, term),
                _ => {}
            }
        }
    }

    /// Reports what the lock manager did with lock `name` (Web Locks mode).
    pub fn handle_lock(&mut self, now: Millis, name: LockName, change: LockChange) {
        self.seen = self.seen.max(now);
        if self.config.mode != Mode::WebLocks {
            return;
        }
        if self.phase == Phase::Away {
            // A grant that raced with closing or freezing: give it straight back.
            if change == LockChange::Granted {
                self.lead.locks.push_back((name, LockRequest::Release));
            }
            *self.lead.lock_mut(name) = Lock::Idle;
            return;
        }
        self.stall_guard(now);
        match (name, change) {
            // A grant while this tab is not waiting answers a request that already ended
            // (its loss was reported first: the two may arrive in either order after a
            // stall). The lock manager no longer gives it to us: hand it back, use nothing.
            (name, LockChange::Granted) if *self.lead.lock_mut(name) == Lock::Idle => {
                self.lead.locks.push_back((name, LockRequest::Release));
            }
            (LockName::Leader, LockChange::Granted) => self.on_granted(now),
            (LockName::Leader, LockChange::Lost) => {
                self.lead.lock = Lock::Idle;
                self.lead.stolen_until = None;
                self.lead.abandon_steal = false;
                self.step_down(StepDown::LockLost);
                self.queue_for_lock();
            }
            (LockName::Heir, LockChange::Granted) => self.on_heir_granted(now),
            (LockName::Heir, LockChange::Lost) => {
                self.lead.heir = Lock::Idle;
                if self.lead.lock != Lock::Held || self.lead.stolen_until.is_some() {
                    // Leading by hand-off (the leader lock not yet granted), or on a stolen lock
                    // kept until its victim knows, is leading as the heir: no longer.
                    self.step_down(StepDown::LockLost);
                }
                match self.lead.lock {
                    Lock::Queued => {
                        // The leader lock is the new heir's to wait for: stop waiting (a
                        // grant that races with this is handed straight back).
                        self.lead.let_go(LockName::Leader);
                    }
                    // Handing a stolen lock on at once would let the new heir act while the
                    // victim may still think it holds it: keep it until the victim knows.
                    Lock::Stealing(_) => self.lead.abandon_steal = true,
                    Lock::Held | Lock::Idle => {}
                }
                self.queue_for_lock();
            }
        }
        self.advance(now);
    }

    /// Reports that `term` was written to durable storage. A minted term is used only after.
    pub fn handle_persisted(&mut self, now: Millis, term: Term) {
        self.seen = self.seen.max(now);
        self.lead.durable = self.lead.durable.max(term);
        if self.phase == Phase::Running {
            self.stall_guard(now);
            self.advance(now);
        }
    }

    /// Reports the highest term found in durable storage at `now`, as stored
    /// ([`Term::stored_text`]; `None` if nothing is). Read it when [`Output::ReadTerm`] asks,
    /// when the lock is granted (before [`Engine::handle_lock`]), and whenever another page
    /// writes it. Text that is not a term, or a term above [`Term::MAX_NUMBER`], is corrupt:
    /// counted in [`crate::Counters::corrupt_stored`] and taken as no term at all (the next term
    /// this tab persists replaces it).
    ///
    /// Every tab writes its term before it acts, so this is how a leader that could not run
    /// for a while learns it was deposed, and how the next holder of a lock whose thief died
    /// learns that a leader may not yet know it was deposed (it then waits for it).
    pub fn handle_stored_term(&mut self, now: Millis, stored: Option<&str>) {
        self.seen = self.seen.max(now);
        let term = self.believe_stored(stored);
        self.adopt_stored(now, term);
    }

    /// A stored term's text as a term: [`Term::ZERO`] if absent or corrupt (counted).
    fn believe_stored(&mut self, stored: Option<&str>) -> Term {
        match stored.map(Term::parse_stored) {
            None => Term::ZERO,
            Some(Ok(term)) => term,
            Some(Err(_)) => {
                let count = &mut self.counters.corrupt_stored;
                *count = count.saturating_add(1);
                Term::ZERO
            }
        }
    }

    /// [`Engine::handle_stored_term`] once read.
    fn adopt_stored(&mut self, now: Millis, term: Term) {
        self.lead.durable = self.lead.durable.max(term);
        if self.phase != Phase::Running {
            return;
        }
        let (mint, handoff) = match &mut self.lead.standing {
            Standing::Following(f) => (mem::take(&mut f.mint_on_read), f.handoff_on_read.take()),
            Standing::Candidate(Candidacy { verifying, .. }) | Standing::Leading { verifying } => {
                *verifying = false;
                (false, None)
            }
        };
        self.adopt_durable(now, term);
        // Mint above the stored term; or, handed a resigned term nobody minted past, lead it on,
        // as the heir, at once.
        if mint || (handoff == Some(self.lead.term) && self.may_take_handoff(now)) {
            self.mint(now, now, now, None);
        }
        self.advance(now);
    }

    /// Adopts `term`, found durable (stored, or the store's fence), if it is past ours.
    fn adopt_durable(&mut self, now: Millis, term: Term) {
        if term <= self.lead.term {
            return;
        }
        let unseen = term.leader() != self.lead.term.leader();
        self.adopt(now, term);
        if unseen && self.config.mode == Mode::WebLocks && self.lead.unaware.is_none() {
            // A term minted out of our sight, perhaps by a steal: its victim is unknown.
            self.lead.unaware = Some(Unaware {
                id: None,
                since: now,
                until_heard_at: term,
            });
        }
    }

    /// The durable store refused this tab's claim or commit: `fence`, a term past the one it
    /// wrote at, has committed there. That is as durable a sign of a later term as a stored
    /// one (a corrupted or lost stored term can hide it): adopt it, stepping down if leading,
    /// so that the next leader mints past it and the store takes its commits again.
    pub(super) fn learn_fence(&mut self, now: Millis, fence: Term) {
        if self.phase != Phase::Running || !fence.is_in_range() {
            return;
        }
        self.lead.durable = self.lead.durable.max(fence);
        self.adopt_durable(now, fence);
        self.advance(now);
    }

    /// Whether the engine needs the stored term now ([`Output::ReadTerm`]).
    #[must_use]
    pub(super) fn poll_read_term(&mut self) -> bool {
        mem::take(&mut self.lead.read_term)
    }

    /// The term whose leader this tab is about to steal the leader lock from, if any
    /// ([`Output::RecordTheft`]).
    #[must_use]
    pub(super) fn poll_record_theft(&mut self) -> Option<Term> {
        self.lead.theft.take()
    }

    /// Reports the highest theft record in durable storage (see [`Output::RecordTheft`]; stored
    /// as a term is, `None` if there is none): read it with the stored term when the leader
    /// lock is granted, before [`Engine::handle_lock`]. A corrupt record counts as none.
    pub fn handle_stored_theft(&mut self, stored: Option<&str>) {
        self.lead.robbed = self.believe_stored(stored);
    }

    /// The next request for the lock manager, and the lock it is about, if any.
    #[must_use]
    pub(super) fn poll_lock(&mut self) -> Option<(LockName, LockRequest)> {
        self.lead.locks.pop_front()
    }

    /// The next term to write to durable storage, if any ([`Output::Persist`]).
    #[must_use]
    pub(super) fn poll_persist(&mut self) -> Option<Term> {
        self.lead.persist.pop_front()
    }

    fn on_granted(&mut self, now: Millis) {
        let robbed = mem::replace(&mut self.lead.robbed, Term::ZERO);
        // A grant that waited while this tab could not run may have been stolen since: the
        // notice of the theft is queued right behind it. Act only once it would have come.
        let settled = self.settled(now);
        let floor = settled.max(self.lead.heir_floor);
        let previous = mem::replace(&mut self.lead.lock, Lock::Held);
        if self.role() != Role::Follower {
            // Led (or about to) by hand-off: the lock has followed.
            self.settle_heir();
            return;
        }
        match previous {
            Lock::Stealing(steal) => {
                // Whoever leads the highest term we know now is the one deposed: perhaps not
                // the tab we meant to steal from, if another took over meanwhile.
                let victim = self
                    .lead
                    .term
                    .leader()
                    .filter(|&l| l != self.me)
                    .or(steal.victim);
                let grace = self.config.steal_grace_ms();
                self.lead.stolen_until = Some(now.plus(grace).max(settled));
                if mem::take(&mut self.lead.abandon_steal) {
                    // No longer the heir: keep the lock until the victim knows, then let go.
                    return;
                }
                self.mint_after_unaware(now, now.plus(grace).max(settled), floor, victim);
            }
            // The lock was free: its holder released it (resigning) or died. Lead. No tab
            // ever steals without a grace, so nobody else acts on this lock now, unless the
            // holder was a thief that died before it used the lock. (A grant while `Idle` never
            // comes here: `handle_lock` hands it back unused.)
            Lock::Idle | Lock::Queued | Lock::Held => {
                self.wait_for_robbed(now, robbed);
                self.mint_after_unaware(now, settled, floor, None);
            }
        }
    }

    /// A theft of the leader lock from the leader of `robbed` was recorded, and no term past it
    /// is known: the thief died before it used the lock, and its victim may not know yet that
    /// it lost it. Wait for the victim as the thief would have (until it is heard at our new
    /// term, or for the steal grace).
    fn wait_for_robbed(&mut self, now: Millis, robbed: Term) {
        if robbed < self.lead.term.max(self.lead.durable) {
            return;
        }
        let Some(victim) = robbed.leader().filter(|&l| l != self.me) else {
            return;
        };
        // One deposed leader may be awaited by name; with two, wait the whole grace for both.
        let id = match self.lead.unaware {
            Some(u) if u.id != Some(victim) => None,
            _ => Some(victim),
        };
        self.lead.unaware = Some(Unaware {
            id,
            since: now,
            // The term `mint_after_unaware` will mint: the victim heard at it knows.
            until_heard_at: self.next_term(),
        });
    }

    /// The earliest a lock this tab holds may be used: after a stall, not before a theft
    /// notice queued behind the tab's other input would have come.
    fn settled(&self, now: Millis) -> Millis {
        self.lead
            .stalled_at
            .map_or(now, |at| at.plus(self.config.lock_notice_ms).max(now))
    }

    /// The heir lock is ours: wait for the leader lock, or go on stealing it.
    fn on_heir_granted(&mut self, now: Millis) {
        let previous = mem::replace(&mut self.lead.heir, Lock::Held);
        if self.lead.lock == Lock::Held || self.role() == Role::Leader {
            // Whoever holds the leader lock is nobody's heir.
            return self.lead.let_go(LockName::Heir);
        }
        match previous {
            Lock::Stealing(steal) if self.role() == Role::Follower => {
                // The heir we took it from may have led by hand-off meanwhile: it hears of the
                // theft within the notice time, or stalls and reads our term. Act no earlier.
                self.lead.heir_floor = now.plus(self.config.steal_grace_ms());
                self.steal_leader_lock(steal);
            }
            _ => self.queue_for_lock(),
        }
    }

    /// A leader that holds the leader lock and whose term is durable lets the next tab be heir.
    fn settle_heir(&mut self) {
        if self.role() == Role::Leader && self.lead.lock == Lock::Held {
            self.lead.let_go(LockName::Heir);
        }
    }

    /// Whether this tab may lead by hand-off now: it is the heir, waits for the leader lock,
    /// follows, and has not stalled lately (a theft of its heir lock may be on its way).
    fn may_take_handoff(&self, now: Millis) -> bool {
        self.role() == Role::Follower
            && self.lead.heir == Lock::Held
            && self.lead.lock == Lock::Queued
            && !self.stalled_lately(now)
    }

    /// Whether this tab did not run for longer than the stall bound within the last steal grace.
    fn stalled_lately(&self, now: Millis) -> bool {
        now.since(self.lead.last_input) > self.config.stall_ms
            || self
                .lead
                .stalled_at
                .is_some_and(|at| now.since(at) <= self.config.steal_grace_ms())
    }

    /// Mints, but acts no earlier than a deposed leader that may not know it yet could act.
    fn mint_after_unaware(
        &mut self,
        now: Millis,
        at: Millis,
        floor: Millis,
        victim: Option<TabId>,
    ) {
        if let Some(u) = self.lead.unaware {
            let deadline = u.since.plus(self.config.steal_grace_ms());
            if deadline > at {
                return self.mint(now, deadline, floor, u.id);
            }
        }
        self.mint(now, at, floor, victim);
    }

    /// Mints the next term: leads it once it is durable and `act_at` has come (or `victim` is
    /// heard at the new term, but not before `act_floor`).
    fn mint(&mut self, now: Millis, act_at: Millis, act_floor: Millis, victim: Option<TabId>) {
        let term = self.next_term();
        let old = mem::replace(&mut self.lead.term, term);
        self.expect_heard_at(now, old, term);
        self.lead.standing = Standing::Candidate(Candidacy {
            act_at,
            victim,
            act_floor,
            persist_by: now.plus(PERSIST_TIMEOUT_MS),
            verifying: false,
        });
        self.lead.leader_heard = now;
        self.lead.persist.push_back(term);
        self.events.push_back(Event::LeaderChanged { term });
        // Announce the new term at once, so that other followers stop campaigning.
        self.announce(now, Presence::Heartbeat);
    }

    /// The term this tab would mint now: the next above every term it knows or found stored.
    fn next_term(&self) -> Term {
        self.lead.term.max(self.lead.durable).next(self.me)
    }

    /// A candidate or leader becomes a follower (a follower has nothing to step down from).
    fn step_down(&mut self, reason: StepDown) {
        if self.role() == Role::Follower {
            return;
        }
        let led = self.lead.term;
        self.lead.standing = Standing::Following(Follower::default());
        self.events
            .push_back(Event::LostLeadership { term: led, reason });
        if self.lead.lock == Lock::Held
            && reason != StepDown::Resigned
            && self.lead.stolen_until.is_none()
        {
            // The lock is (or is about to be) someone else's; queue behind it again.
            self.lead.let_go(LockName::Leader);
            self.queue_for_lock();
        }
    }

    /// Runs first on every input: a leader (or candidate) whose previous input is older than
    /// its stall bound may have been deposed while it could not run, so it verifies first.
    pub(super) fn stall_guard(&mut self, now: Millis) {
        let stalled = now.since(self.lead.last_input) > self.config.stall_ms;
        self.lead.last_input = now;
        if stalled {
            self.lead.stalled_at = Some(now);
        }
        match &mut self.lead.standing {
            // Whoever deposed it wrote its term before acting: read it before acting.
            Standing::Candidate(c) if stalled => c.verifying = true,
            Standing::Leading { verifying } if stalled => *verifying = true,
            _ => return,
        }
        self.lead.read_term = true;
    }

    /// Takes in the term a delivered message carried.
    pub(super) fn observe_term(&mut self, now: Millis, envelope: &Envelope) {
        if envelope.term > self.lead.term {
            self.adopt(now, envelope.term);
        }
        if self.lead.term.leader() == Some(envelope.from) {
            self.lead.leader_heard = now;
            if let Standing::Following(f) = &mut self.lead.standing {
                // Unless it left cleanly it only fell silent (blocked, messages lost), and is back.
                f.probe_sent = None;
                f.leader_gone = f.leader_gone.filter(|_| f.left_cleanly);
            }
        }
        let heard = (self.lead.unaware)
            .take_if(|u| u.id == Some(envelope.from) && envelope.term >= u.until_heard_at)
            .is_some();
        if let Standing::Candidate(c) = &mut self.lead.standing {
            if c.victim == Some(envelope.from) && (heard || envelope.term >= self.lead.term) {
                // The tab we stole from has heard of our term, so it has stepped down.
                c.act_at = now.max(c.act_floor);
                c.victim = None;
            }
        }
    }

    fn adopt(&mut self, now: Millis, term: Term) {
        if let (Mode::WebLocks, Standing::Following(f)) = (self.config.mode, self.lead.standing) {
            // The leader of the term we leave behind may have had its lock stolen while it
            // could not run; unless it left cleanly, it may act once more before it hears.
            let old = self.lead.term.leader().filter(|&l| l != self.me);
            if let Some(id) = old.filter(|_| !f.left_cleanly && term.leader() != old) {
                self.lead.unaware = Some(Unaware {
                    id: Some(id),
                    since: now,
                    until_heard_at: term,
                });
            }
        }
        if let Standing::Following(f) = &mut self.lead.standing {
            (f.probe_sent, f.leader_gone, f.left_cleanly, f.handoff) = (None, None, false, None);
        }
        let old = mem::replace(&mut self.lead.term, term);
        self.expect_heard_at(now, old, term);
        if old.leader() == Some(self.me) {
            // Its followers now wait to hear that it knows of the later term: say so at once.
            self.announce(now, Presence::Heartbeat);
        }
        self.lead.persist.push_back(term);
        self.lead.leader_heard = now;
        self.events.push_back(Event::LeaderChanged { term });
        self.step_down(StepDown::HigherTerm);
    }

    /// `from` says it acts as leader of `term`: a leader deposed before it can no longer be
    /// acting unaware (it stepped down, or its thief's grace ran out), so nobody need wait.
    pub(super) fn on_leader_acting(&mut self, from: TabId, term: Term) {
        if term == self.lead.term && term.leader() == Some(from) {
            self.lead.unaware = None;
            if let Standing::Following(f) = &mut self.lead.standing {
                // Whatever was heard of its leaving, it leads now.
                (f.leader_gone, f.left_cleanly) = (None, false);
            }
        }
    }

    /// Answers a probe: the leader (or candidate) says it is there; a follower answers a
    /// leader verifying after a stall, so that it learns of any higher term.
    pub(super) fn answer_probe(&mut self, envelope: &Envelope) {
        if self.role() != Role::Follower || envelope.from_leader() {
            self.send(Body::Alive);
        }
    }

    /// A deposed leader's message was rejected: tell it the current term, at most every
    /// [`CORRECTION_GAP_MS`].
    pub(super) fn correct(&mut self, now: Millis) {
        let due = self
            .lead
            .last_correction
            .is_none_or(|at| now.since(at) >= CORRECTION_GAP_MS);
        if due {
            self.lead.last_correction = Some(now);
            self.send(Body::Alive);
        }
    }

    /// `from` resigned `term` (fencing already checked that it is not below ours).
    pub(super) fn on_resign(
        &mut self,
        now: Millis,
        from: TabId,
        term: Term,
        successor: Option<TabId>,
    ) {
        // Only the leader of this tab's term hands it off: a resignation signed by any other
        // tab, or at another term, says nothing of who leads.
        if term != self.lead.term || term.leader() != Some(from) {
            return;
        }
        self.on_leader_gone(now, from, Some(term));
        match self.config.mode {
            // The named successor mints at once and the others wait for it.
            Mode::Lease if successor == Some(self.me) => self.campaign(now),
            Mode::Lease => {
                if let (Some(s), Standing::Following(f)) = (successor, &mut self.lead.standing) {
                    f.handoff = Some((s, now.plus(self.config.handoff_ms)));
                }
            }
            // A hand-off to the heir, whoever it is: it leads on once the stored term shows
            // nobody minted past the resigned one. Otherwise the lock is handed on.
            Mode::WebLocks => {
                let heir = successor.is_some() && self.may_take_handoff(now);
                if let (true, Standing::Following(f)) = (heir, &mut self.lead.standing) {
                    f.handoff_on_read = Some(term);
                    self.lead.read_term = true;
                }
            }
        }
    }

    /// Peer `id` left: cleanly, by a resignation or goodbye carrying `said_at` (its term
    /// then), or by falling silent (`None`). If it led our term, the take-over starts. A
    /// goodbye from an earlier term (a late copy from an earlier life) says nothing of now.
    pub(super) fn on_leader_gone(&mut self, now: Millis, id: TabId, said_at: Option<Term>) {
        let cleanly = said_at.is_some();
        if said_at.is_some_and(|t| t < self.lead.term) {
            return;
        }
        if self.lead.term.leader() == Some(id) {
            if let Standing::Following(f) = &mut self.lead.standing {
                f.leader_gone.get_or_insert(now);
                f.left_cleanly |= cleanly;
            }
        }
        if cleanly && self.lead.unaware.is_some_and(|u| u.id == Some(id)) {
            self.lead.unaware = None;
        }
    }

    /// On `pagehide` or `freeze`: a leader stops acting and names its successor (with Web
    /// Locks, none if it stalled lately: then its resignation is no hand-off). Whether it
    /// resigned (a follower has nothing to resign).
    ///
    /// With Web Locks a hand-off goes to the heir alone, on the heir's channel: it takes over
    /// without the other tabs waking at the same moment on its two cores' worth of CPU, and
    /// passes the resignation on to them once it leads. A leader that still holds the heir
    /// lock itself (it leads by hand-off, the leader lock not yet granted) has no heir
    /// listening, and a resignation that hands nothing off need not go first to anyone: both
    /// go to every tab.
    pub(super) fn resign(&mut self, now: Millis) -> bool {
        let verifying = match self.lead.standing {
            Standing::Following(_) => return false,
            Standing::Candidate(c) => c.verifying,
            Standing::Leading { verifying } => verifying,
        };
        let stalled = self.config.mode == Mode::WebLocks && (verifying || self.stalled_lately(now));
        let successor = self
            .peers
            .iter()
            .min_by_key(|(&id, beacon)| (!beacon.visible, id))
            .map(|(&id, _)| id)
            .filter(|_| !stalled);
        self.step_down(StepDown::Resigned);
        let to_heir = self.config.mode == Mode::WebLocks
            && successor.is_some()
            && self.lead.heir != Lock::Held;
        if to_heir {
            self.send_to_heir(Body::Resign { successor });
        } else {
            self.send(Body::Resign { successor });
        }
        true
    }

    /// Queues for the heir lock, or, as the heir, for the leader lock.
    pub(super) fn queue_for_lock(&mut self) {
        if self.config.mode != Mode::WebLocks
            || self.lead.lock != Lock::Idle
            || self.phase != Phase::Running
        {
            return;
        }
        match self.lead.heir {
            Lock::Held => {
                self.lead
                    .locks
                    .push_back((LockName::Leader, LockRequest::Request));
                self.lead.lock = Lock::Queued;
            }
            Lock::Idle => {
                self.lead
                    .locks
                    .push_back((LockName::Heir, LockRequest::Request));
                self.lead.heir = Lock::Queued;
            }
            Lock::Queued | Lock::Stealing(_) => {}
        }
    }

    /// Lets go of both locks (or stops waiting for them).
    pub(super) fn release_lock(&mut self) {
        self.lead.stolen_until = None;
        self.lead.abandon_steal = false;
        for name in LockName::ALL {
            self.lead.let_go(name);
        }
    }

    /// This tab's place among those that would take over: visible tabs first, then by id;
    /// the presumed leader does not count.
    fn rank(&self) -> u64 {
        let leader = self.lead.term.leader();
        let mine = (!self.visible, self.me);
        let ahead = self
            .peers
            .iter()
            .filter(|(&id, _)| Some(id) != leader)
            .filter(|(&id, beacon)| (!beacon.visible, id) < mine)
            .count();
        ahead as u64
    }

    /// Starts a take-over: a steal in Web Locks mode, a new term in lease mode.
    fn campaign(&mut self, now: Millis) {
        match self.config.mode {
            Mode::Lease => {
                // Mint above whatever term is stored: ask for it, and mint on the answer.
                if let Standing::Following(f) = &mut self.lead.standing {
                    f.mint_on_read = true;
                }
                self.lead.read_term = true;
            }
            Mode::WebLocks => {
                let victim = self.lead.term.leader().filter(|&l| l != self.me);
                match (self.lead.lock, self.lead.heir) {
                    (Lock::Held, _) => self.mint_after_unaware(now, now, now, None),
                    (Lock::Stealing(_), _) | (_, Lock::Stealing(_)) => {}
                    // The heir steals the leader lock...
                    (_, Lock::Held) => self.steal_leader_lock(Steal { victim }),
                    // ...anyone else takes the heir lock first.
                    (_, Lock::Idle | Lock::Queued) => {
                        self.lead
                            .locks
                            .push_back((LockName::Heir, LockRequest::Steal));
                        self.lead.heir = Lock::Stealing(Steal { victim });
                    }
                }
            }
        }
    }

    /// Steals the leader lock, having first asked for the theft to be recorded.
    fn steal_leader_lock(&mut self, steal: Steal) {
        self.lead.theft = Some(self.lead.term);
        self.lead
            .locks
            .push_back((LockName::Leader, LockRequest::Steal));
        self.lead.lock = Lock::Stealing(steal);
    }

    /// When a follower should next probe or take over, if it should.
    fn campaign_at(&self) -> Option<Campaign> {
        let f = match self.lead.standing {
            Standing::Following(f) if self.phase == Phase::Running && !f.mint_on_read => f,
            _ => return None,
        };
        if let (Lock::Stealing(_), _) | (_, Lock::Stealing(_)) = (self.lead.lock, self.lead.heir) {
            return None;
        }
        let stagger = || self.rank().saturating_mul(self.config.stagger_ms);
        let earliest = self.lead.listen_until;
        let after_handoff = |at: Millis| {
            let at = match f.handoff {
                Some((s, until)) if s != self.me => at.max(until),
                _ => at,
            };
            at.max(earliest)
        };
        if let Some(gone) = f.leader_gone.filter(|_| self.config.mode == Mode::Lease) {
            // Without a lock, a departed leader is replaced in rank order. (With Web Locks
            // the heir takes over, by hand-off or lock; only a silent leader is probed and stolen
            // from.)
            return Some(Campaign::TakeOver(after_handoff(gone.plus(stagger()))));
        }
        if self.lead.term == Term::ZERO {
            // Nobody has ever led. With Web Locks the queue decides; otherwise the first in
            // rank order mints once it has listened.
            return match self.config.mode {
                Mode::WebLocks => None,
                Mode::Lease => Some(Campaign::TakeOver(after_handoff(earliest.plus(stagger())))),
            };
        }
        match f.probe_sent {
            Some(sent) => Some(Campaign::TakeOver(after_handoff(
                sent.plus(self.config.probe_timeout_ms).plus(stagger()),
            ))),
            None => Some(Campaign::Probe(
                self.lead
                    .leader_heard
                    .plus(self.config.probe_after_ms)
                    .max(earliest),
            )),
        }
    }

    /// Takes every election step due at `now`. Runs last on every input.
    pub(super) fn advance(&mut self, now: Millis) {
        if self.phase != Phase::Running {
            return;
        }
        if self.lead.stolen_until.is_some_and(|until| now >= until) {
            self.lead.stolen_until = None;
            if self.role() == Role::Follower && self.lead.lock == Lock::Held {
                if self.lead.heir == Lock::Held {
                    // A thief that stepped down kept the lock until its victim knew: lead anew
                    // (but if it stalled meanwhile, only once a queued theft notice would
                    // have come: the lock may have been taken from it in turn).
                    let settled = self.settled(now);
                    self.mint_after_unaware(now, settled, settled, None);
                } else {
                    // It is no longer the heir: the lock is the heir's now.
                    self.lead.let_go(LockName::Leader);
                    self.queue_for_lock();
                }
            }
        }
        let unpersisted =
            matches!(self.lead.standing, Standing::Candidate(c) if now >= c.persist_by);
        if unpersisted && self.lead.durable < self.lead.term {
            // Storage refused the term (full, or disabled): it cannot lead, and must not hold
            // the locks that would let another tab lead. It gives them back and queues again,
            // behind every other tab.
            self.release_lock();
            self.step_down(StepDown::Unpersisted);
            self.queue_for_lock();
        }
        if self.leads_at().is_some_and(|at| now >= at) {
            self.lead.standing = Standing::Leading { verifying: false };
            self.events.push_back(Event::BecameLeader {
                term: self.lead.term,
            });
            self.settle_heir();
            // Say so at once: followers stop waiting for any leader deposed before.
            self.announce(now, Presence::Heartbeat);
        }
        match self.campaign_at() {
            Some(Campaign::Probe(at)) if at <= now => {
                if let Standing::Following(f) = &mut self.lead.standing {
                    f.probe_sent = Some(now);
                }
                self.send(Body::Probe);
            }
            Some(Campaign::TakeOver(at)) if at <= now => self.campaign(now),
            _ => {}
        }
        self.sync_data(now);
    }

    /// When this candidate leads, if only time stands in its way: its term is durable, it is not
    /// verifying, and in Web Locks mode it holds the leader lock (or, by hand-off, the heir lock).
    fn leads_at(&self) -> Option<Millis> {
        let Standing::Candidate(c) = self.lead.standing else {
            return None;
        };
        let locked = self.config.mode == Mode::Lease || self.lead.lock == Lock::Held;
        let ready = !c.verifying && self.lead.durable >= self.lead.term;
        (ready && (locked || self.lead.heir == Lock::Held)).then_some(c.act_at)
    }

    /// When [`Engine::advance`] next has something to do.
    pub(super) fn lead_deadline(&self) -> Option<Millis> {
        let kept = (self.lead.stolen_until)
            .filter(|_| self.role() == Role::Follower && self.lead.lock == Lock::Held);
        let campaign = self.campaign_at().map(|c| match c {
            Campaign::Probe(at) | Campaign::TakeOver(at) => at,
        });
        let unpersisted = match self.lead.standing {
            Standing::Candidate(c) if self.lead.durable < self.lead.term => Some(c.persist_by),
            _ => None,
        };
        [self.leads_at(), campaign, kept, unpersisted]
            .into_iter()
            .flatten()
            .min()
    }
}

/// How long a candidate waits for storage to confirm the term it minted before it gives up,
/// in ms. The browser's `localStorage` answers at once; the bound is for a write that never
/// succeeds.
const PERSIST_TIMEOUT_MS: u64 = 1_000;

/// The next step of a follower.
#[derive(Clone, Copy, Debug)]
enum Campaign {
    /// Ask the silent leader whether it is there, at this instant.
    Probe(Millis),
    /// Take over at this instant.
    TakeOver(Millis),
}
