//! The reads of messages from the store into the workspace, one at a time: which to start, and
//! when to ask again for one that failed. Plain logic; `use_conclave.rs` does the reading.

/// How long a failed read waits before it is asked for again, after `failures` in a row: 250 ms,
/// doubling each time, at most 8 s.
#[must_use]
pub fn read_retry_ms(failures: u32) -> u32 {
    250 << failures.saturating_sub(1).min(5)
}

/// At most one read out; the latest ask waits for it (an ask replaces the one waiting: only the
/// latest range is wanted). A range asked for again once read is not read again; one whose read
/// failed is, when asked for or when its wait ([`read_retry_ms`]) is over.
#[derive(Debug)]
pub struct ReadQueue<W> {
    /// Whether a read is out.
    busy: bool,
    /// The ask waiting for the read out to end.
    next: Option<W>,
    /// The range of the read out or last read well (none once a read failed).
    last: Option<W>,
    /// Reads failed in a row.
    failures: u32,
}

impl<W> Default for ReadQueue<W> {
    fn default() -> Self {
        Self {
            busy: false,
            next: None,
            last: None,
            failures: 0,
        }
    }
}

impl<W: Copy + PartialEq> ReadQueue<W> {
    /// `wanted` is asked for: the read to start now, if none is out.
    pub fn ask(&mut self, wanted: W) -> Option<W> {
        if self.last == Some(wanted) {
            return None;
        }
        self.next = Some(wanted);
        if self.busy {
            None
        } else {
            self.start()
        }
    }

    /// The read out ended, well (`ok`) or not: the read to start next, if one waits; and for a
    /// failed read with nothing waiting, how long to wait before asking for it again
    /// ([`ReadQueue::retry`]), in ms.
    pub fn ended(&mut self, ok: bool) -> (Option<W>, Option<u32>) {
        self.busy = false;
        if ok {
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.last = None;
        }
        let next = self.start();
        let retry = (!ok && next.is_none()).then(|| read_retry_ms(self.failures));
        (next, retry)
    }

    /// The wait of the failed read of `wanted` is over: the read to start, unless something was
    /// asked for since (a newer range replaces it).
    pub fn retry(&mut self, wanted: W) -> Option<W> {
        if self.busy || self.next.is_some() || self.last.is_some() {
            return None;
        }
        self.ask(wanted)
    }

    /// Reads failed in a row.
    #[must_use]
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn start(&mut self) -> Option<W> {
        let wanted = self.next.take();
        if wanted.is_some() {
            self.busy = true;
            self.last = wanted;
        }
        wanted
    }
}

#[cfg(test)]
mod tests {
    // The same tests run natively under `cargo test` and in Chromium under wasm-pack.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn one_read_at_a_time_and_the_latest_ask_waits() {
        let mut q = ReadQueue::default();
        assert_eq!(q.ask(1), Some(1));
        assert_eq!(q.ask(2), None);
        assert_eq!(q.ask(3), None, "replaces 2");
        assert_eq!(q.ended(true), (Some(3), None));
        assert_eq!(q.ended(true), (None, None));
    }

    #[test]
    fn a_range_read_well_is_not_read_again() {
        let mut q = ReadQueue::default();
        assert_eq!(q.ask(1), Some(1));
        assert_eq!(q.ask(1), None, "out already");
        assert_eq!(q.ended(true), (None, None));
        assert_eq!(q.ask(1), None, "read already");
        assert_eq!(q.ask(2), Some(2));
    }

    #[test]
    fn a_failed_read_is_asked_for_again_after_a_wait_that_doubles_up_to_8_s() {
        let mut q = ReadQueue::default();
        assert_eq!(q.ask(7), Some(7));
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (next, wait) = q.ended(false);
            assert_eq!(next, None);
            waits.push(wait.expect("a wait after a failure"));
            assert_eq!(q.retry(7), Some(7), "read again once the wait is over");
        }
        assert_eq!(waits, [250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
        assert_eq!(q.failures(), 8);
        assert_eq!(q.ended(true), (None, None));
        assert_eq!(q.failures(), 0, "a read that went well ends the run");
    }

    #[test]
    fn a_failed_read_asked_for_again_is_read_at_once() {
        let mut q = ReadQueue::default();
        assert_eq!(q.ask(7), Some(7));
        assert_eq!(q.ended(false), (None, Some(250)));
        assert_eq!(q.ask(7), Some(7), "not taken for read");
        assert_eq!(q.retry(7), None, "out already");
    }

    #[test]
    fn a_newer_ask_replaces_the_retry_of_a_failed_read() {
        let mut q = ReadQueue::default();
        assert_eq!(q.ask(7), Some(7));
        assert_eq!(q.ask(8), None);
        // 7 failed, but 8 waits: 8 is read, and 7 is not asked for again.
        assert_eq!(q.ended(false), (Some(8), None));
        assert_eq!(q.ended(true), (None, None));
        assert_eq!(q.retry(7), None);
        // 9 fails; 10 is asked for during its wait: the retry of 9 is dropped.
        assert_eq!(q.ask(9), Some(9));
        assert_eq!(
            q.ended(false),
            (None, Some(250)),
            "the read of 8 went well: a new run"
        );
        assert_eq!(q.ask(10), Some(10));
        assert_eq!(q.retry(9), None);
    }
}
