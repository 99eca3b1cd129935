//! Vector clocks: which tab has seen how much of which other tab's work.
//!
//! A [`VClock`] maps each [`TabId`] to the number of events of that tab it has seen. Two clocks
//! [`compare`](VClock::compare) as [`Causality::Before`], [`Causality::After`],
//! [`Causality::Equal`] or [`Causality::Concurrent`]; [`merge`](VClock::merge) is their join
//! (pointwise maximum), the least clock that has seen everything either has seen.
//!
//! ## Canonical form
//! A tab a clock has never heard of counts zero, so a zero entry and a missing entry are the same
//! thing. A clock never stores a zero: `{a: 0}` and `{}` are one value, equal and hashing alike,
//! and serialise to the same text.
//!
//! ## Numbers
//! Clocks travel as JSON to JavaScript, so a counter never exceeds [`MAX_SAFE_INTEGER`]
//! (2^53 − 1): [`tick`](VClock::tick) stops there (a tab would need 2^53 events, 285 years at a
//! million a second), and decoding rejects anything larger instead of rounding it.
//!
//! ## Forgetting dead tabs
//! Every tab that ever wrote leaves an entry behind. [`VClock::forget`] drops a dead tab's entry
//! from a set of clocks, and only when doing so cannot change how any two of them compare; its
//! docs give the rule and why it is sound.
//!
//! # Examples
//! ```
//! use conclave_core::{Causality, TabId, VClock};
//!
//! let (a, b) = (TabId::from_bytes([1; 16]), TabId::from_bytes([2; 16]));
//! let mut left = VClock::new();
//! left.tick(a);
//! let mut right = left.clone();
//! right.tick(b);
//! assert_eq!(left.compare(&right), Causality::Before);
//!
//! left.tick(a); // a moves on without hearing of b's event
//! assert_eq!(left.compare(&right), Causality::Concurrent);
//! assert_eq!(left.merged(&right).compare(&left), Causality::After);
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::ids::{TabId, MAX_SAFE_INTEGER};
use crate::json::{HexId, SafeU64};

/// How two clocks, and the states or events they stamp, are related in time.
///
/// A vector clock is a *partial* order, so "neither came first" is a fourth answer rather than
/// a tie: that is why comparisons return this enum and not an [`Ordering`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Causality {
    /// The left clock happened before the right one: the right one has seen everything the left
    /// one has, and more.
    Before,
    /// The left clock happened after the right one: the mirror of [`Causality::Before`].
    After,
    /// The two clocks are the same value.
    Equal,
    /// Each clock has seen something the other has not: neither happened before the other.
    Concurrent,
}

impl Causality {
    /// The same relation seen from the other side: `a.compare(b).reverse() == b.compare(a)`.
    #[must_use]
    pub const fn reverse(self) -> Self {
        match self {
            Causality::Before => Causality::After,
            Causality::After => Causality::Before,
            other => other,
        }
    }

    /// The matching [`Ordering`], or `None` for [`Causality::Concurrent`].
    #[must_use]
    pub const fn to_ordering(self) -> Option<Ordering> {
        match self {
            Causality::Before => Some(Ordering::Less),
            Causality::After => Some(Ordering::Greater),
            Causality::Equal => Some(Ordering::Equal),
            Causality::Concurrent => None,
        }
    }
}

/// A vector clock over tabs: for each [`TabId`], how many of its events have been seen.
///
/// Always canonical (no zero entries), every counter within [`MAX_SAFE_INTEGER`]. Ordered as a
/// partial order through [`PartialOrd`]: `a <= b` means `a` happened before or equals `b`.
///
/// Serialised as a JSON object from 32-hex tab ids to counters, e.g.
/// `{"0101…01": 3, "0202…02": 1}`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct VClock {
    /// Invariant: every value is in `1..=MAX_SAFE_INTEGER`.
    entries: BTreeMap<TabId, u64>,
}

/// What [`VClock::forget`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a dead tab's entry may have been kept; check before assuming it is gone"]
pub enum Forget {
    /// Every clock carried exactly the final counter; the entry is gone from all of them.
    Forgotten,
    /// This many clocks carried another value (they have not seen all of the dead tab's events,
    /// or the "final" counter is not final): nothing was changed.
    Kept {
        /// How many clocks differ from the final counter.
        differing: usize,
    },
}

impl VClock {
    /// The clock that has seen nothing.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    /// How many events of `id` this clock has seen (0 for a tab it has never heard of).
    #[must_use]
    pub fn get(&self, id: TabId) -> u64 {
        self.entries.get(&id).copied().unwrap_or(0)
    }

    /// Counts one more event of `id` (the owning tab calls this for each of its own events) and
    /// returns the new counter. Saturates at [`MAX_SAFE_INTEGER`].
    pub fn tick(&mut self, id: TabId) -> u64 {
        let counter = self.entries.entry(id).or_insert(0);
        *counter = counter.saturating_add(1).min(MAX_SAFE_INTEGER);
        *counter
    }

    /// Raises the counter of `id` to at least `value` (clamped to [`MAX_SAFE_INTEGER`]); never
    /// lowers it. `raise(id, n)` is `merge` with the clock `{id: n}`.
    pub fn raise(&mut self, id: TabId, value: u64) {
        let value = value.min(MAX_SAFE_INTEGER);
        if value > 0 {
            let counter = self.entries.entry(id).or_insert(0);
            *counter = (*counter).max(value);
        }
    }

    /// Joins `other` into this clock: every counter becomes the larger of the two. Commutative,
    /// associative and idempotent; the result is the least clock at or after both.
    pub fn merge(&mut self, other: &Self) {
        for (&id, &value) in &other.entries {
            let counter = self.entries.entry(id).or_insert(0);
            *counter = (*counter).max(value);
        }
    }

    /// The join of this clock and `other`, as a new clock (see [`VClock::merge`]).
    #[must_use]
    pub fn merged(&self, other: &Self) -> Self {
        let mut joined = self.clone();
        joined.merge(other);
        joined
    }

    /// How this clock relates to `other`.
    ///
    /// `Before` when every counter here is at most the one there and the clocks differ;
    /// `After` for the mirror case; `Equal` when they are the same value; `Concurrent` otherwise.
    /// Runs in one pass over both clocks.
    #[must_use]
    pub fn compare(&self, other: &Self) -> Causality {
        // Whether some entry here is smaller (`less`) or larger (`greater`) than there. Both
        // maps are sorted by id and hold no zeros, so an id on one side only is larger there.
        let (mut less, mut greater) = (false, false);
        let mut mine = self.entries.iter().peekable();
        let mut theirs = other.entries.iter().peekable();
        while !(less && greater) {
            let left = mine.peek().map(|(&id, &value)| (id, value));
            let right = theirs.peek().map(|(&id, &value)| (id, value));
            match (left, right) {
                (None, None) => break,
                (Some(_), None) => greater = true,
                (None, Some(_)) => less = true,
                (Some((a, x)), Some((b, y))) => match a.cmp(&b) {
                    Ordering::Less => {
                        greater = true;
                        mine.next();
                    }
                    Ordering::Greater => {
                        less = true;
                        theirs.next();
                    }
                    Ordering::Equal => {
                        less |= x < y;
                        greater |= x > y;
                        mine.next();
                        theirs.next();
                    }
                },
            }
            if left.is_none() || right.is_none() {
                break;
            }
        }
        match (less, greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// Whether this clock happened strictly before `other`.
    #[must_use]
    pub fn happened_before(&self, other: &Self) -> bool {
        self.compare(other) == Causality::Before
    }

    /// Whether `other` has seen everything this clock has (it is `Before` or `Equal`).
    #[must_use]
    pub fn is_covered_by(&self, other: &Self) -> bool {
        matches!(self.compare(other), Causality::Before | Causality::Equal)
    }

    /// Whether neither clock happened before the other.
    #[must_use]
    pub fn is_concurrent_with(&self, other: &Self) -> bool {
        self.compare(other) == Causality::Concurrent
    }

    /// The non-zero entries, in increasing tab id order.
    pub fn iter(&self) -> impl Iterator<Item = (TabId, u64)> + '_ {
        self.entries.iter().map(|(&id, &value)| (id, value))
    }

    /// How many tabs have a non-zero counter.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether this is the clock that has seen nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The sum of all counters: how many events this clock has seen in all.
    ///
    /// Strictly monotone in causality: if `a` happened before `b`, `a.total() < b.total()`. So
    /// sorting by total (then by any tie-break) is a total order consistent with causality.
    #[must_use]
    pub fn total(&self) -> u128 {
        self.entries.values().map(|&v| u128::from(v)).sum()
    }

    /// Drops the entry of the dead tab `id` from every clock in `clocks` — if and only if every
    /// one of them carries exactly `final_value` for it. Otherwise changes nothing.
    ///
    /// # The rule, and why it is sound
    /// Whether two clocks compare as before, after, equal or concurrent depends only on the set
    /// of tabs where the first is smaller and the set where it is larger. When every clock in the
    /// set carries the same value for `id`, that coordinate is in neither set for any pair, so
    /// removing it from all of them at once leaves every pairwise comparison exactly as it was:
    /// no concurrent pair becomes ordered, and no ordered pair changes.
    ///
    /// No rule applied to clocks one at a time can promise that. Dropping `id` only from the
    /// clocks that reached the final value (the obvious rule) breaks as soon as one clock saw
    /// less: `{t: 5}` and `{t: 3, u: 1}` are concurrent, but `{}` happened before `{t: 3, u: 1}`.
    /// Even a clock that never saw `t` breaks it: `{t: 5}` and `{u: 1}` are concurrent, `{}` and
    /// `{u: 1}` are not. So the check is over the whole set, and all-or-nothing.
    ///
    /// # Preconditions the caller establishes
    /// - `id` is dead and `final_value` is its last counter, so no clock will ever carry more.
    /// - `clocks` holds every clock that will be compared with these ones again (for the
    ///   reconciler: the store clock and every backup not yet deleted). A clock left out that
    ///   carries less than `final_value` would be compared against a clock that forgot, which is
    ///   exactly the unsound case above. Clocks made later by ticking or merging the forgotten
    ///   ones agree with them, and a tab must merge the store clock before it writes.
    ///
    /// # Examples
    /// ```
    /// use conclave_core::{Causality, TabId, VClock};
    /// use conclave_core::vclock::Forget;
    ///
    /// let (t, u) = (TabId::from_bytes([1; 16]), TabId::from_bytes([2; 16]));
    /// let mut a: VClock = [(t, 5)].into_iter().collect();
    /// let mut b: VClock = [(t, 3), (u, 1)].into_iter().collect();
    /// // b never saw t's last two events: forgetting t would order a concurrent pair.
    /// assert_eq!(VClock::forget([&mut a, &mut b], t, 5), Forget::Kept { differing: 1 });
    /// assert_eq!(a.compare(&b), Causality::Concurrent);
    ///
    /// b.raise(t, 5);
    /// assert_eq!(VClock::forget([&mut a, &mut b], t, 5), Forget::Forgotten);
    /// assert_eq!((a.get(t), b.get(t)), (0, 0));
    /// assert_eq!(a.compare(&b), Causality::Before); // as it was: {t: 5} before {t: 5, u: 1}
    /// ```
    pub fn forget<'a, I>(clocks: I, id: TabId, final_value: u64) -> Forget
    where
        I: IntoIterator<Item = &'a mut VClock>,
    {
        let mut clocks: Vec<&'a mut VClock> = clocks.into_iter().collect();
        let differing = clocks.iter().filter(|c| c.get(id) != final_value).count();
        if differing > 0 {
            return Forget::Kept { differing };
        }
        for clock in &mut clocks {
            clock.entries.remove(&id);
        }
        Forget::Forgotten
    }
}

impl PartialOrd for VClock {
    /// The causal partial order: `None` for concurrent clocks.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.compare(other).to_ordering()
    }
}

impl FromIterator<(TabId, u64)> for VClock {
    /// Builds a clock from entries: a repeated id keeps its largest counter, zeros are dropped
    /// and counters are clamped to [`MAX_SAFE_INTEGER`].
    fn from_iter<I: IntoIterator<Item = (TabId, u64)>>(entries: I) -> Self {
        let mut clock = Self::new();
        for (id, value) in entries {
            clock.raise(id, value);
        }
        clock
    }
}

impl fmt::Debug for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VClock")?;
        f.debug_map()
            .entries(self.entries.iter().map(|(id, value)| (id.short(), value)))
            .finish()
    }
}

impl Serialize for VClock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (id, value) in &self.entries {
            map.serialize_entry(&id.to_string(), value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for VClock {
    /// Reads the JSON object form. Rejects a key that is not a canonical tab id, a repeated
    /// key, and a counter that is negative, fractional or above [`MAX_SAFE_INTEGER`]; drops
    /// zero counters.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClockVisitor;

        impl<'de> Visitor<'de> for ClockVisitor {
            type Value = VClock;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object from 32-hex tab ids to counters")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<VClock, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some(HexId(id)) = map.next_key()? {
                    let SafeU64(value) = map.next_value()?;
                    if entries.insert(id, value).is_some() {
                        return Err(de::Error::custom(format_args!("duplicate tab id {id}")));
                    }
                }
                entries.retain(|_, value| *value != 0);
                Ok(VClock { entries })
            }
        }

        deserializer.deserialize_map(ClockVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TabId {
        TabId::from_bytes([n; 16])
    }

    fn clock(entries: &[(u8, u64)]) -> VClock {
        entries.iter().map(|&(n, v)| (id(n), v)).collect()
    }

    #[test]
    fn a_zero_entry_is_the_same_clock_as_a_missing_one() {
        assert_eq!(clock(&[(1, 0)]), VClock::new());
        assert_eq!(clock(&[(1, 0), (2, 3)]), clock(&[(2, 3)]));
        assert!(clock(&[(1, 0)]).is_empty());
        assert_eq!(clock(&[(1, 0)]).compare(&VClock::new()), Causality::Equal);
    }

    #[test]
    fn comparison_covers_all_four_answers() {
        let a = clock(&[(1, 2), (2, 1)]);
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
        assert_eq!(a.compare(&clock(&[(1, 2), (2, 2)])), Causality::Before);
        assert_eq!(
            a.compare(&clock(&[(1, 2), (2, 1), (3, 1)])),
            Causality::Before
        );
        assert_eq!(a.compare(&clock(&[(1, 2)])), Causality::After);
        assert_eq!(a.compare(&clock(&[(1, 3)])), Causality::Concurrent);
        assert_eq!(a.compare(&clock(&[(3, 1)])), Causality::Concurrent);
        assert!(a < clock(&[(1, 3), (2, 1)]));
        assert_eq!(a.partial_cmp(&clock(&[(3, 1)])), None);
    }

    #[test]
    fn tick_counts_and_stops_at_the_largest_safe_integer() {
        let mut c = VClock::new();
        assert_eq!(c.tick(id(1)), 1);
        assert_eq!(c.tick(id(1)), 2);
        c.raise(id(2), u64::MAX);
        assert_eq!(c.get(id(2)), MAX_SAFE_INTEGER);
        assert_eq!(c.tick(id(2)), MAX_SAFE_INTEGER);
        c.raise(id(1), 1);
        assert_eq!(c.get(id(1)), 2, "raise never lowers");
    }

    #[test]
    fn merge_takes_the_larger_counter_of_each_tab() {
        let mut a = clock(&[(1, 3), (2, 1)]);
        a.merge(&clock(&[(2, 4), (3, 1)]));
        assert_eq!(a, clock(&[(1, 3), (2, 4), (3, 1)]));
        assert_eq!(a.total(), 8);
    }

    #[test]
    fn serialises_as_an_object_of_hex_ids() {
        let text = serde_json::to_string(&clock(&[(2, 7), (1, 3)])).unwrap();
        let (one, two) = ("01".repeat(16), "02".repeat(16));
        assert_eq!(text, format!(r#"{{"{one}":3,"{two}":7}}"#));
        let back: VClock = serde_json::from_str(&text).unwrap();
        assert_eq!(back, clock(&[(1, 3), (2, 7)]));
    }

    #[test]
    fn decoding_drops_zeros_and_rejects_bad_ids_and_unsafe_numbers() {
        let one = "01".repeat(16);
        let decode =
            |text: String| serde_json::from_str::<VClock>(&text).map_err(|e| e.to_string());
        assert_eq!(decode(format!(r#"{{"{one}":0}}"#)), Ok(VClock::new()));
        assert_eq!(decode(format!(r#"{{"{one}":5.0}}"#)), Ok(clock(&[(1, 5)])));
        assert_eq!(
            decode(format!(r#"{{"{one}":9007199254740991}}"#)),
            Ok(clock(&[(1, MAX_SAFE_INTEGER)]))
        );
        for unsafe_number in ["9007199254740992", "18446744073709551616", "1e300"] {
            let err = decode(format!(r#"{{"{one}":{unsafe_number}}}"#));
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.starts_with(crate::json::UNSAFE_NUMBER)),
                "{unsafe_number}: {err:?}"
            );
        }
        for bad in [
            format!(r#"{{"{}":1}}"#, "0A".repeat(16)),
            r#"{"tab-1":1}"#.to_owned(),
            format!(r#"{{"{one}":-1}}"#),
            format!(r#"{{"{one}":1.5}}"#),
            format!(r#"{{"{one}":"1"}}"#),
            format!(r#"{{"{one}":1,"{one}":0}}"#),
            "[]".to_owned(),
        ] {
            assert!(decode(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn forgetting_only_where_some_clocks_reached_the_final_value_is_refused() {
        // The naive per-clock rule would turn this concurrent pair into an ordered one.
        let (mut a, mut b) = (clock(&[(1, 5)]), clock(&[(1, 3), (2, 1)]));
        assert_eq!(
            VClock::forget([&mut a, &mut b], id(1), 5),
            Forget::Kept { differing: 1 }
        );
        assert_eq!((a.get(id(1)), b.get(id(1))), (5, 3));
        assert_eq!(a.compare(&b), Causality::Concurrent);

        // Same for a clock that never heard of the dead tab.
        let mut c = clock(&[(2, 1)]);
        assert_eq!(
            VClock::forget([&mut a, &mut c], id(1), 5),
            Forget::Kept { differing: 1 }
        );
        assert_eq!(a.compare(&c), Causality::Concurrent);
    }

    #[test]
    fn forgetting_a_stable_dead_tab_keeps_every_comparison() {
        let mut clocks = [
            clock(&[(1, 4), (2, 1)]),
            clock(&[(1, 4), (3, 1)]),
            clock(&[(1, 4), (2, 1), (3, 1)]),
        ];
        let before: Vec<_> = pairs(&clocks);
        assert_eq!(VClock::forget(&mut clocks, id(1), 4), Forget::Forgotten);
        assert!(clocks.iter().all(|c| c.get(id(1)) == 0));
        assert_eq!(pairs(&clocks), before);
    }

    fn pairs(clocks: &[VClock]) -> Vec<Causality> {
        clocks
            .iter()
            .flat_map(|a| clocks.iter().map(|b| a.compare(b)))
            .collect()
    }

    #[test]
    fn debug_shows_short_ids() {
        assert_eq!(
            format!("{:?}", clock(&[(1, 2)])),
            r#"VClock{"01010101": 2}"#
        );
    }
}
