//! The election timeline: who led, at which term, over the last minutes, as this tab saw it,
//! and the chart drawn from it. Recorded from every snapshot the driver offers (folded panel
//! or not), so a failover that happened while nobody looked is on it.

use std::collections::VecDeque;

use conclave_web::{Millis, Snapshot, TabId};

use super::{format_age, seconds};

/// How far back the timeline looks: five minutes.
const TIMELINE_MS: u64 = 5 * 60_000;

/// The most changes kept, whatever their age (a flapping election must not grow it for ever).
const MAX_MARKS: usize = 500;

/// The chart's width in its own units (its `viewBox`); it is stretched to the page's width.
pub const CHART_WIDTH: f64 = 1_000.0;

/// The narrowest a span is drawn, in chart units: a failover of a few milliseconds in five
/// minutes must still be seen (and hovered).
const MIN_WIDTH: f64 = 4.0;

/// Who leads, as of one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    at: Millis,
    term: u64,
    /// `None`: no tab known to lead (the last one gone, or this tab not acting yet).
    leader: Option<TabId>,
}

/// Every change of who leads this tab saw in the last five minutes, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    marks: VecDeque<Mark>,
}

impl Timeline {
    /// Notes who `snapshot` says leads, if that changed; returns whether it did. A tab counts
    /// itself only once it may act ([`Snapshot::is_leader`]): a candidate, or a leader
    /// verifying after a stall, leads nobody yet.
    pub fn record(&mut self, snapshot: &Snapshot) -> bool {
        let leader = snapshot
            .leader
            .filter(|leader| *leader != snapshot.id || snapshot.is_leader);
        let mark = Mark {
            at: snapshot.now,
            term: snapshot.term.number(),
            leader,
        };
        let changed = self
            .marks
            .back()
            .is_none_or(|last| (last.term, last.leader) != (mark.term, mark.leader));
        if changed {
            self.marks.push_back(mark);
        }
        // Forget what ended before the window: a mark goes once the next one is older too.
        let start = Millis(snapshot.now.0.saturating_sub(TIMELINE_MS));
        while self.marks.len() > MAX_MARKS || self.marks.get(1).is_some_and(|m| m.at <= start) {
            self.marks.pop_front();
        }
        changed
    }

    /// The spans of the window ending at `now`, oldest first, each cut to the window.
    #[must_use]
    pub fn spans(&self, now: Millis) -> Vec<Span> {
        let start = self.start(now);
        let ends = self.marks.iter().skip(1).map(|m| m.at).chain([now]);
        self.marks
            .iter()
            .zip(ends)
            .map(|(mark, end)| Span {
                from: mark.at.max(start),
                to: end.max(start),
                term: mark.term,
                leader: mark.leader,
            })
            .collect()
    }

    /// Where the window ending at `now` starts: [`TIMELINE_MS`] before it, or the first change
    /// this tab saw if that is later.
    fn start(&self, now: Millis) -> Millis {
        let window = Millis(now.0.saturating_sub(TIMELINE_MS));
        self.marks.front().map_or(now, |first| first.at.max(window))
    }
}

/// A stretch of time with one leader (or none) at one term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// When it began (or the window did).
    pub from: Millis,
    /// When it ended, or now.
    pub to: Millis,
    /// The highest term known meanwhile.
    pub term: u64,
    /// Who led; `None`: nobody known to.
    pub leader: Option<TabId>,
}

/// One bar of the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Unique among the bars: the time it began and its term.
    pub key: String,
    /// Where it starts, in chart units.
    pub x: f64,
    /// How wide it is, in chart units.
    pub width: f64,
    /// Its fill: the term's colour, the same in every tab (or none, for no leader: the
    /// stylesheet draws those).
    pub fill: String,
    /// `led`, `mine` (this tab led), or `vacant` (no leader).
    pub class: &'static str,
    /// The term.
    pub term: u64,
    /// The leader's full id, or empty.
    pub leader: String,
    /// What it shows, in words: its accessible name and the detail on hover or focus.
    pub label: String,
}

/// The chart of the timeline at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// The bars, oldest first.
    pub bars: Vec<Bar>,
    /// How far back the chart starts, in words ("45 s ago").
    pub since: String,
    /// How many times leadership passed from one tab to another in the window.
    pub failovers: usize,
    /// The whole window in one sentence.
    pub summary: String,
}

/// The chart of `timeline` as of `now`, seen from tab `me`.
#[must_use]
pub fn chart(timeline: &Timeline, me: TabId, now: Millis) -> Chart {
    let spans = timeline.spans(now);
    let start = timeline.start(now);
    let length = now.since(start).max(1) as f64;
    let bars = spans
        .iter()
        .map(|span| {
            let x = span.from.since(start) as f64 / length * CHART_WIDTH;
            let width = (span.to.since(span.from) as f64 / length * CHART_WIDTH).max(MIN_WIDTH);
            Bar {
                key: format!("{}-{}", span.from.0, span.term),
                x: x.min(CHART_WIDTH - MIN_WIDTH),
                width,
                fill: span
                    .leader
                    .map_or_else(|| "none".to_owned(), |_| colour(span.term)),
                class: match span.leader {
                    None => "vacant",
                    Some(leader) if leader == me => "mine",
                    Some(_) => "led",
                },
                term: span.term,
                leader: span.leader.map(|l| l.to_string()).unwrap_or_default(),
                label: describe(span, me, now),
            }
        })
        .collect();
    let failovers = failovers(&spans);
    let since = format_age(now.since(start));
    let summary = summarize(&spans, &failovers, now.since(start), me);
    Chart {
        bars,
        since,
        failovers: failovers.len(),
        summary,
    }
}

/// A passing of leadership: the term led before, the term led after, and how long no tab led
/// in between (0 for a hand-off the successor led at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Failover {
    from_term: u64,
    to_term: u64,
    ms: u64,
}

/// Every passing of leadership between the led spans of `spans`.
fn failovers(spans: &[Span]) -> Vec<Failover> {
    let led = spans
        .iter()
        .filter_map(|s| s.leader.map(|leader| (s, leader)));
    led.clone()
        .zip(led.skip(1))
        .filter(|((a, _), (b, _))| a.term != b.term)
        .map(|((a, _), (b, _))| Failover {
            from_term: a.term,
            to_term: b.term,
            ms: b.from.since(a.to),
        })
        .collect()
}

/// One span in words.
fn describe(span: &Span, me: TabId, now: Millis) -> String {
    let how_long = duration(span.to.since(span.from));
    let when = if span.to == now {
        format!("{how_long} so far")
    } else {
        format!("{how_long}, ended {}", format_age(now.since(span.to)))
    };
    match span.leader {
        Some(leader) => format!("Term {}: led by {} — {when}", span.term, who(leader, me)),
        None => format!("No leader (term {}) — {when}", span.term),
    }
}

/// The whole window in one sentence.
fn summarize(spans: &[Span], failovers: &[Failover], length: u64, me: TabId) -> String {
    let window = if length == 0 {
        "since this tab opened".to_owned()
    } else {
        format!("in the last {}", duration(length))
    };
    match (failovers.last(), spans.last()) {
        (Some(last), _) => format!(
            "{} {window}; the latest, term {} to {}, {}.",
            plural(failovers.len(), "failover"),
            last.from_term,
            last.to_term,
            match last.ms {
                // A follower hears of the new term before it misses the old leader.
                0 => "with no gap this tab saw".to_owned(),
                ms => format!("with no leader for {}", duration(ms)),
            }
        ),
        (
            None,
            Some(Span {
                leader: Some(leader),
                term,
                ..
            }),
        ) => format!(
            "No failover {window}: term {term}, led by {}.",
            who(*leader, me)
        ),
        (None, _) => format!("No leader yet ({window})."),
    }
}

/// "this tab" or the short id.
fn who(leader: TabId, me: TabId) -> String {
    if leader == me {
        "this tab".to_owned()
    } else {
        format!("tab {}", leader.short())
    }
}

/// "1 failover", "2 failovers".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A length of time in words: "812 ms", "4.2 s", "45 s", "3 min".
#[must_use]
fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        _ => seconds(ms),
    }
}

/// Eight colours that tell apart from each other and from a vacant bar's red, in both schemes.
const PALETTE: [&str; 8] = [
    "#4263eb", "#2f9e44", "#ae3ec9", "#fab005", "#1098ad", "#e64980", "#5c940d", "#7048e8",
];

/// A term's colour, the same in every tab; two terms in a row never share one.
fn colour(term: u64) -> String {
    PALETTE[(term % PALETTE.len() as u64) as usize].to_owned()
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use conclave_web::{Role, Term};

    use super::*;

    const ME: TabId = TabId::from_bytes([1; 16]);
    const OTHER: TabId = TabId::from_bytes([0xcd; 16]);
    const THIRD: TabId = TabId::from_bytes([0x5a; 16]);

    /// What a tab at `now` says: the leader of term `term` leads, or nobody.
    fn seen(now: u64, term: u64, leader: Option<TabId>) -> Snapshot {
        let base = super::super::tests::snapshot();
        Snapshot {
            now: Millis(now),
            term: Term::new(term, leader.unwrap_or(ME)),
            role: if leader == Some(ME) {
                Role::Leader
            } else {
                Role::Follower
            },
            is_leader: leader == Some(ME),
            leader,
            ..base
        }
    }

    #[test]
    fn a_crash_reads_as_one_failover_with_the_time_nobody_led() {
        let mut timeline = Timeline::default();
        assert!(timeline.record(&seen(1_000, 3, Some(OTHER))));
        assert!(
            !timeline.record(&seen(5_000, 3, Some(OTHER))),
            "no change, no mark"
        );
        assert!(timeline.record(&seen(10_000, 3, None)));
        assert!(timeline.record(&seen(10_812, 4, Some(THIRD))));
        let chart = super::chart(&timeline, ME, Millis(20_000));
        let terms: Vec<_> = chart.bars.iter().map(|b| (b.term, b.class)).collect();
        assert_eq!(terms, [(3, "led"), (3, "vacant"), (4, "led")]);
        assert_eq!(chart.failovers, 1);
        assert_eq!(
            chart.summary,
            "1 failover in the last 19 s; the latest, term 3 to 4, with no leader for 812 ms."
        );
        assert_eq!(chart.bars[0].x, 0.0);
        assert!((chart.bars[2].x + chart.bars[2].width - CHART_WIDTH).abs() < 1e-6);
        assert_eq!(
            chart.bars[1].label,
            "No leader (term 3) — 812 ms, ended 9.1 s ago"
        );
        assert_eq!(
            chart.bars[2].label,
            "Term 4: led by tab 5a5a5a5a — 9.1 s so far"
        );
        assert_eq!(chart.bars[0].leader, OTHER.to_string());
        assert_eq!(chart.bars[0].fill, colour(3));
        assert_ne!(chart.bars[0].fill, chart.bars[2].fill);
    }

    #[test]
    fn a_hand_off_is_a_failover_of_no_time_and_a_candidate_leads_nobody_yet() {
        let mut timeline = Timeline::default();
        timeline.record(&seen(0, 1, Some(OTHER)));
        timeline.record(&seen(2_000, 2, Some(THIRD)));
        assert_eq!(
            super::chart(&timeline, ME, Millis(3_000)).summary,
            "1 failover in the last 3.0 s; the latest, term 1 to 2, with no gap this tab saw."
        );
        // This tab minted term 3 but may not act yet: nobody leads.
        let candidate = Snapshot {
            role: Role::Candidate,
            is_leader: false,
            ..seen(4_000, 3, Some(ME))
        };
        timeline.record(&candidate);
        timeline.record(&seen(4_300, 3, Some(ME)));
        let chart = super::chart(&timeline, ME, Millis(5_000));
        let bars: Vec<_> = chart.bars.iter().map(|b| (b.term, b.class)).collect();
        assert_eq!(bars, [(1, "led"), (2, "led"), (3, "vacant"), (3, "mine")]);
        assert_eq!(chart.failovers, 2);
        assert!(chart
            .summary
            .ends_with("term 2 to 3, with no leader for 300 ms."));
        assert!(
            chart.summary.starts_with("2 failovers"),
            "{}",
            chart.summary
        );
        assert_eq!(
            chart.bars[3].label,
            "Term 3: led by this tab — 700 ms so far"
        );
    }

    #[test]
    fn the_window_keeps_five_minutes_and_a_narrow_span_still_shows() {
        let mut timeline = Timeline::default();
        timeline.record(&seen(0, 1, Some(OTHER)));
        timeline.record(&seen(60_000, 1, None));
        timeline.record(&seen(60_005, 2, Some(OTHER)));
        timeline.record(&seen(400_000, 3, Some(THIRD)));
        // Term 1 ended at 60 s: more than five minutes before 400 s; term 2 began then and
        // covers the window's start.
        let spans = timeline.spans(Millis(400_000));
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].from, Millis(100_000));
        assert_eq!(spans[0].term, 2);
        let wide = super::chart(&timeline, ME, Millis(400_000));
        assert_eq!(wide.since, "5 min ago");
        assert!(wide.bars.iter().all(|b| b.width >= MIN_WIDTH));
        let mut long = Timeline::default();
        long.record(&seen(0, 1, Some(OTHER)));
        long.record(&seen(60_000, 1, None));
        long.record(&seen(60_005, 2, Some(OTHER)));
        let narrow = super::chart(&long, ME, Millis(120_000));
        assert_eq!(
            narrow.bars[1].width, MIN_WIDTH,
            "5 ms of 2 min, drawn wide enough"
        );
    }

    #[test]
    fn a_flapping_election_keeps_a_bounded_timeline() {
        let mut timeline = Timeline::default();
        for i in 0..2_000 {
            timeline.record(&seen(i, i, Some(OTHER)));
        }
        assert_eq!(timeline.spans(Millis(2_000)).len(), MAX_MARKS);
    }

    #[test]
    fn no_leader_yet_and_one_steady_leader_read_plainly() {
        let mut timeline = Timeline::default();
        timeline.record(&seen(0, 0, None));
        assert_eq!(
            chart(&timeline, ME, Millis(0)).summary,
            "No leader yet (since this tab opened)."
        );
        timeline.record(&seen(500, 1, Some(ME)));
        assert_eq!(
            chart(&timeline, ME, Millis(30_000)).summary,
            "No failover in the last 30 s: term 1, led by this tab."
        );
        assert_eq!(duration(4_250), "4.2 s");
        assert_eq!(duration(180_000), "3 min");
    }
}
