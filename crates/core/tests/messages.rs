//! The app's own messages: broadcast once, delivered once, refused with a reason when they
//! cannot be sent.

mod support;

use conclave_core::{Config, Engine, Event, Key, Lifecycle, Millis, Received, SendError, TabId};

fn tab(n: u8) -> Engine {
    Engine::new(
        Config::default(),
        TabId::from_bytes([n; 16]),
        Millis(0),
        true,
        Some(Key::from_bytes([5; 32])),
    )
}

fn texts(engine: &mut Engine) -> Vec<String> {
    support::posts(engine)
}

fn messages(engine: &mut Engine) -> Vec<(TabId, String)> {
    support::events(engine)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { from, data } => Some((from, data)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_broadcast_reaches_the_other_tab_once_and_in_order() {
    let (mut a, mut b) = (tab(1), tab(2));
    let _ = texts(&mut a);
    for line in ["first", "second \"quoted\"", "third ✓"] {
        a.handle_broadcast(Millis(10), line).expect("sent");
    }
    let sent = texts(&mut a);
    assert_eq!(sent.len(), 3);
    for text in sent.iter().chain(sent.iter()) {
        b.handle_message(Millis(11), Received::Text(text));
    }
    let got: Vec<String> = messages(&mut b).into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        got,
        ["first", "second \"quoted\"", "third ✓"],
        "each once, in order"
    );
    assert_eq!(
        b.counters().duplicate,
        3,
        "the replays were dropped as duplicates"
    );
}

#[test]
fn a_broadcast_is_refused_when_too_large_or_away() {
    let mut a = tab(1);
    let _ = texts(&mut a);
    let max = Config::default().max_message_bytes;
    let err = a.handle_broadcast(Millis(1), &"x".repeat(max));
    assert!(
        matches!(err, Err(SendError::TooLarge { max: m, .. }) if m == max),
        "{err:?}"
    );
    // Escaping makes a short text long: 20,000 quotes encode to 40,000 bytes and fit.
    assert_eq!(a.handle_broadcast(Millis(1), &"\"".repeat(20_000)), Ok(()));
    assert!(a.handle_broadcast(Millis(1), &"\"".repeat(40_000)).is_err());
    a.handle_lifecycle(Millis(2), Lifecycle::Frozen);
    assert_eq!(a.handle_broadcast(Millis(3), "hi"), Err(SendError::Away));
}
