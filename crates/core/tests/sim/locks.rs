//! The simulated Web Locks manager: the leader and heir locks, their queues, steals, and
//! notices delivered in order after up to [`LOCK_NOTICE_MS`].

use super::*;

/// The longest the lock manager takes to tell a tab what happened, in virtual ms.
pub(super) const LOCK_NOTICE_MS: u64 = 50;

/// Per mille of the leader lock's steals whose thief dies before the grant reaches it.
pub(super) const THIEF_DIES_PER_MILLE: u64 = 100;

/// The browser's lock manager, for one lock.
#[derive(Debug, Default)]
pub(super) struct Locks {
    pub(super) holder: Option<usize>,
    queue: VecDeque<usize>,
    /// When the holder's grant notice arrives (virtual ms).
    grant_due: u64,
}

impl Sim {
    /// Tells tab `to` what the lock manager did, in order, after up to [`LOCK_NOTICE_MS`].
    pub(super) fn notice(&mut self, to: usize, name: LockName, change: LockChange) {
        let last = self.notice_fifo.entry(to).or_insert(0);
        let at = (self.now + self.rng.range(0, LOCK_NOTICE_MS)).max(*last);
        *last = at;
        let lock_gen = self.tabs[to].lock_gen[name.index()];
        self.push(at, to, Input::Lock(name, change, lock_gen));
        if change == LockChange::Granted {
            self.locks[name.index()].grant_due = at;
            if name == LockName::Leader {
                self.watch_leader_lock_given(to);
            }
        }
    }

    pub(super) fn lock_request(&mut self, i: usize, name: LockName, request: LockRequest) {
        let n = name.index();
        // A new request: notices about earlier ones are void.
        self.tabs[i].lock_gen[n] += 1;
        if name == LockName::Leader {
            let lock = &self.locks[n];
            let victim = lock.holder.filter(|&h| h != i);
            self.watch_lock_request(i, request, victim, lock.grant_due);
        }
        match request {
            LockRequest::Request => {
                let lock = &mut self.locks[n];
                if lock.holder.is_none() && lock.queue.is_empty() {
                    lock.holder = Some(i);
                    self.notice(i, name, LockChange::Granted);
                } else if lock.holder != Some(i) && !lock.queue.contains(&i) {
                    lock.queue.push_back(i);
                }
            }
            LockRequest::Steal => {
                let lock = &mut self.locks[n];
                lock.queue.retain(|&q| q != i);
                let victim = lock.holder.filter(|&h| h != i);
                lock.holder = Some(i);
                if let Some(h) = victim {
                    self.notice(h, name, LockChange::Lost);
                }
                self.notice(i, name, LockChange::Granted);
                if name == LockName::Leader
                    && !self.healing
                    && self.rng.chance(THIEF_DIES_PER_MILLE)
                {
                    // The thief dies before the grant reaches it: the lock passes on, and its
                    // victim may still think it leads.
                    let at = self.now + self.rng.range(0, LOCK_NOTICE_MS);
                    self.log(|| format!("tab {i} will die at {at}, before its steal's grant"));
                    self.push(at, i, Input::Crash);
                }
            }
            LockRequest::Release => {
                if name == LockName::Heir {
                    // The driver stops listening on the heir's channel.
                    self.tabs[i].holds_heir = false;
                }
                let lock = &mut self.locks[n];
                lock.queue.retain(|&q| q != i);
                if lock.holder == Some(i) {
                    lock.holder = None;
                    self.grant_next(name);
                }
            }
        }
    }

    pub(super) fn grant_next(&mut self, name: LockName) {
        while let Some(next) = self.locks[name.index()].queue.pop_front() {
            if self.tabs[next].state != State::Gone {
                self.locks[name.index()].holder = Some(next);
                self.notice(next, name, LockChange::Granted);
                return;
            }
        }
    }

    /// A page went away for good: the browser drops its locks and its queued requests.
    pub(super) fn drop_locks(&mut self, i: usize) {
        for name in LockName::ALL {
            let lock = &mut self.locks[name.index()];
            lock.queue.retain(|&q| q != i);
            if lock.holder == Some(i) {
                lock.holder = None;
                self.grant_next(name);
            }
        }
    }
}
