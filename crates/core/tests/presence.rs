//! Presence scenarios through the public API: tabs on one in-memory broadcast channel.

mod support;

use conclave_core::{Config, Event, LeaveReason, Lifecycle, Millis, Received, Rejection};

use support::tabs::Tabs;

#[test]
fn ten_tabs_opened_in_one_millisecond_list_each_other() {
    let tabs = Tabs::open(10);
    for i in 0..10 {
        let peers = tabs.peer_ids(i);
        assert_eq!(peers.len(), 9, "tab {i}");
        assert!(!peers.contains(&tabs.tabs[i].id()));
    }
}

#[test]
fn goodbye_removes_a_tab_at_once() {
    let mut tabs = Tabs::open(3);
    let leaving = tabs.tabs[2].id();
    tabs.tabs[2].handle_lifecycle(tabs.now, Lifecycle::Closing);
    tabs.flush();
    assert_eq!(tabs.peer_ids(0).len(), 1);
    assert!(tabs.events[0].contains(&Event::PeerLeft {
        id: leaving,
        reason: LeaveReason::Goodbye
    }));
    // A closed tab sends nothing more and arms no timer.
    assert_eq!(tabs.tabs[2].poll_timeout(), None);
}

#[test]
fn messages_sent_before_a_goodbye_and_heard_after_it_do_not_bring_the_tab_back() {
    let mut tabs = Tabs::open(2);
    let leaving = tabs.tabs[1].id();
    // Its last heartbeat and a last message, overtaken on the way by its goodbye.
    tabs.tabs[1].handle_timeout(Millis(1_000));
    let heartbeat = support::post(&mut tabs.tabs[1]);
    let _ = tabs.tabs[1].handle_broadcast(Millis(1_000), "last words");
    let words = support::post(&mut tabs.tabs[1]);
    tabs.tabs[1].handle_lifecycle(Millis(1_000), Lifecycle::Closing);
    let bye = support::post(&mut tabs.tabs[1]);
    assert_eq!(support::posts(&mut tabs.tabs[1]), Vec::<String>::new());
    for text in [&bye, &heartbeat, &words, &words] {
        tabs.tabs[0].handle_message(Millis(1_010), Received::Text(text));
    }
    assert!(
        tabs.peer_ids(0).is_empty(),
        "listed again after its goodbye"
    );
    let heard = support::events(&mut tabs.tabs[0]);
    assert!(!heard.contains(&Event::PeerJoined(leaving)));
    let messages: Vec<&Event> = heard
        .iter()
        .filter(|e| matches!(e, Event::Message { .. }))
        .collect();
    assert_eq!(
        messages,
        [&Event::Message {
            from: leaving,
            data: "last words".to_owned()
        }],
        "its last message is delivered, once"
    );
    assert_eq!(tabs.tabs[0].counters().duplicate, 1);
    // Nothing of it lingers: no timer is owed to it.
    tabs.run_until(100_000);
    assert!(tabs.peer_ids(0).is_empty());
}

#[test]
fn a_silent_tab_leaves_within_its_time_to_live() {
    let mut tabs = Tabs::open(3);
    tabs.run_until(10_000);
    assert_eq!(
        tabs.peer_ids(0).len(),
        2,
        "heartbeats keep live tabs listed"
    );
    let crashed = tabs.tabs[2].id();
    let last_heard = tabs.tabs[0]
        .peers()
        .find(|p| p.id == crashed)
        .map(|p| p.last_heard);
    tabs.blocked[2] = true;
    let bound = Config::default().visible_ttl_ms;
    tabs.run_until(10_000 + bound - 1_001);
    assert_eq!(tabs.peer_ids(0).len(), 2, "not dropped before the bound");
    tabs.run_until(10_000 + bound);
    assert_eq!(tabs.peer_ids(0).len(), 1, "dropped by the bound");
    assert!(tabs.events[0].contains(&Event::PeerLeft {
        id: crashed,
        reason: LeaveReason::Silent
    }));
    assert!(last_heard.is_some_and(|t| t.0 >= 9_000));
}

#[test]
fn hidden_tabs_with_throttled_timers_stay_listed() {
    let mut tabs = Tabs::open(2);
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Hidden);
    tabs.flush();
    // Model Chrome's intensive throttling: the hidden tab's timer fires once a minute.
    tabs.blocked[1] = true;
    for minute in 1..=5 {
        tabs.run_until(minute * 60_000);
        tabs.blocked[1] = false;
        tabs.tabs[1].handle_timeout(tabs.now);
        tabs.flush();
        tabs.blocked[1] = true;
        assert_eq!(tabs.peer_ids(0).len(), 1, "minute {minute}");
    }
    assert!(!tabs.tabs[0].peers().any(|p| p.visible));
}

#[test]
fn a_restored_tab_comes_back_with_a_new_incarnation() {
    let mut tabs = Tabs::open(2);
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Closing);
    tabs.flush();
    assert!(tabs.peer_ids(0).is_empty());
    tabs.run_until(30_000);
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Restored);
    tabs.flush();
    let back = tabs.tabs[0].peers().next();
    assert_eq!(back.map(|p| p.incarnation.0), Some(1));
    assert_eq!(
        tabs.tabs[1].peers().count(),
        1,
        "it relearns its peers at once"
    );
}

#[test]
fn messages_from_an_earlier_incarnation_are_rejected() {
    let mut tabs = Tabs::open(2);
    // Capture a message of incarnation 0, then let the tab come back as incarnation 1.
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Hidden);
    let stale = support::post(&mut tabs.tabs[1]);
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Frozen);
    tabs.tabs[1].handle_lifecycle(tabs.now, Lifecycle::Resumed);
    tabs.flush();
    tabs.tabs[0].handle_message(tabs.now, Received::Text(&stale));
    let counters = tabs.tabs[0].counters();
    assert_eq!(counters.rejected(Rejection::StaleIncarnation), 1);
}

#[test]
fn replayed_and_echoed_messages_are_dropped() {
    let mut tabs = Tabs::open(2);
    tabs.tabs[1].handle_timeout(Millis(1_000));
    let heartbeat = support::post(&mut tabs.tabs[1]);
    tabs.tabs[0].handle_message(Millis(1_000), Received::Text(&heartbeat));
    tabs.tabs[0].handle_message(Millis(1_001), Received::Text(&heartbeat));
    assert_eq!(tabs.tabs[0].counters().duplicate, 1);
    // A tab hearing its own id from someone else counts it, and lists no one new.
    tabs.tabs[1].handle_message(Millis(1_002), Received::Text(&heartbeat));
    assert_eq!(tabs.tabs[1].counters().rejected(Rejection::OwnId), 1);
    assert_eq!(tabs.peer_ids(1).len(), 1);
}

#[test]
fn garbage_is_counted_and_presence_keeps_working() {
    let mut tabs = Tabs::open(2);
    for garbage in ["", "{", "null", "[]", "{\"v\":1e999}", "\u{0}\u{ffff}"] {
        tabs.tabs[0].handle_message(tabs.now, Received::Text(garbage));
    }
    tabs.tabs[0].handle_message(tabs.now, Received::NotText);
    tabs.tabs[0].handle_message(tabs.now, Received::Oversized);
    let counters = tabs.tabs[0].counters();
    assert_eq!(counters.rejected_total(), 8);
    assert_eq!(counters.rejected(Rejection::NotText), 1);
    assert_eq!(counters.rejected(Rejection::Oversized), 1);
    tabs.run_until(20_000);
    assert_eq!(tabs.peer_ids(0).len(), 1);
}
