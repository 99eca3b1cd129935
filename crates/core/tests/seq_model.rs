//! The sequence window against an unbounded reference model, on arbitrary input.
//!
//! The model remembers every sequence number ever delivered (unbounded memory); the window
//! remembers 64. They must agree on everything the window can know, and the window must never
//! deliver what the model already delivered.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeSet;

use conclave_core::seq::{Class, Window, WINDOW};
use conclave_core::{Incarnation, Millis, Seq, MAX_SAFE_INTEGER};
use proptest::prelude::*;

/// Every number ever delivered, the highest one, and the first (listening started there).
struct Model {
    delivered: BTreeSet<u64>,
    highest: u64,
    first: u64,
}

impl Model {
    fn new(first: u64) -> Self {
        Self {
            delivered: BTreeSet::from([first]),
            highest: first,
            first,
        }
    }
}

/// Sequence numbers that stress the window: small steps, replays, reorders and huge jumps.
fn seq_stream() -> impl Strategy<Value = Vec<u64>> {
    let step = prop_oneof![
        6 => (1u64..=3).prop_map(|d| d as i64),
        3 => -70i64..=0,
        1 => 60i64..=200,
        1 => Just(i64::MAX),
    ];
    (1u64..1_000, prop::collection::vec(step, 1..200)).prop_map(|(start, steps)| {
        let mut seq = start;
        let mut out = vec![start];
        for step in steps {
            seq = if step == i64::MAX {
                MAX_SAFE_INTEGER - 10
            } else {
                seq.saturating_add_signed(step).clamp(1, MAX_SAFE_INTEGER)
            };
            out.push(seq);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn the_window_agrees_with_an_unbounded_model(seqs in seq_stream()) {
        let inc = Incarnation(0);
        let mut window = Window::open(inc, Seq(seqs[0]), Millis(0));
        let mut model = Model::new(seqs[0]);
        for (t, &seq) in seqs.iter().enumerate().skip(1) {
            let class = window.observe(inc, Seq(seq), Millis(t as u64)).expect("same incarnation");
            let seen = model.delivered.contains(&seq);
            // Never deliver one message twice.
            prop_assert!(!(seen && class.is_delivered()), "{seq} delivered twice ({class:?})");
            let expected = if seq > model.highest {
                let missing = seq - model.highest - 1;
                if missing == 0 { Class::Next } else { Class::Gap { missing } }
            } else if model.highest - seq >= WINDOW || seq < model.first {
                Class::Old
            } else if seen {
                Class::Duplicate
            } else {
                Class::Late
            };
            prop_assert_eq!(class, expected, "seq {} after highest {}", seq, model.highest);
            if class.is_delivered() {
                model.delivered.insert(seq);
                model.highest = model.highest.max(seq);
            }
            prop_assert_eq!(window.highest(), Seq(model.highest));
        }
    }
}
