//! Reconciliation of emergency backups through the public API: scenarios first, then the
//! properties SPEC 2.5 promises — no acknowledged write is lost, reconciling twice changes
//! nothing, and neither the order nor the grouping of the backups changes the result — each on
//! 10,000 random stores and backup sets, some of them corrupted.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::reconcile::{
    parse_backup, reconcile, Backup, BackupRejection, Message, MessageCollision, Op, RawBackup,
    Skipped, Store, TitleConflict, MAX_BACKUP_BYTES,
};
use conclave_core::{Causality, TabId, VClock};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

fn id(n: u8) -> TabId {
    TabId::from_bytes([n; 16])
}

fn clock(entries: &[(u8, u64)]) -> VClock {
    entries.iter().map(|&(n, v)| (id(n), v)).collect()
}

fn message(author: u8, n: u32) -> Message {
    Message {
        id: format!("m{author}-{n}"),
        author: id(author),
        text: format!("message {n} of tab {author}"),
    }
}

fn add(session: &str, message: Message) -> Op {
    Op::AddMessage {
        session: session.into(),
        message,
    }
}

fn rename(session: &str, title: &str, clock: &VClock) -> Op {
    Op::RenameSession {
        session: session.into(),
        title: title.into(),
        clock: clock.clone(),
    }
}

fn raw(tab: u8, clock: &VClock, ops: Vec<Op>) -> RawBackup {
    let backup = Backup {
        tab: id(tab),
        clock: clock.clone(),
        ops,
    };
    RawBackup {
        key: backup.key(),
        text: backup.encode(),
    }
}

/// A store holding session "s" titled "Start" (written by tab 1 at {1: 1}) with one message.
fn store() -> Store {
    let first = clock(&[(1, 1)]);
    let done = reconcile(
        &Store::default(),
        &[raw(
            1,
            &first,
            vec![
                Op::CreateSession {
                    session: "s".into(),
                    title: "Start".into(),
                    clock: first.clone(),
                },
                add("s", message(1, 1)),
            ],
        )],
    );
    assert_eq!(done.store.clock, first);
    done.store
}

#[test]
fn a_newer_backup_is_applied_and_its_key_becomes_deletable() {
    let at = clock(&[(1, 1), (2, 1)]);
    let backup = raw(2, &at, vec![add("s", message(2, 1))]);
    let done = reconcile(&store(), std::slice::from_ref(&backup));
    assert_eq!(done.report.applied, BTreeSet::from([id(2)]));
    assert_eq!(done.report.deletable, BTreeSet::from([backup.key]));
    assert_eq!(done.store.sessions["s"].messages.len(), 2);
    assert_eq!(done.store.clock, at);
}

#[test]
fn a_backup_the_store_already_holds_is_dropped_and_changes_nothing() {
    let before = store();
    let backup = raw(1, &clock(&[(1, 1)]), vec![add("s", message(1, 1))]);
    let done = reconcile(&before, std::slice::from_ref(&backup));
    assert_eq!(done.store, before);
    assert_eq!(done.report.dropped, BTreeSet::from([id(1)]));
    assert_eq!(done.report.deletable, BTreeSet::from([backup.key]));
}

#[test]
fn a_covered_backup_holding_a_missing_message_is_recovered_not_dropped() {
    // The store clock counts tab 1's second event, but its message is not in the store.
    let mut before = store();
    before.clock = clock(&[(1, 2)]);
    let done = reconcile(
        &before,
        &[raw(1, &clock(&[(1, 2)]), vec![add("s", message(1, 2))])],
    );
    assert_eq!(done.report.recovered, BTreeSet::from([id(1)]));
    assert!(done.report.dropped.is_empty());
    assert!(done.store.sessions["s"].messages.contains_key("m1-2"));
}

#[test]
fn concurrent_backups_keep_every_message() {
    let done = reconcile(
        &store(),
        &[
            raw(2, &clock(&[(2, 1)]), vec![add("s", message(2, 1))]),
            raw(3, &clock(&[(1, 1), (3, 2)]), vec![add("s", message(3, 1))]),
        ],
    );
    assert_eq!(done.report.merged, BTreeSet::from([id(2)]));
    assert_eq!(done.report.applied, BTreeSet::from([id(3)]));
    let ids: Vec<_> = done.store.sessions["s"].messages.keys().cloned().collect();
    assert_eq!(ids, ["m1-1", "m2-1", "m3-1"]);
    assert_eq!(done.store.clock, clock(&[(1, 1), (2, 1), (3, 2)]));
}

#[test]
fn concurrent_renames_keep_the_higher_ranked_title_in_any_order_and_report_it() {
    let (two, three) = (clock(&[(1, 1), (2, 1)]), clock(&[(1, 1), (3, 1)]));
    let a = raw(2, &two, vec![rename("s", "Two", &two)]);
    let b = raw(3, &three, vec![rename("s", "Three", &three)]);
    let forward = reconcile(&store(), &[a.clone(), b.clone()]);
    let backward = reconcile(&store(), &[b, a]);
    assert_eq!(forward, backward);
    // Equal clock totals: the larger writer id wins.
    assert_eq!(forward.store.sessions["s"].title, "Three");
    assert_eq!(
        forward.report.conflicts,
        BTreeSet::from([TitleConflict {
            session: "s".into(),
            kept: "Three".into(),
            kept_by: id(3),
            discarded: "Two".into(),
            discarded_by: id(2),
        }])
    );
}

#[test]
fn a_rename_beats_a_concurrent_store_title_and_the_conflict_is_reported() {
    let mut before = store();
    let theirs = clock(&[(1, 2)]);
    let session = before.sessions.get_mut("s").map(|s| {
        s.title = "Mine".into();
        s.title_clock = theirs.clone();
    });
    assert!(session.is_some());
    before.clock = theirs;
    let ours = clock(&[(1, 1), (2, 2)]);
    let done = reconcile(&before, &[raw(2, &ours, vec![rename("s", "Ours", &ours)])]);
    assert_eq!(done.report.merged, BTreeSet::from([id(2)]));
    assert_eq!(done.store.sessions["s"].title, "Ours");
    assert_eq!(done.report.conflicts.len(), 1);
    assert!(done.report.conflicts.iter().all(|c| c.discarded == "Mine"));
}

#[test]
fn a_later_rename_wins_without_a_conflict() {
    let later = clock(&[(1, 1), (2, 1)]);
    let done = reconcile(
        &store(),
        &[raw(2, &later, vec![rename("s", "Later", &later)])],
    );
    assert_eq!(done.store.sessions["s"].title, "Later");
    assert!(done.report.conflicts.is_empty());
    // An earlier rename arriving now does not undo it.
    let early = clock(&[(1, 1)]);
    let again = reconcile(
        &done.store,
        &[raw(3, &early, vec![rename("s", "Zzz early", &early)])],
    );
    assert_eq!(again.store.sessions["s"].title, "Later");
}

#[test]
fn only_the_last_title_write_of_a_backup_counts() {
    let at = clock(&[(1, 1), (2, 1)]);
    let ops = vec![rename("s", "Zebra", &at), rename("s", "Aardvark", &at)];
    let done = reconcile(&store(), &[raw(2, &at, ops)]);
    assert_eq!(done.store.sessions["s"].title, "Aardvark");
    assert!(done.report.conflicts.is_empty());
}

#[test]
fn a_message_for_an_unknown_session_creates_it_untitled() {
    let done = reconcile(
        &store(),
        &[raw(2, &clock(&[(2, 1)]), vec![add("new", message(2, 1))])],
    );
    let session = &done.store.sessions["new"];
    assert_eq!((session.id.as_str(), session.title.as_str()), ("new", ""));
    assert!(session.messages.contains_key("m2-1"));
}

#[test]
fn two_messages_under_one_id_keep_the_larger_and_are_reported() {
    let mut other = message(1, 1);
    other.text = "zzz a different text".into();
    let done = reconcile(
        &store(),
        &[raw(2, &clock(&[(2, 1)]), vec![add("s", other.clone())])],
    );
    assert_eq!(done.store.sessions["s"].messages["m1-1"], other);
    assert_eq!(
        done.report.collisions,
        BTreeSet::from([MessageCollision {
            session: "s".into(),
            id: "m1-1".into(),
        }])
    );
}

#[test]
fn encoding_is_the_documented_shape_and_round_trips() {
    let at = clock(&[(2, 3)]);
    let backup = Backup {
        tab: id(2),
        clock: at.clone(),
        ops: vec![rename("s", "T", &at), add("s", message(2, 1))],
    };
    let text = backup.encode();
    let hex = "02".repeat(16);
    assert!(
        text.starts_with(&format!(
            r#"{{"v":1,"tab":"{hex}","clock":{{"{hex}":3}},"ops":[{{"rename_session":"#
        )),
        "{text}"
    );
    assert_eq!(parse_backup(&backup.key(), &text), Ok(backup));
}

#[test]
fn every_bad_backup_is_skipped_by_name() {
    let good = raw(2, &clock(&[(2, 1)]), vec![add("s", message(2, 1))]);
    let with = |from: &str, to: &str| good.text.replacen(from, to, 1);
    let hex = "02".repeat(16);
    let cases = [
        (
            "theme".to_owned(),
            good.text.clone(),
            BackupRejection::ForeignKey,
        ),
        (
            format!("conclave:backup:{}", "0A".repeat(16)),
            good.text.clone(),
            BackupRejection::ForeignKey,
        ),
        (
            good.key.clone(),
            "x".repeat(MAX_BACKUP_BYTES + 1),
            BackupRejection::Oversized,
        ),
        (
            good.key.clone(),
            "{\"v\":1,".into(),
            BackupRejection::Malformed,
        ),
        (good.key.clone(), "[]".into(), BackupRejection::Malformed),
        (
            good.key.clone(),
            with("\"v\":1", "\"v\":2"),
            BackupRejection::WrongVersion,
        ),
        (
            good.key.clone(),
            with("\"v\":1", "\"v\":1e400"),
            BackupRejection::UnsafeNumber,
        ),
        (
            good.key.clone(),
            with(":1}", ":9007199254740992}"),
            BackupRejection::UnsafeNumber,
        ),
        (
            good.key.clone(),
            with("\"ops\"", "\"extra\":0,\"ops\""),
            BackupRejection::Malformed,
        ),
        (
            good.key.clone(),
            with("add_message", "delete_all"),
            BackupRejection::Malformed,
        ),
        (
            good.key.clone(),
            with(
                &format!("\"tab\":\"{hex}\""),
                &format!("\"tab\":\"{}\"", "03".repeat(16)),
            ),
            BackupRejection::IdMismatch,
        ),
        (
            good.key.clone(),
            raw(
                2,
                &clock(&[(2, 1)]),
                vec![rename("s", "T", &clock(&[(2, 2)]))],
            )
            .text,
            BackupRejection::Inconsistent,
        ),
        (
            good.key.clone(),
            raw(
                2,
                &clock(&[(2, 1)]),
                vec![
                    rename("s", "T", &clock(&[(2, 1)])),
                    rename("s", "U", &VClock::new()),
                ],
            )
            .text,
            BackupRejection::Inconsistent,
        ),
    ];
    let raws: Vec<_> = cases
        .iter()
        .map(|(key, text, _)| RawBackup {
            key: key.clone(),
            text: text.clone(),
        })
        .collect();
    for (raw, (_, _, expected)) in raws.iter().zip(&cases) {
        assert_eq!(
            parse_backup(&raw.key, &raw.text),
            Err(*expected),
            "{}",
            raw.text
        );
    }
    let done = reconcile(&store(), &raws);
    assert_eq!(done.store, store());
    let expected: BTreeSet<_> = cases
        .iter()
        .map(|(key, _, reason)| Skipped {
            key: key.clone(),
            reason: *reason,
        })
        .collect();
    assert_eq!(done.report.skipped, expected);
    assert!(
        done.report.deletable.is_empty(),
        "a skipped key is never deletable"
    );
}

#[test]
fn a_key_with_one_good_and_one_bad_text_is_not_deletable() {
    let good = raw(2, &clock(&[(2, 1)]), vec![add("s", message(2, 1))]);
    let bad = RawBackup {
        key: good.key.clone(),
        text: "garbage".into(),
    };
    let done = reconcile(&store(), &[good, bad]);
    assert!(done.store.sessions["s"].messages.contains_key("m2-1"));
    assert!(done.report.deletable.is_empty());
}

#[test]
fn rejection_names_are_unique() {
    let mut names: Vec<_> = BackupRejection::ALL.iter().map(|r| r.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), BackupRejection::ALL.len());
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Writers are tabs 1 to 4, sessions "s0" to "s2", message ids "m<author>-<0..4>": small spaces,
/// so that backups overlap, renames race, and now and then one id names two different texts.
const WRITERS: std::ops::RangeInclusive<u8> = 1..=4;

fn any_clock() -> impl Strategy<Value = VClock> {
    prop::collection::vec((WRITERS, 0u64..4), 0..5).prop_map(|e| clock(&e))
}

fn any_session() -> impl Strategy<Value = String> {
    (0u8..3).prop_map(|n| format!("s{n}"))
}

fn any_title() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["Plans", "Notes", "Todo", ""]).prop_map(str::to_owned)
}

fn any_message() -> impl Strategy<Value = Message> {
    (WRITERS, 0u8..4, 0u8..8).prop_map(|(author, n, variant)| Message {
        id: format!("m{author}-{n}"),
        author: id(author),
        // Mostly one text per id; sometimes another, to exercise collisions.
        text: format!("text {}", variant / 7),
    })
}

fn any_store() -> impl Strategy<Value = Store> {
    let session = (
        any_session(),
        any_title(),
        any_clock(),
        WRITERS,
        prop::collection::vec(any_message(), 0..4),
    );
    (any_clock(), prop::collection::vec(session, 0..3)).prop_map(|(clock, sessions)| {
        let mut store = Store {
            clock,
            sessions: BTreeMap::new(),
        };
        for (sid, title, title_clock, by, messages) in sessions {
            let session = store
                .sessions
                .entry(sid.clone())
                .or_insert_with(|| conclave_core::reconcile::Session::untitled(sid));
            session.title = title;
            session.title_clock = title_clock;
            session.title_by = id(by);
            for m in messages {
                session.messages.insert(m.id.clone(), m);
            }
        }
        store
    })
}

/// The pointwise minimum: a clock at or before `a`.
fn meet(a: &VClock, b: &VClock) -> VClock {
    a.iter().map(|(k, v)| (k, v.min(b.get(k)))).collect()
}

fn any_backup() -> impl Strategy<Value = Backup> {
    let op = (
        0u8..4,
        any_session(),
        any_title(),
        any_message(),
        any_clock(),
    );
    (WRITERS, any_clock(), prop::collection::vec(op, 0..5)).prop_map(|(tab, clock, ops)| {
        // Op clocks move forward and stay at or before the backup's, as a tab writes them.
        let mut at = VClock::new();
        let ops = ops
            .into_iter()
            .map(|(kind, session, title, message, lower)| {
                at = meet(&clock, &lower).merged(&at);
                match kind {
                    0 => Op::CreateSession {
                        session,
                        title,
                        clock: at.clone(),
                    },
                    1 => Op::RenameSession {
                        session,
                        title,
                        clock: at.clone(),
                    },
                    _ => Op::AddMessage { session, message },
                }
            })
            .collect();
        Backup {
            tab: id(tab),
            clock,
            ops,
        }
    })
}

/// A stored key and text: mostly intact backups, some truncated, some under a foreign key.
fn any_raw() -> impl Strategy<Value = RawBackup> {
    (any_backup(), 0u8..8, any::<prop::sample::Index>()).prop_map(|(backup, damage, cut)| {
        let (key, text) = (backup.key(), backup.encode());
        match damage {
            6 => RawBackup {
                text: text[..cut.index(text.len())].to_owned(),
                key,
            },
            7 => RawBackup {
                key: format!("other-app:{key}"),
                text,
            },
            _ => RawBackup { key, text },
        }
    })
}

fn any_raws() -> impl Strategy<Value = Vec<RawBackup>> {
    prop::collection::vec(any_raw(), 0..6)
}

fn valid(raws: &[RawBackup]) -> Vec<Backup> {
    raws.iter()
        .filter_map(|r| parse_backup(&r.key, &r.text).ok())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/reconcile_props.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_backup_round_trips_through_its_text(backup in any_backup()) {
        prop_assert_eq!(parse_backup(&backup.key(), &backup.encode()), Ok(backup));
    }

    #[test]
    fn no_acknowledged_message_is_lost(store in any_store(), raws in any_raws()) {
        let done = reconcile(&store, &raws);
        let mut written: Vec<(&str, &Message)> = Vec::new();
        for (sid, session) in &store.sessions {
            written.extend(session.messages.values().map(|m| (sid.as_str(), m)));
        }
        let backups = valid(&raws);
        for backup in &backups {
            for op in &backup.ops {
                if let Op::AddMessage { session, message } = op {
                    written.push((session, message));
                }
            }
        }
        for (sid, message) in written {
            let kept = done.store.sessions.get(sid).and_then(|s| s.messages.get(&message.id));
            // Present, and if its id named two texts, the one kept is the larger.
            prop_assert!(kept.is_some_and(|k| k >= message), "{} {:?}", sid, message);
        }
        let mut join = store.clock.clone();
        for backup in &backups {
            join.merge(&backup.clock);
        }
        prop_assert_eq!(&done.store.clock, &join);
    }

    #[test]
    fn reconciling_twice_changes_nothing(store in any_store(), raws in any_raws()) {
        let once = reconcile(&store, &raws);
        let twice = reconcile(&once.store, &raws);
        prop_assert_eq!(&twice.store, &once.store);
        let report = &twice.report;
        prop_assert!(report.applied.is_empty() && report.merged.is_empty());
        prop_assert!(report.recovered.is_empty() && report.conflicts.is_empty());
        let tabs: BTreeSet<TabId> = valid(&raws).iter().map(|b| b.tab).collect();
        prop_assert_eq!(&report.dropped, &tabs);
    }

    #[test]
    fn the_order_of_backups_changes_nothing(
        store in any_store(),
        (raws, shuffled) in any_raws().prop_flat_map(|r| (Just(r.clone()), Just(r).prop_shuffle())),
    ) {
        prop_assert_eq!(reconcile(&store, &raws), reconcile(&store, &shuffled));
    }

    #[test]
    fn reconciling_in_batches_gives_the_same_store(
        store in any_store(),
        first in any_raws(),
        second in any_raws(),
    ) {
        let stepwise = reconcile(&reconcile(&store, &first).store, &second).store;
        let all: Vec<_> = first.iter().chain(&second).cloned().collect();
        prop_assert_eq!(stepwise, reconcile(&store, &all).store);
    }

    #[test]
    fn every_key_is_either_deletable_or_skipped(store in any_store(), raws in any_raws()) {
        let report = reconcile(&store, &raws).report;
        let skipped: BTreeSet<&str> = report.skipped.iter().map(|s| s.key.as_str()).collect();
        for raw in &raws {
            let parsed = parse_backup(&raw.key, &raw.text);
            prop_assert!(parsed.is_ok() || skipped.contains(raw.key.as_str()));
            prop_assert_eq!(
                report.deletable.contains(&raw.key),
                !skipped.contains(raw.key.as_str())
            );
        }
        let verdicts = report.applied.len()
            + report.dropped.len()
            + report.merged.len()
            + report.recovered.len();
        prop_assert!(verdicts >= usize::from(!valid(&raws).is_empty()));
    }

    #[test]
    fn a_rename_never_loses_to_one_it_happened_before(store in any_store(), raws in any_raws()) {
        let done = reconcile(&store, &raws);
        for backup in valid(&raws) {
            for op in &backup.ops {
                let (Op::CreateSession { session, clock, .. }
                | Op::RenameSession { session, clock, .. }) = op
                else {
                    continue;
                };
                let kept = &done.store.sessions[session];
                prop_assert_ne!(
                    kept.title_clock.compare(clock),
                    Causality::Before,
                    "{} kept a title older than a write to it",
                    session
                );
            }
        }
    }
}
