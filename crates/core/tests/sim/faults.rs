//! The faults a seed throws at the tabs while its chaos runs (crashes, closes, freezes, blocks,
//! hiding, the back/forward cache, machine sleeps), and the heal and quiet phase after.

use super::*;

impl Sim {
    pub(super) fn inject_fault(&mut self) -> Result<(), Violation> {
        let live: Vec<usize> = (0..self.tabs.len())
            .filter(|&i| self.tabs[i].is_running())
            .collect();
        let kind = self.rng.range(0, 9);
        if live.is_empty() || kind == 0 {
            // Open tabs, sometimes several in the same millisecond.
            let burst = if self.rng.chance(300) {
                self.rng.range(2, 5)
            } else {
                1
            };
            for _ in 0..burst {
                self.open_tab()?;
            }
            return Ok(());
        }
        let i = live[self.rng.range(0, live.len() as u64 - 1) as usize];
        let clock = self.tabs[i].clock(self.now);
        let id = self.tabs[i].engine.id();
        match kind {
            1 => self.crash(i),
            2 => {
                self.log(|| format!("close tab {i}"));
                self.note_loss(i, Loss::Close);
                self.close(i)?;
                self.departures.push((id, self.now, Departure::Goodbye));
            }
            3 => {
                let until = self.now + self.rng.range(500, 20_000);
                self.log(|| format!("freeze tab {i} until {until}"));
                self.note_loss(i, Loss::Freeze);
                self.last_words(i);
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Frozen);
                self.drain(i)?;
                self.tabs[i].state = State::Paused {
                    until,
                    frozen: true,
                };
            }
            4 => {
                self.log(|| format!("block tab {i} for 5 s"));
                self.note_loss(i, Loss::Freeze);
                self.tabs[i].state = State::Paused {
                    until: self.now + 5_000,
                    frozen: false,
                };
            }
            5 | 6 => {
                let granularity = if self.rng.chance(300) { 60_000 } else { 1_000 };
                self.log(|| format!("hide tab {i} ({granularity} ms timers)"));
                self.tabs[i].hidden = Some(granularity);
                self.ever_hidden = true;
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Hidden);
                self.drain(i)?;
            }
            7 => {
                self.log(|| format!("show tab {i}"));
                self.show(i)?;
            }
            _ => {
                let until = self
                    .rng
                    .chance(700)
                    .then(|| self.now + self.rng.range(100, 30_000));
                self.log(|| format!("tab {i} into the back/forward cache until {until:?}"));
                self.note_loss(i, Loss::Close);
                self.last_words(i);
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Closing);
                self.drain(i)?;
                self.tabs[i].state = State::Cached { until };
            }
        }
        Ok(())
    }

    /// Tab `i` is shown: its timers run on time again.
    pub(super) fn show(&mut self, i: usize) -> Result<(), Violation> {
        self.tabs[i].hidden = None;
        let clock = self.tabs[i].clock(self.now);
        self.tabs[i]
            .engine
            .handle_lifecycle(clock, Lifecycle::Visible);
        self.drain(i)
    }

    /// Tab `i`'s page closes: its last words, its goodbye (or resignation), and its locks go.
    pub(super) fn close(&mut self, i: usize) -> Result<(), Violation> {
        self.last_words(i);
        let clock = self.tabs[i].clock(self.now);
        self.tabs[i]
            .engine
            .handle_lifecycle(clock, Lifecycle::Closing);
        self.drain(i)?;
        self.tabs[i].state = State::Gone;
        self.backups.died(self.tabs[i].engine.id());
        self.drop_locks(i);
        if self.tabs[i].engine.poll_timeout().is_some() {
            return Err(self.violation(format!("tab {i} armed a timer after closing")));
        }
        Ok(())
    }

    /// Tab `i`'s page crashes: no last words, its locks and queued requests are dropped.
    pub(super) fn crash(&mut self, i: usize) {
        self.log(|| format!("crash tab {i}"));
        self.note_loss(i, Loss::Crash);
        self.tabs[i].state = State::Gone;
        self.backups.died(self.tabs[i].engine.id());
        self.drop_locks(i);
        let id = self.tabs[i].engine.id();
        self.departures.push((id, self.now, Departure::Silent));
    }

    /// Faults stop: every paused or cached tab comes back, every tab is visible, the network
    /// stops losing and duplicating.
    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        self.healing = true;
        self.requests.failing = false;
        self.log(|| "heal".to_owned());
        // Input queued for a paused tab runs as soon as it resumes, which is now.
        let now = self.now;
        let paused: Vec<bool> = self
            .tabs
            .iter()
            .map(|t| matches!(t.state, State::Paused { .. }))
            .collect();
        self.queue = std::mem::take(&mut self.queue)
            .into_iter()
            .map(|Reverse((at, tie, order, to))| {
                Reverse((if paused[to] { at.min(now) } else { at }, tie, order, to))
            })
            .collect();
        self.losses.clear();
        for i in 0..self.tabs.len() {
            self.tabs[i].restart_clock(self.now);
            let clock = self.tabs[i].clock(self.now);
            match self.tabs[i].state {
                State::Paused { frozen, .. } => {
                    self.tabs[i].state = State::Running;
                    self.tabs[i].fresh = !frozen;
                    if frozen {
                        self.tabs[i].listening_since = self.now;
                        self.tabs[i]
                            .engine
                            .handle_lifecycle(clock, Lifecycle::Resumed);
                    } else {
                        self.watch_unblocked(i);
                    }
                }
                State::Cached { .. } => {
                    self.tabs[i].state = State::Running;
                    self.watch_restored(i);
                    self.tabs[i].listening_since = self.now;
                    self.tabs[i]
                        .engine
                        .handle_lifecycle(clock, Lifecycle::Restored);
                }
                State::Running | State::Gone => {}
            }
            if self.tabs[i].is_running() && self.tabs[i].hidden.take().is_some() {
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Visible);
                self.tabs[i].fresh = false;
            }
            if !self.tabs[i].fresh {
                self.drain(i)?;
            }
        }
        Ok(())
    }

    /// The quiet phase: no faults, and a third of the tabs hidden (some with one-minute timers).
    pub(super) fn go_quiet(&mut self) -> Result<(), Violation> {
        self.quiet = true;
        self.log(|| "quiet".to_owned());
        for i in 0..self.tabs.len() {
            if self.tabs[i].is_running() && self.rng.chance(333) {
                let granularity = if self.rng.chance(500) { 60_000 } else { 1_000 };
                self.log(|| format!("hide tab {i} ({granularity} ms timers)"));
                self.tabs[i].hidden = Some(granularity);
                let clock = self.tabs[i].clock(self.now);
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Hidden);
                self.drain(i)?;
            }
        }
        Ok(())
    }

    /// The user's last keystrokes, saved synchronously as the page hides or freezes.
    pub(super) fn last_words(&mut self, i: usize) {
        if self.data.rng.chance(500) {
            self.data.write(i);
        }
    }

    /// The whole machine sleeps: no page runs, no lock is granted, no message moves until it
    /// wakes. On some platforms a page's monotonic clock counts the sleep, on others it stops;
    /// each tab draws one. No page hears `freeze` or `resume`.
    pub(super) fn sleep_machine(&mut self) {
        let wake = self.now + self.data.rng.range(1_000, 120_000);
        self.log(|| format!("the machine sleeps until {wake}"));
        self.asleep_until = Some(wake);
        self.outcome.machine_sleeps += 1;
        for i in 0..self.tabs.len() {
            let tab = &mut self.tabs[i];
            tab.state = match tab.state {
                State::Running => State::Paused {
                    until: wake,
                    frozen: false,
                },
                State::Paused { until, frozen } => State::Paused {
                    until: until.max(wake),
                    frozen,
                },
                State::Cached { until: Some(until) } => State::Cached {
                    until: Some(until.max(wake)),
                },
                other => other,
            };
            if matches!(tab.state, State::Paused { .. })
                && tab.clock_stopped_at.is_none()
                && self.data.rng.chance(500)
            {
                tab.clock_stopped_at = Some(self.now);
            }
        }
    }
}
