//! The laws of vector clocks, checked on 10,000 random cases each.
//!
//! Ids come from a space of six tabs so that clocks share entries, collide, and come out equal,
//! ordered and concurrent in useful proportions. Comparison is checked against the pointwise
//! definition, merge against the lattice laws, forgetting against every pairwise comparison,
//! and the whole against happened-before on random message-passing executions.
#![cfg(not(target_arch = "wasm32"))]

use std::hash::{DefaultHasher, Hash, Hasher};

use conclave_core::vclock::Forget;
use conclave_core::{Causality, TabId, VClock, MAX_SAFE_INTEGER};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// How many tabs the ids are drawn from.
const TABS: u8 = 6;

fn id(k: u8) -> TabId {
    TabId::from_bytes([k; 16])
}

/// Raw entries: small counters (zeros included) over a few tabs, repeats allowed.
fn entries() -> impl Strategy<Value = Vec<(u8, u64)>> {
    prop::collection::vec((0..TABS, 0u64..4), 0..7)
}

fn build(entries: &[(u8, u64)]) -> VClock {
    entries.iter().map(|&(k, v)| (id(k), v)).collect()
}

fn clock() -> impl Strategy<Value = VClock> {
    entries().prop_map(|e| build(&e))
}

/// The definition, computed independently of `VClock::compare`.
fn pointwise(a: &VClock, b: &VClock) -> Causality {
    let le = (0..TABS).all(|k| a.get(id(k)) <= b.get(id(k)));
    let ge = (0..TABS).all(|k| a.get(id(k)) >= b.get(id(k)));
    match (le, ge) {
        (true, true) => Causality::Equal,
        (true, false) => Causality::Before,
        (false, true) => Causality::After,
        (false, false) => Causality::Concurrent,
    }
}

fn le(a: &VClock, b: &VClock) -> bool {
    a.is_covered_by(b)
}

fn hash_of(c: &VClock) -> u64 {
    let mut h = DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

fn pairwise(clocks: &[VClock]) -> Vec<Causality> {
    clocks
        .iter()
        .flat_map(|a| clocks.iter().map(|b| a.compare(b)))
        .collect()
}

/// One step of a message-passing execution.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A local event: tick.
    Local,
    /// A send: tick, and attach the clock to a message.
    Send,
    /// A receive of one of the messages sent so far (picked modulo their number): merge, then
    /// tick. With nothing sent yet, a local event.
    Receive(usize),
}

fn execution() -> impl Strategy<Value = (u8, Vec<(u8, Step)>)> {
    let step = prop_oneof![
        Just(Step::Local),
        Just(Step::Send),
        (0usize..64).prop_map(Step::Receive),
    ];
    (2..=TABS, prop::collection::vec((0..TABS, step), 1..40))
}

/// Runs an execution; returns each event's clock and, independently, the set of events that
/// happened before it (a bit set over event indices: the transitive closure of process order
/// and send-to-receive edges).
fn run(processes: u8, steps: &[(u8, Step)]) -> (Vec<VClock>, Vec<u64>) {
    let mut clocks = vec![VClock::new(); usize::from(processes)];
    let mut last: Vec<Option<usize>> = vec![None; usize::from(processes)];
    let mut sent: Vec<(usize, VClock)> = Vec::new();
    let (mut stamps, mut past) = (Vec::new(), Vec::<u64>::new());
    for (event, &(p, step)) in steps.iter().enumerate() {
        let me = id(p % processes);
        let p = usize::from(p % processes);
        let mut before = last[p].map_or(0, |e| past[e] | 1 << e);
        match step {
            Step::Receive(pick) if !sent.is_empty() => {
                let (from, ref attached) = sent[pick % sent.len()];
                clocks[p].merge(attached);
                before |= past[from] | 1 << from;
            }
            _ => {}
        }
        clocks[p].tick(me);
        if let Step::Send = step {
            sent.push((event, clocks[p].clone()));
        }
        stamps.push(clocks[p].clone());
        past.push(before);
        last[p] = Some(event);
    }
    (stamps, past)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/vclock_laws.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn compare_matches_the_pointwise_definition(a in clock(), b in clock()) {
        prop_assert_eq!(a.compare(&b), pointwise(&a, &b));
        prop_assert_eq!(a.happened_before(&b), pointwise(&a, &b) == Causality::Before);
        prop_assert_eq!(a.is_concurrent_with(&b), pointwise(&a, &b) == Causality::Concurrent);
    }

    #[test]
    fn compare_is_reflexive(a in clock()) {
        prop_assert_eq!(a.compare(&a), Causality::Equal);
        prop_assert_eq!(a.compare(&a.clone()), Causality::Equal);
    }

    #[test]
    fn compare_is_antisymmetric(a in clock(), b in clock()) {
        prop_assert_eq!(b.compare(&a), a.compare(&b).reverse());
        prop_assert_eq!(a.compare(&b) == Causality::Equal, a == b);
        prop_assert_eq!(a.partial_cmp(&b), a.compare(&b).to_ordering());
        if le(&a, &b) && le(&b, &a) {
            prop_assert_eq!(&a, &b);
        }
    }

    #[test]
    fn before_is_transitive(a in clock(), b in clock(), c in clock()) {
        // Random triples are rarely chained, so also check the chain a ≤ a⊔b ≤ a⊔b⊔c.
        let ab = a.merged(&b);
        let abc = ab.merged(&c);
        prop_assert!(le(&a, &ab) && le(&ab, &abc) && le(&a, &abc));
        for (x, y, z) in [(&a, &b, &c), (&a, &ab, &abc), (&b, &ab, &abc)] {
            if x.happened_before(y) && y.happened_before(z) {
                prop_assert!(x.happened_before(z));
            }
            if le(x, y) && le(y, z) {
                prop_assert!(le(x, z));
            }
        }
    }

    #[test]
    fn merge_is_commutative_associative_and_idempotent(a in clock(), b in clock(), c in clock()) {
        prop_assert_eq!(a.merged(&b), b.merged(&a));
        prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
        prop_assert_eq!(a.merged(&a), a.clone());
        let mut in_place = a.clone();
        in_place.merge(&b);
        prop_assert_eq!(in_place, a.merged(&b));
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in clock(), b in clock(), c in clock()) {
        let join = a.merged(&b);
        prop_assert!(le(&a, &join) && le(&b, &join));
        for k in 0..TABS {
            prop_assert_eq!(join.get(id(k)), a.get(id(k)).max(b.get(id(k))));
        }
        // Every upper bound of a and b is at or after the join: a random c, and one made to be.
        for upper in [c.clone(), c.merged(&a).merged(&b)] {
            if le(&a, &upper) && le(&b, &upper) {
                prop_assert!(le(&join, &upper));
            }
        }
    }

    #[test]
    fn zero_entries_are_the_same_as_missing_ones(raw in entries()) {
        let built = build(&raw);
        let nonzero: Vec<_> = raw.iter().copied().filter(|&(_, v)| v != 0).collect();
        let without = build(&nonzero);
        prop_assert_eq!(&built, &without);
        prop_assert_eq!(hash_of(&built), hash_of(&without));
        prop_assert!(built.iter().all(|(_, v)| v != 0));
        prop_assert_eq!(built.len(), built.iter().count());

        // Explicit zeros in the JSON form decode to the same clock as well.
        let mut fields: Vec<String> =
            built.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        for k in (0..TABS).filter(|&k| built.get(id(k)) == 0) {
            fields.push(format!("\"{}\":0", id(k)));
        }
        let text = format!("{{{}}}", fields.join(","));
        let decoded: VClock = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&decoded, &without);
        prop_assert_eq!(hash_of(&decoded), hash_of(&without));
    }

    #[test]
    fn serde_round_trips_every_safe_clock(
        raw in prop::collection::vec((0..TABS, 0..=MAX_SAFE_INTEGER), 0..7),
    ) {
        let original = build(&raw);
        let text = serde_json::to_string(&original).unwrap();
        prop_assert!(!text.contains(":0,") && !text.contains(":0}"), "{}", text);
        let back: VClock = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, original);
    }

    #[test]
    fn forgetting_a_dead_tab_keeps_every_pairwise_comparison(
        raws in prop::collection::vec(entries(), 1..5),
        dead in 0..TABS,
        final_value in 0u64..4,
        stable in any::<bool>(),
    ) {
        // Half the time, make every clock carry exactly the final value (the stable case).
        let mut clocks: Vec<VClock> = raws
            .iter()
            .map(|raw| {
                let mut entries: Vec<_> = raw.clone();
                if stable {
                    entries.retain(|&(k, _)| k != dead);
                    entries.push((dead, final_value));
                }
                build(&entries)
            })
            .collect();
        let original = clocks.clone();
        let before = pairwise(&clocks);
        let differing = clocks.iter().filter(|c| c.get(id(dead)) != final_value).count();

        let outcome = VClock::forget(&mut clocks, id(dead), final_value);

        prop_assert_eq!(pairwise(&clocks), before);
        if differing == 0 {
            prop_assert_eq!(outcome, Forget::Forgotten);
            prop_assert!(clocks.iter().all(|c| c.get(id(dead)) == 0));
        } else {
            prop_assert_eq!(outcome, Forget::Kept { differing });
            prop_assert_eq!(&clocks, &original);
        }
    }

    #[test]
    fn clocks_are_ordered_exactly_when_events_happened_before((processes, steps) in execution()) {
        let (stamps, past) = run(processes, &steps);
        for (i, a) in stamps.iter().enumerate() {
            for (j, b) in stamps.iter().enumerate() {
                let expected = if i == j {
                    Causality::Equal
                } else if past[j] & (1 << i) != 0 {
                    Causality::Before
                } else if past[i] & (1 << j) != 0 {
                    Causality::After
                } else {
                    Causality::Concurrent
                };
                prop_assert_eq!(a.compare(b), expected, "events {} and {}", i, j);
            }
        }
    }
}
