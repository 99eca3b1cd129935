//! Thousands of seeded multi-tab histories with faults, invariants checked after every step.
//!
//! `CONCLAVE_SIM_SEEDS=N` runs N seeds (default 10,000); `CONCLAVE_SIM_SEED=S` replays one seed
//! and prints its trace. Run in release: `cargo test -p conclave-core --release --test simulation
//! -- --nocapture` prints the figures.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use std::time::Instant;

use sim::{percentiles, Sim};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

#[test]
fn every_seed_keeps_every_invariant() {
    if let Some(seed) = env_u64("CONCLAVE_SIM_SEED") {
        let mut sim = Sim::new(seed);
        sim.trace = Some(Vec::new());
        println!("seed {seed}: {:?}", sim.profile());
        let (result, trace) = sim.run_traced();
        for line in trace {
            println!("{line}");
        }
        println!("{result:?}");
        assert!(result.is_ok(), "seed {seed} violated an invariant");
        return;
    }
    let seeds = env_u64("CONCLAVE_SIM_SEEDS").unwrap_or(10_000);
    // Allowed here: the wall clock times the test itself, never the protocol.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let (mut goodbye, mut silent) = (Vec::new(), Vec::new());
    let mut deliveries = 0;
    let mut failures = Vec::new();
    for seed in 0..seeds {
        match Sim::new(seed).run() {
            Ok(outcome) => {
                goodbye.extend(outcome.goodbye_ms);
                silent.extend(outcome.silent_ms);
                deliveries += outcome.deliveries;
            }
            Err(violation) => failures.push(violation),
        }
    }
    let (g50, g99, gmax) = percentiles(&mut goodbye);
    let (s50, s99, smax) = percentiles(&mut silent);
    println!(
        "{seeds} seeds in {:.1} s, {deliveries} deliveries, {} violations",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    println!("goodbye -> gone from every list: p50 {g50} ms, p99 {g99} ms, max {gmax} ms ({} departures, virtual time)", goodbye.len());
    println!("silent death -> gone from every list: p50 {s50} ms, p99 {s99} ms, max {smax} ms ({} departures, virtual time)", silent.len());
    for v in failures.iter().take(8) {
        println!("seed {} at {} ms: {} (replay: CONCLAVE_SIM_SEED={} cargo test -p conclave-core --release --test simulation -- --nocapture)", v.seed, v.at_ms, v.what, v.seed);
    }
    assert!(
        failures.is_empty(),
        "{} of {seeds} seeds violated an invariant",
        failures.len()
    );
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for seed in [0, 1, 7, 4242, 99_999] {
        let a = Sim::new(seed).run().map(|o| o.trace_hash).ok();
        let b = Sim::new(seed).run().map(|o| o.trace_hash).ok();
        assert!(a.is_some(), "seed {seed} fails");
        assert_eq!(a, b, "seed {seed} is not deterministic");
    }
    let hashes: std::collections::BTreeSet<_> = (0..20)
        .filter_map(|seed| Sim::new(seed).run().ok().map(|o| o.trace_hash))
        .collect();
    assert!(
        hashes.len() > 15,
        "different seeds give different histories"
    );
}
