//! The fuzz targets' checks on stable: every seed (`fuzz/seeds/<target>/`) and every input
//! fuzzing found (`fuzz/regressions/<target>/`) goes through the same check its target runs
//! (`support/fuzz/`), so that what a fuzzer once found stays fixed in every `cargo test`.
//! An input that still fails waits in `fuzz/findings/<target>/`, with an ignored test named
//! for it, until the core is fixed (`scripts/fuzz.sh` skips its target meanwhile).
//!
//! The seeds are written by the real encoders (`support/fuzz/seeds.rs`):
//! `cargo test -p conclave-core --test fuzz_regressions -- --ignored write_seeds` writes them
//! afresh, and [`the_seeds_still_pass_the_decoders`] says when they need it.
// It reads the repository's files: on the host only.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/fuzz/mod.rs"]
mod checks;

use std::fs;
use std::path::{Path, PathBuf};

use conclave_core::data::Backup;
use conclave_core::reconcile::parse_backup;
use conclave_core::wire::{Codec, DEFAULT_MAX_MESSAGE_BYTES};

/// `fuzz/<kind>/`, at the root of the repository.
fn fuzz_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
}

/// The files of `fuzz/<kind>/<target>/`, by name (none if it does not exist).
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(fuzz_dir(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("a readable folder").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            (name.into_owned(), fs::read(&path).expect("a readable file"))
        })
        .collect();
    files.sort();
    files
}

/// Runs `target`'s check on `input`, saying which file failed.
fn replay(target: &str, check: checks::Check, kind: &str, name: &str, input: &[u8]) {
    let caught = std::panic::catch_unwind(|| check(input));
    assert!(
        caught.is_ok(),
        "fuzz/{kind}/{target}/{name} fails the `{target}` check"
    );
}

#[test]
fn every_seed_and_every_regression_passes_its_targets_check() {
    for (target, check) in checks::TARGETS {
        for kind in ["seeds", "regressions"] {
            for (name, input) in inputs(kind, target) {
                replay(target, check, kind, &name, &input);
            }
        }
    }
}

#[test]
fn every_folder_of_inputs_names_a_target() {
    for kind in ["seeds", "regressions", "findings"] {
        let Ok(entries) = fs::read_dir(fuzz_dir(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.expect("a readable folder").file_name();
            let name = name.to_string_lossy();
            assert!(
                checks::TARGETS.iter().any(|(target, _)| *target == name),
                "fuzz/{kind}/{name} is not a fuzz target's"
            );
        }
    }
}

/// Seeds that the decoders refuse start fuzzing at their front door: when an encoder changes
/// (a new protocol or backup version), write them afresh.
#[test]
fn the_seeds_still_pass_the_decoders() {
    let stale = "stale: run `cargo test -p conclave-core --test fuzz_regressions -- --ignored \
                 write_seeds`";
    let codec = Codec::new(checks::CHANNEL, DEFAULT_MAX_MESSAGE_BYTES);
    for (name, text) in texts("envelope") {
        assert!(
            codec.decode(&text).is_ok(),
            "fuzz/seeds/envelope/{name} is {stale}"
        );
    }
    for (name, script) in texts("engine") {
        for line in script.lines() {
            if let Some(payload) = line.strip_prefix("s ").or(line.strip_prefix("h ")) {
                let decoded = codec.decode(payload);
                assert!(decoded.is_ok(), "fuzz/seeds/engine/{name} is {stale}");
            }
        }
    }
    for (name, stored) in texts("backup") {
        let (key, text) = stored.split_once('\n').unwrap_or_default();
        let parsed = Backup::parse(checks::CHANNEL, key, text);
        assert!(parsed.is_ok(), "fuzz/seeds/backup/{name} is {stale}");
    }
    for (name, stored) in texts("reconcile") {
        let (key, text) = stored.split_once('\n').unwrap_or_default();
        assert!(
            parse_backup(key, text).is_ok(),
            "fuzz/seeds/reconcile/{name} is {stale}"
        );
    }
}

/// The seeds of `target`, as text.
fn texts(target: &str) -> Vec<(String, String)> {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ is empty");
    seeds
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8(bytes).unwrap_or_default()))
        .collect()
}

/// Replays `fuzz/<kind>/<target>/<name>` through `target`'s check.
fn replay_file(kind: &str, target: &str, name: &str) {
    let (_, check) = checks::TARGETS
        .into_iter()
        .find(|(t, _)| *t == target)
        .expect("a target");
    let input = fs::read(fuzz_dir(kind).join(target).join(name)).expect("a readable input");
    replay(target, check, kind, name, &input);
}

/// Found by the `engine` target: a follower that heard its leader commit a revision its store
/// does not hold (one skipped, from a tab with the key that lies) read the store again as soon
/// as each read ended, for ever: the commit heard ahead stayed early, and each load that
/// brought nothing newer asked for another read. A commit heard before a read was asked for
/// and that the read cannot place is now dropped.
#[test]
fn a_follower_told_of_a_revision_its_store_lacks_stops_reading_it() {
    replay_file(
        "regressions",
        "engine",
        "follower-told-of-a-revision-its-store-lacks",
    );
}

/// Found by the `import` target: a record longer than the limit that was also not UTF-8, not
/// JSON, or cut short by the end of the file failed its import for either reason, depending on
/// where the chunks were cut (a record carried across chunks was refused for its length before
/// its end was read; a whole one for what was wrong inside it). Its length is now judged
/// first, wherever the chunks are cut.
#[test]
fn a_record_too_long_fails_its_import_as_too_long_wherever_the_file_is_cut() {
    for name in [
        "long-line-not-utf8",
        "long-record-not-json",
        "long-record-cut-short",
    ] {
        replay_file("regressions", "import", name);
    }
}

/// Writes the seed corpus afresh (see the module's docs).
#[test]
#[ignore = "writes fuzz/seeds/; run it when the encoders change"]
fn write_seeds() {
    for (target, seeds) in checks::seeds::all() {
        let dir = fuzz_dir("seeds").join(target);
        if dir.exists() {
            fs::remove_dir_all(&dir).expect("the old seeds removed");
        }
        fs::create_dir_all(&dir).expect("the seeds' folder made");
        for (name, bytes) in seeds {
            fs::write(dir.join(name), bytes).expect("a seed written");
        }
    }
}
