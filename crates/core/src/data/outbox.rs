//! A tab's own requests, from the moment the app makes them until each ends, applied or
//! refused, as the leader answered.
//!
//! Requests are numbered in order, from 1, for the whole life of the tab (across
//! incarnations), and sent to whichever tab leads: again whenever the leader changes, and
//! again after a backoff with jitter while no answer comes (the leader deduplicates). A
//! request whose deadline passes is *abandoned*: the tab asks the leader to consume it as
//! expired, and it ends only when the leader answers — applied (it was, before the deadline)
//! or expired (it was not, and now never will be). So no request is ever applied after its
//! caller was told it failed.

use std::collections::VecDeque;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBuilder};

use super::model::{Op, Refusal};
use super::store::Outcome;
use super::MAX_PENDING;
use crate::ids::Millis;
use crate::wire::Request;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the leader's answer.
    Sent,
    /// Its deadline passed: waiting for the leader to confirm it was not applied (or that it
    /// was, in time).
    Abandoning,
}

/// One request not yet answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Its number.
    pub number: u64,
    /// What it asks.
    pub op: Op,
    /// When it was made, on this tab's clock.
    pub made: Millis,
    /// Past this instant (this tab's clock) the leader must not apply it.
    pub deadline: Millis,
    /// Where it stands.
    pub stage: Stage,
}

/// What the tab's requests have come to so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounters {
    /// Requests made.
    pub made: u64,
    /// Ended applied.
    pub applied: u64,
    /// Ended refused (expired included).
    pub refused: u64,
    /// Of those, refused because their deadline passed.
    pub expired: u64,
    /// Times outstanding requests were sent again (a new leader, or no answer in time).
    pub retries: u64,
}

/// The retry policy's circuit breaker: while it is open the tab is read-only (new requests
/// are refused with [`Refusal::ReadOnly`], so the app keeps what the user typed and says
/// why, rather than queueing writes no leader takes).
///
/// Errors are classified: a refusal from the leader is *permanent* (never retried); no
/// answer is *transient* (retried with backoff); too many outstanding is *rate-limited*
/// ([`Refusal::Busy`], refused at once). The breaker opens when a request's deadline passes
/// unanswered, or after [`TRIP_AFTER`] retries in a row bring no answer; after
/// [`COOL_DOWN_MS`] it is half-open and lets one request through; any answer closes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Breaker {
    /// Requests go out.
    #[default]
    Closed,
    /// Read-only until this instant (this tab's clock).
    Open {
        /// When it becomes half-open.
        until: Millis,
    },
    /// One request may go out to test the leader.
    HalfOpen,
}

/// Retries in a row without an answer that open the breaker.
pub const TRIP_AFTER: u32 = 8;
/// How long the breaker stays open before it lets one request through, in ms.
pub const COOL_DOWN_MS: u64 = 3_000;

/// What the outbox wants sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Send {
    /// A request, to be applied within its budget of its arrival.
    Request(Request),
    /// Consume every request up to `upto` not yet consumed, as expired.
    Abandon { upto: u64 },
}

#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    next_number: u64,
    pending: VecDeque<Pending>,
    /// When everything outstanding is sent again, unless an answer comes first.
    retry_at: Option<Millis>,
    /// Retries since the last progress: the next delay is the backoff's next one.
    tries: usize,
    builder: ExponentialBuilder,
    counters: RequestCounters,
    budget_ms: u64,
    breaker: Breaker,
    /// Retries in a row that brought no answer.
    failures: u32,
}

impl Outbox {
    /// An empty outbox whose requests may wait `budget_ms` for the leader, and whose retries
    /// are jittered from `seed` (drawn by the driver from the secure random source: backon's
    /// own default seed on wasm is a constant, which would retry every tab in step).
    pub(crate) fn new(budget_ms: u64, seed: u64) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(60))
            .with_max_delay(Duration::from_millis(1_000))
            .with_factor(2.0)
            .without_max_times()
            .with_jitter()
            .with_jitter_seed(seed);
        Self {
            next_number: 1,
            pending: VecDeque::new(),
            retry_at: None,
            tries: 0,
            builder,
            counters: RequestCounters::default(),
            budget_ms,
            breaker: Breaker::Closed,
            failures: 0,
        }
    }

    pub(crate) fn counters(&self) -> RequestCounters {
        self.counters
    }

    pub(crate) fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.pending.iter()
    }

    /// The breaker as it stands at `now`.
    pub(crate) fn breaker(&self, now: Millis) -> Breaker {
        match self.breaker {
            Breaker::Open { until } if until <= now => Breaker::HalfOpen,
            breaker => breaker,
        }
    }

    fn trip(&mut self, now: Millis) {
        self.breaker = Breaker::Open {
            until: now.plus(COOL_DOWN_MS),
        };
    }

    /// The number of the latest request made (0: none yet).
    pub(crate) fn last_number(&self) -> u64 {
        self.next_number - 1
    }

    /// Takes a new request made at `now`; its number, or why it is refused at once.
    pub(crate) fn make(&mut self, now: Millis, op: Op) -> Result<(u64, Send), Refusal> {
        op.validate()?;
        match self.breaker(now) {
            Breaker::Open { .. } => return Err(Refusal::ReadOnly),
            // Half-open: one request tests the leader; the rest wait for its answer.
            Breaker::HalfOpen if !self.pending.is_empty() => return Err(Refusal::ReadOnly),
            _ => {}
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(Refusal::Busy);
        }
        let number = self.next_number;
        self.next_number += 1;
        // Deadlines never go down along the queue: abandoning up to one abandons only
        // requests whose own deadline has passed too.
        let deadline = self
            .pending
            .back()
            .map_or(now, |p| p.deadline)
            .max(now.plus(self.budget_ms));
        self.counters.made += 1;
        self.pending.push_back(Pending {
            number,
            op: op.clone(),
            made: now,
            deadline,
            stage: Stage::Sent,
        });
        if self.retry_at.is_none() {
            self.restart_backoff(now);
        }
        let send = Send::Request(Request {
            number,
            op,
            budget_ms: deadline.since(now),
        });
        Ok((number, send))
    }

    /// The leader answered request `number` with `outcome`: whether it was outstanding here
    /// (it ends now).
    pub(crate) fn answer(&mut self, now: Millis, number: u64, outcome: Outcome) -> bool {
        let Some(at) = self.pending.iter().position(|p| p.number == number) else {
            return false;
        };
        self.pending.remove(at);
        // The leader answers: it is reachable.
        self.failures = 0;
        self.breaker = Breaker::Closed;
        match outcome {
            Outcome::Applied => self.counters.applied += 1,
            Outcome::Refused(reason) => {
                self.counters.refused += 1;
                if reason == Refusal::Expired {
                    self.counters.expired += 1;
                }
            }
        }
        // Progress: the next retry starts from the shortest delay again.
        self.restart_backoff(now);
        if self.pending.is_empty() {
            self.retry_at = None;
        }
        true
    }

    /// Everything outstanding, to send again (to a new leader, or after no answer): the
    /// abandonment first (it consumes the oldest), then the rest in order.
    pub(crate) fn resend(&mut self, now: Millis, new_leader: bool) -> Vec<Send> {
        if self.pending.is_empty() {
            self.retry_at = None;
            return Vec::new();
        }
        self.counters.retries += 1;
        if new_leader {
            self.restart_backoff(now);
        } else {
            self.failures = self.failures.saturating_add(1);
            if self.failures >= TRIP_AFTER && self.breaker == Breaker::Closed {
                self.trip(now);
            }
            self.tries = self.tries.saturating_add(1);
            let delay = self.delay();
            self.retry_at = Some(now.plus(millis(delay)));
        }
        self.sends(now)
    }

    fn sends(&self, now: Millis) -> Vec<Send> {
        let mut out = Vec::new();
        if let Some(upto) = self
            .pending
            .iter()
            .filter(|p| p.stage == Stage::Abandoning)
            .map(|p| p.number)
            .max()
        {
            out.push(Send::Abandon { upto });
        }
        out.extend(
            self.pending
                .iter()
                .filter(|p| p.stage == Stage::Sent)
                .map(|p| {
                    Send::Request(Request {
                        number: p.number,
                        op: p.op.clone(),
                        budget_ms: p.deadline.since(now),
                    })
                }),
        );
        out
    }

    /// Requests whose deadline has passed at `now` are abandoned: what to send, if any.
    pub(crate) fn expire(&mut self, now: Millis) -> Option<Send> {
        let mut upto = None;
        for p in &mut self.pending {
            if p.stage == Stage::Sent && p.deadline <= now {
                p.stage = Stage::Abandoning;
                upto = Some(p.number);
            }
        }
        if upto.is_some() {
            self.trip(now);
        }
        upto.map(|upto| Send::Abandon { upto })
    }

    /// When [`Outbox::expire`] or [`Outbox::resend`] must next run.
    pub(crate) fn deadline(&self) -> Option<Millis> {
        let expiry = self
            .pending
            .iter()
            .filter(|p| p.stage == Stage::Sent)
            .map(|p| p.deadline)
            .min();
        match (expiry, self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a retry is due at `now`.
    pub(crate) fn retry_due(&self, now: Millis) -> bool {
        self.retry_at.is_some_and(|at| at <= now)
    }

    fn restart_backoff(&mut self, now: Millis) {
        self.tries = 0;
        let delay = self.delay();
        self.retry_at = Some(now.plus(millis(delay)));
    }

    /// The backoff's delay after `tries` retries. (backon's iterator is not `Clone`, and an
    /// engine must be: it is rebuilt from the same seed, which gives the same delays.)
    fn delay(&self) -> Duration {
        self.builder
            .build()
            .nth(self.tries.min(16))
            .unwrap_or(Duration::from_secs(1))
    }
}

fn millis(delay: Duration) -> u64 {
    u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
}
