//! Every way a message is refused, each by its name, through the engine's one door in.

mod support;

use conclave_core::{
    auth, wire, Config, Engine, Key, Millis, Received, Rejection, Start, TabId, Term,
};

const KEY: Key = Key::from_bytes([7; 32]);
const OTHER_KEY: Key = Key::from_bytes([8; 32]);
const SENDER: &str = "01010101010101010101010101010101";
/// The protocol version this build speaks, as JSON.
const V: &str = "6";

fn engine(id: u8, key: Option<Key>) -> Engine {
    Engine::new(
        Config::default(),
        TabId::from_bytes([id; 16]),
        Millis(0),
        true,
        key,
    )
}

/// The first text a tab sends (its greeting), and a heartbeat after it.
fn greeting_and_heartbeat(key: Option<Key>) -> (String, String) {
    let mut tab = engine(1, key);
    let hello = support::post(&mut tab);
    tab.handle_timeout(Millis(1_000));
    let heartbeat = support::post(&mut tab);
    (hello, heartbeat)
}

/// A payload in the wire shape, with `v`, `ch` and `seq` as given (raw JSON), sent at wall
/// clock 0 (when the receivers of these tests start).
fn payload(v: &str, ch: &str, seq: &str) -> String {
    sent_at(v, ch, seq, 0)
}

/// [`payload`], sent at wall clock `at`.
fn sent_at(v: &str, ch: &str, seq: &str, at: u64) -> String {
    let from = SENDER;
    format!(
        r#"{{"v":{v},"ch":{ch},"from":"{from}","inc":0,"seq":{seq},"at":{at},"term":0,"lead":"{zero}","msg":{{"heartbeat":{{"ttl":3000,"visible":true,"acting":false}}}}}}"#,
        zero = "0".repeat(32)
    )
}

fn signed(payload: String) -> String {
    auth::seal(payload, Some(&KEY))
}

/// Feeds `text` to a fresh receiver at `at` and returns what it counted.
fn verdict(receiver_key: Option<Key>, at: u64, text: &str) -> Option<Rejection> {
    let mut receiver = engine(9, receiver_key);
    receiver.handle_message(Millis(at), Received::Text(text));
    let counters = receiver.counters();
    let named: Vec<Rejection> = Rejection::ALL
        .into_iter()
        .filter(|&r| counters.rejected(r) > 0)
        .collect();
    assert!(named.len() <= 1, "{text}: counted under {named:?}");
    assert_eq!(counters.rejected_total(), named.len() as u64);
    named.first().copied()
}

#[test]
fn every_rejection_reason_is_counted_by_name() {
    let (unsigned_hello, unsigned_heartbeat) = greeting_and_heartbeat(None);
    let (signed_hello, _) = greeting_and_heartbeat(Some(KEY));
    let (foreign_hello, _) = greeting_and_heartbeat(Some(OTHER_KEY));
    let tampered = signed_hello.replacen("\"seq\":1", "\"seq\":2", 1);
    assert_ne!(tampered, signed_hello);
    let short_tag = &signed_hello[..signed_hello.len() - 1];
    let long_tag = format!("{signed_hello}0");

    let cases: Vec<(&str, Option<Key>, u64, String, Rejection)> = vec![
        (
            "unsigned after the 5 s window",
            None,
            5_000,
            unsigned_hello.clone(),
            Rejection::Unsigned,
        ),
        (
            "unsigned once the key is held",
            Some(KEY),
            0,
            unsigned_hello.clone(),
            Rejection::Unsigned,
        ),
        (
            "unsigned non-join kind inside the window",
            None,
            10,
            unsigned_heartbeat,
            Rejection::UnsignedKind,
        ),
        (
            "signed with another key",
            Some(KEY),
            0,
            foreign_hello,
            Rejection::BadTag,
        ),
        (
            "a tampered field",
            Some(KEY),
            0,
            tampered,
            Rejection::BadTag,
        ),
        (
            "a tag one digit short",
            Some(KEY),
            0,
            short_tag.to_owned(),
            Rejection::TagLength,
        ),
        (
            "a tag one digit long",
            Some(KEY),
            0,
            long_tag,
            Rejection::TagLength,
        ),
        (
            "signed, but no key yet",
            None,
            10,
            signed_hello.clone(),
            Rejection::NoKey,
        ),
        (
            "another protocol version",
            Some(KEY),
            0,
            signed(payload("1", "\"conclave\"", "1")),
            Rejection::UnknownVersion,
        ),
        (
            "another channel",
            Some(KEY),
            0,
            signed(payload(V, "\"other-app\"", "1")),
            Rejection::OtherChannel,
        ),
        (
            "oversized",
            Some(KEY),
            0,
            "x".repeat(Config::default().max_message_bytes + 1),
            Rejection::Oversized,
        ),
        (
            "malformed JSON",
            Some(KEY),
            0,
            format!("{{\"v\":{V},"),
            Rejection::Malformed,
        ),
        (
            "malformed JSON, signed",
            Some(KEY),
            0,
            signed(format!("{{\"v\":{V},")),
            Rejection::Malformed,
        ),
        (
            "a wrong type",
            Some(KEY),
            0,
            signed(payload(V, "\"conclave\"", "\"1\"")),
            Rejection::WrongType,
        ),
        (
            "NaN",
            Some(KEY),
            0,
            signed(payload(V, "\"conclave\"", "NaN")),
            Rejection::Malformed,
        ),
        (
            "a number beyond 2^53",
            Some(KEY),
            0,
            signed(payload(V, "\"conclave\"", "9007199254740993")),
            Rejection::UnsafeNumber,
        ),
        (
            "a number beyond f64",
            Some(KEY),
            0,
            signed(payload(V, "\"conclave\"", "1e400")),
            Rejection::UnsafeNumber,
        ),
    ];
    for (what, key, at, text, expected) in cases {
        assert_eq!(verdict(key, at, &text), Some(expected), "{what}: {text}");
    }
}

#[test]
fn what_passes_passes() {
    let (unsigned_hello, _) = greeting_and_heartbeat(None);
    let (signed_hello, _) = greeting_and_heartbeat(Some(KEY));
    assert_eq!(
        verdict(None, 4_999, &unsigned_hello),
        None,
        "an unsigned greeting in the window"
    );
    assert_eq!(
        verdict(Some(KEY), 60_000, &signed_hello),
        None,
        "a signed message, any time"
    );
    assert_eq!(
        verdict(
            Some(KEY),
            0,
            &signed(payload(V, "\"conclave\"", "9007199254740991"))
        ),
        None
    );
}

/// A receiver that starts listening at `start` (its clock and the wall clock agree) and hears,
/// at `now`, a heartbeat sent at wall clock `at`; what it counted.
fn freshness(start: u64, now: u64, at: u64) -> Option<Rejection> {
    let mut receiver = Engine::new(
        Config::default(),
        TabId::from_bytes([9; 16]),
        Millis(start),
        true,
        Some(KEY),
    );
    let text = signed(sent_at(V, "\"conclave\"", "1", at));
    receiver.handle_message(Millis(now), Received::Text(&text));
    let counters = receiver.counters();
    Rejection::ALL
        .into_iter()
        .find(|&r| counters.rejected(r) > 0)
}

#[test]
fn a_message_sent_before_the_tab_listened_or_too_long_ago_is_refused_by_name() {
    let slack = Config::default().fresh_slack_ms;
    let max_age = Config::default().max_age_ms;
    // A genuine message replayed to a tab that opened after it was sent.
    assert_eq!(
        freshness(10_000, 10_000, 10_000 - slack - 1),
        Some(Rejection::SentBeforeStart)
    );
    assert_eq!(
        freshness(10_000, 70_000, 5_000),
        Some(Rejection::SentBeforeStart),
        "however long the tab has listened since"
    );
    // Sent as it started (the channel opens a moment before the engine): taken.
    assert_eq!(freshness(10_000, 10_000, 10_000 - slack), None);
    assert_eq!(freshness(10_000, 10_050, 10_040), None);
    // Older than any honest delay, to a tab that was listening when it was sent.
    assert_eq!(
        freshness(0, 100_000, 100_000 - max_age - 1),
        Some(Rejection::TooOld)
    );
    assert_eq!(freshness(0, 100_000, 100_000 - max_age), None);
    // A sender whose clock is ahead (its message seems to come from the future): taken.
    assert_eq!(freshness(0, 1_000, 1_500), None);
}

#[test]
fn a_replayed_message_is_dropped_as_a_duplicate() {
    let (signed_hello, _) = greeting_and_heartbeat(Some(KEY));
    let mut receiver = engine(9, Some(KEY));
    receiver.handle_message(Millis(0), Received::Text(&signed_hello));
    receiver.handle_message(Millis(5), Received::Text(&signed_hello));
    assert_eq!(receiver.counters().duplicate, 1);
    assert_eq!(receiver.peers().count(), 1);
}

#[test]
fn the_key_closes_the_window_early_and_the_tab_greets_again_signed() {
    let mut tab = engine(3, None);
    assert!(tab.bootstrap_open(Millis(0)));
    assert!(!tab.bootstrap_open(Millis(5_000)));
    let unsigned = support::post(&mut tab);
    assert!(unsigned.ends_with('}'));
    tab.handle_key(Millis(100), KEY);
    assert!(!tab.bootstrap_open(Millis(100)));
    let resent = support::post(&mut tab);
    assert!(
        resent.contains("\"hello\"") && !resent.ends_with('}'),
        "{resent}"
    );
    assert_eq!(verdict(Some(KEY), 0, &resent), None);
}

#[test]
fn the_tests_speak_the_current_version() {
    assert_eq!(V, wire::PROTOCOL_VERSION.to_string());
}

/// A signed heartbeat from [`SENDER`] carrying term `number` led by `lead`.
fn with_term(number: u64, lead: &str) -> String {
    let text = payload(V, "\"conclave\"", "1").replacen(
        &format!("\"term\":0,\"lead\":\"{}\"", "0".repeat(32)),
        &format!("\"term\":{number},\"lead\":\"{lead}\""),
        1,
    );
    signed(text)
}

#[test]
fn a_deposed_leaders_actions_are_fenced_and_it_is_told() {
    let known = Term::new(5, TabId::from_bytes([3; 16]));
    let receiver = || {
        let mut tab = Engine::start(
            Config::default(),
            Start {
                id: TabId::from_bytes([9; 16]),
                now: Millis(0),
                visible: true,
                key: Some(KEY),
                term: known,
                wall: 0,
            },
        );
        let _ = support::drain(&mut tab);
        tab
    };
    // The sender claims to lead term 4: deposed, it has not heard of term 5. Its heartbeat is
    // heard (it is alive) but answered with the current term...
    let mut tab = receiver();
    tab.handle_message(Millis(10), Received::Text(&with_term(4, SENDER)));
    assert_eq!(tab.counters().rejected_total(), 0);
    assert_eq!(tab.peers().count(), 1);
    let answer = support::post(&mut tab);
    assert!(
        answer.contains("\"alive\"") && answer.contains("\"term\":5"),
        "{answer}"
    );
    // ...while its actions (app messages) are rejected.
    let with_body = |body: &str| {
        resign_signed(&with_term(4, SENDER).replacen(
            r#"{"heartbeat":{"ttl":3000,"visible":true,"acting":false}}"#,
            body,
            1,
        ))
    };
    let mut tab = receiver();
    let text = with_body(r#"{"app":"do the leader's work"}"#);
    tab.handle_message(Millis(10), Received::Text(&text));
    assert_eq!(tab.counters().rejected(Rejection::StaleTerm), 1, "{text}");
    // Its resignation hands nothing on at term 5; it is heard as the goodbye it also is, and a
    // tab that is leaving is not told of the new term.
    let mut tab = receiver();
    tab.handle_message(Millis(10), Received::Text(&with_term(4, SENDER)));
    let _ = support::drain(&mut tab);
    let resignation =
        with_body(r#"{"resign":{"successor":null}}"#).replacen("\"seq\":1,", "\"seq\":2,", 1);
    tab.handle_message(Millis(20), Received::Text(&resign_signed(&resignation)));
    assert_eq!(tab.counters().rejected_total(), 0);
    assert_eq!(tab.peers().count(), 0, "it left");
    assert_eq!(support::posts(&mut tab), Vec::<String>::new());
    assert_eq!(tab.term(), known);
    // A follower still at term 4 (led by another tab) is merely behind: delivered.
    let mut tab = receiver();
    tab.handle_message(Millis(10), Received::Text(&with_term(4, &"0c".repeat(16))));
    assert_eq!(tab.counters().rejected_total(), 0);
    assert_eq!(tab.peers().count(), 1);
    // A higher term is adopted.
    let mut tab = receiver();
    tab.handle_message(Millis(10), Received::Text(&with_term(6, SENDER)));
    assert_eq!(tab.term(), Term::new(6, TabId::from_bytes([1; 16])));
    assert_eq!(tab.leader(), Some(TabId::from_bytes([1; 16])));
}

/// Re-signs a signed text whose payload was edited.
fn resign_signed(text: &str) -> String {
    let payload = text.rsplit_once('#').map_or(text, |(p, _)| p);
    signed(payload.to_owned())
}
