//! The invariants checked after every step (S1-S5, F1, the leader's term, memory), and the
//! convergence, agreement and settling checks of the phases after the heal.

use super::*;

impl Sim {
    /// S2: a tab's highest term never decreases.
    pub(super) fn check_terms(&mut self, i: usize) -> Result<(), Violation> {
        let term = self.tabs[i].engine.term();
        if term < self.tabs[i].term {
            let was = self.tabs[i].term;
            return Err(self.violation(format!("S2: tab {i}'s term fell from {was:?} to {term:?}")));
        }
        self.tabs[i].term = term;
        Ok(())
    }

    /// The running tabs that say they lead now, as app code reading
    /// [`Engine::is_leader_at`] between inputs sees it (a thread just resumed included).
    pub(super) fn acting(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&i| {
                let tab = &self.tabs[i];
                tab.is_running() && tab.engine.is_leader_at(tab.clock(self.now))
            })
            .collect()
    }

    /// The running tabs that lead as far as the protocol goes ([`Engine::is_leader`]): a
    /// hidden leader between two of its spaced-out timers included.
    pub(super) fn leading(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|&i| self.tabs[i].is_running() && self.tabs[i].engine.is_leader())
            .collect()
    }

    /// S1′: with Web Locks, never two running tabs acting as leader at once. Not while the term
    /// items are being corrupted: a deposed leader that stalled learns of its thief's term from
    /// storage, and a term item overwritten with a lower term (or none) hides it until the
    /// lock's loss is heard. That time is counted as split-brain instead, and agreement is
    /// checked after the heal as in every seed.
    pub(super) fn check_acting(&mut self) -> Result<(), Violation> {
        let acting = self.acting();
        if self.profile.mode == Mode::WebLocks && acting.len() > 1 && self.terms.corrupting {
            self.terms.overlap(self.now);
        } else if self.profile.mode == Mode::WebLocks && acting.len() > 1 {
            let terms: Vec<Term> = acting.iter().map(|&i| self.tabs[i].engine.term()).collect();
            return Err(self.violation(format!(
                "S1': tabs {acting:?} act as leader at once, terms {terms:?}"
            )));
        }
        // A lost leader is replaced once a running tab leads a higher term.
        if let Some(best) = acting.iter().map(|&i| self.tabs[i].engine.term()).max() {
            let now = self.now;
            let outcome = &mut self.outcome;
            self.losses.retain(|&(how, since, term)| {
                if best <= term {
                    return true;
                }
                match how {
                    Loss::Close => &mut outcome.failover_close_ms,
                    Loss::Crash => &mut outcome.failover_crash_ms,
                    Loss::Freeze => &mut outcome.failover_freeze_ms,
                }
                .push(now - since);
                false
            });
        }
        Ok(())
    }

    /// Notes that tab `i` is about to stop running, if it leads.
    pub(super) fn note_loss(&mut self, i: usize, how: Loss) {
        if self.tabs[i].is_running() && self.tabs[i].engine.is_leader() {
            let term = self.tabs[i].engine.term();
            self.losses.push((how, self.now, term));
        }
    }

    pub(super) fn check_event(&mut self, i: usize, event: Event) -> Result<(), Violation> {
        self.watch_event(i, &event);
        match event {
            Event::BecameLeader { term } => {
                let me = self.tabs[i].engine.id();
                self.outcome.elections += 1;
                if self.quiet {
                    self.outcome.quiet_elections += 1;
                }
                self.log(|| format!("tab {i} leads {term:?}"));
                // A new leader reconciles every backup.
                self.start_reconciliation(i);
                // S1: at most one leader per term, and only the tab that minted it.
                if term.leader() != Some(me) {
                    return Err(
                        self.violation(format!("S1: tab {i} leads {term:?}, minted by another"))
                    );
                }
                if let Some(other) = self.led.insert(term, me) {
                    return Err(self.violation(format!(
                        "S1: {term:?} led twice (before by {})",
                        other.short()
                    )));
                }
            }
            Event::LostLeadership { term, reason } => {
                self.log(|| format!("tab {i} stops leading {term:?}: {reason:?}"));
            }
            Event::WorkspaceLoaded(ref view) => {
                self.log(|| format!("tab {i} loads revision {}", view.rev()));
                self.requests.loaded(i, view.clone());
            }
            Event::WorkspaceChanged { rev, ref changes } => {
                let result = self.requests.changed(i, rev, changes);
                result.map_err(|e| self.violation(e))?;
            }
            Event::RequestEnded { number, outcome } => {
                let id = self.tabs[i].engine.id();
                self.log(|| format!("tab {i} request {number} ended {outcome:?}"));
                let result = self.requests.ended(id, number, outcome);
                result.map_err(|e| self.violation(e))?;
            }
            Event::Delivered {
                from,
                incarnation,
                seq,
                term,
            } if self.sent.get(&(from, incarnation, seq.0)) == Some(&true) => {
                // S3: a receiver accepts leader messages of non-decreasing terms only, so no
                // action of a deposed leader is accepted once a newer one has been.
                if term < self.tabs[i].accepted {
                    let newer = self.tabs[i].accepted;
                    return Err(self.violation(format!(
                        "S3: tab {i} accepted a leader message at {term:?} after one at {newer:?}"
                    )));
                }
                self.tabs[i].accepted = term;
            }
            _ => {}
        }
        if let Event::Delivered {
            from,
            incarnation,
            seq,
            ..
        } = event
        {
            self.outcome.deliveries += 1;
            let key = (from, incarnation, seq.0);
            // F1: nothing sent before the tab listened (a replay after its time).
            let slack = Config::default().fresh_slack_ms;
            let listening = self.tabs[i].listening_since;
            if let Some(at) = self
                .replayer
                .sent_at(&key)
                .filter(|at| at + slack < listening)
            {
                return Err(self.violation(format!(
                    "F1: tab {i} delivered {key:?}, sent at {at}, before it listened (since {listening})"
                )));
            }
            // Integrity: only what was sent is delivered.
            if !self.sent.contains_key(&key) {
                return Err(self.violation(format!("tab {i} delivered {key:?}, never sent")));
            }
            // S4: never twice.
            if !self.delivered.insert((i, key)) {
                return Err(self.violation(format!("S4: tab {i} delivered {key:?} twice")));
            }
            // S5: in order, or filling a gap announced earlier.
            let (highest, gaps) = self
                .progress
                .entry((i, from, incarnation))
                .or_insert((0, Vec::new()));
            if *highest == 0 || seq.0 > *highest {
                if *highest != 0 && seq.0 > *highest + 1 {
                    gaps.push((*highest + 1, seq.0 - 1));
                }
                *highest = seq.0;
            } else if !gaps.iter().any(|&(lo, hi)| (lo..=hi).contains(&seq.0)) {
                let h = *highest;
                return Err(self.violation(format!(
                    "S5: tab {i} delivered {key:?} below highest {h} with no gap announced"
                )));
            }
        }
        Ok(())
    }

    /// S7: state is O(live senders): a tab lists only tabs that exist, never itself.
    pub(super) fn check_memory(&self, i: usize) -> Result<(), Violation> {
        let me = self.tabs[i].engine.id();
        let listed = self.tabs[i].engine.peers().count();
        if listed >= self.tabs.len() || self.tabs[i].engine.peers().any(|p| p.id == me) {
            return Err(self.violation(format!(
                "S7: tab {i} lists {listed} peers of {} tabs",
                self.tabs.len()
            )));
        }
        Ok(())
    }

    pub(super) fn measure_departures(&mut self) {
        if self.departures.is_empty() {
            return;
        }
        // Who is listed by any running tab, and by any visible running tab.
        let (mut listed, mut listed_visible) = (BTreeSet::new(), BTreeSet::new());
        for tab in self.tabs.iter().filter(|t| t.is_running()) {
            for peer in tab.engine.peers() {
                listed.insert(peer.id);
                if tab.hidden.is_none() {
                    listed_visible.insert(peer.id);
                }
            }
        }
        let now = self.now;
        let outcome = &mut self.outcome;
        self.departures.retain(|&(id, since, how)| {
            let (by, gone) = match how {
                Departure::Goodbye => (&listed, &mut outcome.goodbye_ms),
                Departure::Silent => (&listed, &mut outcome.silent_ms),
                Departure::Farewell => (&listed_visible, &mut outcome.farewell_ms),
            };
            if by.contains(&id) {
                return true;
            }
            gone.push(now - since);
            false
        });
    }

    /// No running tab whose timers run at `granularity` (`None`: visible) still lists one of
    /// the tabs `gone`, which said goodbye at `since`.
    pub(super) fn check_farewell(
        &self,
        gone: &[TabId],
        granularity: Option<u64>,
        since: u64,
    ) -> Result<(), Violation> {
        for (i, tab) in self.tabs.iter().enumerate() {
            if !tab.is_running() || tab.hidden != granularity {
                continue;
            }
            if let Some(id) = tab
                .engine
                .peers()
                .map(|p| p.id)
                .find(|id| gone.contains(id))
            {
                return Err(self.violation(format!(
                    "promptness: tab {i} (timers {granularity:?}) still lists {} {} ms after its goodbye",
                    id.short(),
                    self.now - since
                )));
            }
        }
        Ok(())
    }

    /// After the heal phase every running tab lists exactly the other running tabs.
    pub(super) fn check_converged(&self) -> Result<(), Violation> {
        let running: BTreeSet<TabId> = self
            .tabs
            .iter()
            .filter(|t| t.is_running())
            .map(|t| t.engine.id())
            .collect();
        for (i, tab) in self.tabs.iter().enumerate().filter(|(_, t)| t.is_running()) {
            let listed: BTreeSet<TabId> = tab.engine.peers().map(|p| p.id).collect();
            let mut expected = running.clone();
            expected.remove(&tab.engine.id());
            if listed != expected {
                let extra: Vec<String> =
                    listed.difference(&expected).map(|id| id.short()).collect();
                let missing: Vec<String> =
                    expected.difference(&listed).map(|id| id.short()).collect();
                return Err(self.violation(format!(
                    "convergence: tab {i} lists {} peers, {} tabs run besides it (extra {extra:?}, missing {missing:?})",
                    listed.len(),
                    expected.len()
                )));
            }
        }
        Ok(())
    }

    /// After the heal: exactly one running tab acts as leader, and every running tab follows
    /// it at the same term.
    pub(super) fn check_one_leader(&mut self) -> Result<(), Violation> {
        if !self.tabs.iter().any(Tab::is_running) {
            self.watch.stats.agreement_without_tabs += 1;
            return Ok(());
        }
        let acting = self.leading();
        let [leader] = acting[..] else {
            return Err(self.violation(format!(
                "agreement: {} tabs act as leader ({acting:?})",
                acting.len()
            )));
        };
        let term = self.tabs[leader].engine.term();
        if !term.is_in_range() {
            return Err(self.violation(format!(
                "agreement: tab {leader} leads {term:?}, past the highest term number"
            )));
        }
        for (i, tab) in self.tabs.iter().enumerate().filter(|(_, t)| t.is_running()) {
            if tab.engine.term() != term || tab.engine.leader() != Some(tab_id(&self.tabs[leader]))
            {
                return Err(self.violation(format!(
                    "agreement: tab {i} follows {:?} at {:?}; tab {leader} leads {term:?}",
                    tab.engine.leader().map(TabId::short),
                    tab.engine.term()
                )));
            }
        }
        Ok(())
    }

    /// R5: with no faults since the heal, every running tab's requests have ended and it
    /// shows exactly the store.
    pub(super) fn check_requests_settled(&self) -> Result<(), Violation> {
        if !self.requests.enabled {
            return Ok(());
        }
        for (i, tab) in self.tabs.iter().enumerate() {
            if tab.is_running() {
                let outstanding: Vec<u64> =
                    tab.engine.pending_requests().map(|p| p.number).collect();
                self.requests
                    .check_settled(i, outstanding.len())
                    .map_err(|e| self.violation(format!("{e} {outstanding:?}")))?;
            }
        }
        Ok(())
    }
}
