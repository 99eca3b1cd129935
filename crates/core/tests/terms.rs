//! A lone tab and the term it finds stored: text that is no term, or a term past the highest
//! number, is counted and taken as none; a term at the limit is never passed; and a leader
//! whose inputs stop for longer than the stall bound stops saying it leads (and, when nobody
//! deposed it, goes on writing the store without claiming it again).

use conclave_core::data::{Image, StoreOp, StoreResult};
use conclave_core::{Config, Engine, Key, Millis, Mode, Output, Received, Rejection, TabId, Term};

const ME: TabId = TabId::from_bytes([7; 16]);

/// A lone lease-mode tab that finds `stored` in the term item whenever it reads it, run until
/// it leads (its terms are made durable at once) or 10 s pass; and the time of its last input.
fn lone_at(stored: Option<&str>) -> (Engine, Millis) {
    let config = Config {
        mode: Mode::Lease,
        ..Config::default()
    };
    let mut engine = Engine::new(config, ME, Millis(0), true, Some(Key::from_bytes([1; 32])));
    let mut now = Millis(0);
    while !engine.is_leader() && now < Millis(10_000) {
        serve(&mut engine, now, stored);
        if engine.is_leader() {
            break;
        }
        now = engine.poll_timeout().unwrap_or(now).max(now);
        engine.handle_timeout(now);
    }
    (engine, now)
}

fn lone(stored: Option<&str>) -> Engine {
    lone_at(stored).0
}

#[test]
fn a_corrupt_stored_term_is_counted_and_taken_as_none() {
    let other = TabId::from_bytes([9; 16]);
    for stored in [
        "garbage".to_owned(),
        String::new(),
        "7".to_owned(),
        format!("{}:{other}", (1u64 << 53) - 1),
        format!("{}:{other}", u64::MAX),
        format!("18446744073709551616:{other}"),
        format!("{}:{other}", Term::MAX_NUMBER + 1),
        format!("5:{other}:{other}"),
    ] {
        let engine = lone(Some(&stored));
        assert!(engine.is_leader(), "{stored:?}: the tab leads");
        assert_eq!(
            engine.term(),
            Term::new(1, ME),
            "{stored:?}: minted above nothing"
        );
        assert!(
            engine.counters().corrupt_stored > 0,
            "{stored:?}: counted as corrupt"
        );
    }
}

#[test]
fn a_believable_stored_term_is_minted_past_and_the_limit_never_passed() {
    let other = TabId::from_bytes([9; 16]);
    let engine = lone(Some(&format!("41:{other}")));
    assert_eq!(engine.term(), Term::new(42, ME));
    assert_eq!(engine.counters().corrupt_stored, 0);
    let engine = lone(Some(&format!("{}:{other}", Term::MAX_NUMBER - 1)));
    assert_eq!(engine.term(), Term::new(Term::MAX_NUMBER, ME));
    // At the limit it mints the limit again: never a term the wire cannot carry.
    let at_limit = Term::new(Term::MAX_NUMBER, other);
    assert_eq!(at_limit.next(ME).number(), Term::MAX_NUMBER);
    assert!(lone(Some(&at_limit.stored_text())).term().is_in_range());
}

#[test]
fn a_message_with_a_term_past_the_limit_is_rejected_by_name() {
    let mut engine = lone(None);
    let before = engine.counters().rejected(Rejection::TermOutOfRange);
    let text = format!(
        r#"{{"v":{},"ch":"conclave","from":"{}","inc":0,"seq":1,"at":20000,"term":{},"lead":"{}","msg":"bye"}}"#,
        conclave_core::wire::PROTOCOL_VERSION,
        TabId::from_bytes([9; 16]),
        Term::MAX_NUMBER + 1,
        TabId::from_bytes([9; 16]),
    );
    let sealed = conclave_core::auth::seal(text, Some(&Key::from_bytes([1; 32])));
    engine.handle_message(Millis(20_000), Received::Text(&sealed));
    assert_eq!(
        engine.counters().rejected(Rejection::TermOutOfRange),
        before + 1
    );
    assert_eq!(engine.term(), Term::new(1, ME), "the term is not believed");
}

#[test]
fn a_leader_whose_inputs_stop_past_the_stall_bound_stops_saying_it_leads() {
    let (mut engine, last) = lone_at(None);
    assert!(engine.is_leader());
    let stall = Config::default().stall_ms;
    // Between inputs, within the bound, it leads; past it (its thread blocked, its page
    // frozen) it does not, until an input has it check its term.
    assert!(engine.is_leader_at(last.plus(stall)));
    let resumed = last.plus(stall + 1);
    assert!(!engine.is_leader_at(resumed));
    assert!(
        engine.is_leader(),
        "the protocol's role is unchanged until the next input"
    );
    // Its next input has it read the stored term: nobody deposed it, so it leads again.
    engine.handle_timeout(resumed);
    while let Some(output) = engine.poll_output() {
        if output == Output::ReadTerm {
            engine.handle_stored_term(resumed, None);
        }
    }
    assert!(engine.is_leader_at(resumed));
}

/// Carries out what `engine` asks at `now`: the stored term is `stored`, terms persist at
/// once, a claim of the store finds it empty. Returns how many claims it made.
fn serve(engine: &mut Engine, now: Millis, stored: Option<&str>) -> usize {
    let mut claims = 0;
    while let Some(output) = engine.poll_output() {
        match output {
            Output::ReadTerm => engine.handle_stored_term(now, stored),
            Output::Persist(term) => engine.handle_persisted(now, term),
            Output::Store(StoreOp::Claim { term }) => {
                claims += 1;
                engine.handle_store(
                    now,
                    StoreResult::Claimed {
                        term,
                        result: Ok(Image::default()),
                    },
                );
            }
            _ => {}
        }
    }
    claims
}

#[test]
fn a_leader_that_checks_its_term_after_a_stall_keeps_its_writer() {
    let (mut engine, mut now) = lone_at(None);
    serve(&mut engine, now, None);
    assert!(
        engine.store_status().writing,
        "the new leader claimed the store"
    );
    // Its thread stops for 2 s (past the stall bound), then a timer runs: it checks the stored
    // term (nobody deposed it) and goes on writing, without claiming (and reading) the store
    // again.
    now = now.plus(2_000);
    engine.handle_timeout(now);
    assert_eq!(serve(&mut engine, now, None), 0, "no second claim");
    assert!(engine.is_leader_at(now));
    assert!(engine.store_status().writing);
}
