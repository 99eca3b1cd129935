//! Web Locks hand-off scenarios through the public API: two or three tabs, one in-memory
//! channel and the heir's channel, one virtual clock, and the lock manager played by hand, step
//! by step.
//!
//! The rules under test: the heir (holder of the heir lock, the one tab waiting for the leader
//! lock) leads on a resignation at once, before the leader lock arrives; it declines when it
//! stalled lately or when the stored term is past the resigned one; and a leader that stalled
//! lately hands nothing off. A hand-off goes to the heir alone, which passes it on to every tab.
//! And one theft: a thief that dies before it uses the lock it stole leaves a record that makes
//! the lock's next holder wait for the robbed leader. And the lists: a leader left behind by a
//! later term must be heard at it within a heartbeat, so one whose hand-off nobody heard (its
//! heir closed too) leaves every list then, while a deposed leader that runs says so at once.
//! Then the rehearsal of a take-over: only the waiting heir makes one, it leads at the term the
//! real take-over then leads at, and it leaves the heir's engine as it was. Then the third
//! channel: a follower's requests go on the leader's channel alone. Last, a resignation signed
//! by a tab that does not lead hands nothing off.

mod support;

use conclave_core::{
    Config, Engine, Event, Key, LeaveReason, Lifecycle, LockChange, LockName, LockRequest, Mode,
    Received, Start, TabId, Term,
};

use support::tabs::Tabs;

#[test]
fn the_heir_leads_on_the_resignation_before_the_lock_arrives_and_the_lock_follows() {
    let mut pair = Tabs::leader_and_heir(2);
    let resigned = pair.tabs[0].term();
    let released = pair.close_leader();
    assert!(released.contains(&(LockName::Leader, LockRequest::Release)));
    assert!(!pair.tabs[0].is_leader());

    // The channel was faster than the lock manager: the heir already leads, above the term.
    assert!(pair.tabs[1].is_leader(), "the heir leads by hand-off");
    assert!(pair.tabs[1].term() > resigned);
    assert_eq!(
        pair.stored,
        pair.tabs[1].term(),
        "its term was stored first"
    );

    // The lock follows; only then does it let the next tab be heir.
    let after = pair.grant(1, LockName::Leader);
    assert!(pair.tabs[1].is_leader());
    assert_eq!(after, [(LockName::Heir, LockRequest::Release)]);
}

#[test]
fn losing_the_heir_lock_ends_a_hand_off_before_the_lock_arrives() {
    let mut pair = Tabs::leader_and_heir(2);
    let _ = pair.close_leader();
    assert!(pair.tabs[1].is_leader());
    pair.tabs[1].handle_lock(pair.now, LockName::Heir, LockChange::Lost);
    let requests = pair.drain(1);
    assert!(
        !pair.tabs[1].is_leader(),
        "no longer the heir, no longer leading"
    );
    assert!(
        requests.contains(&(LockName::Leader, LockRequest::Release)),
        "it stops waiting for the leader lock, which is the new heir's: {requests:?}"
    );
}

#[test]
fn an_heir_that_stalled_lately_waits_for_the_lock() {
    let mut pair = Tabs::leader_and_heir(2);
    // The heir's main thread was blocked for 2 s; the leader ran on. The resignation is the
    // heir's first input after the block.
    pair.block(1, 2_000);
    let _ = pair.close_leader();
    assert!(
        !pair.tabs[1].is_leader(),
        "a theft of its heir lock may be on its way: no hand-off"
    );
    let _ = pair.grant(1, LockName::Leader);
    assert!(!pair.tabs[1].is_leader());
    // After a stall a grant is used only once a queued theft notice would have come.
    pair.tick(Config::default().lock_notice_ms);
    assert!(
        pair.tabs[1].is_leader(),
        "the lock, once granted, makes it lead"
    );
}

#[test]
fn a_leader_that_stalled_lately_hands_nothing_off() {
    let mut pair = Tabs::leader_and_heir(2);
    // The leader says it is there, then its thread is blocked for 1.3 s (past the stall bound,
    // short of the heir's probe timing out) while the heir runs on; its first input after is
    // `pagehide`.
    pair.tabs[0].handle_lifecycle(pair.now, Lifecycle::Visible);
    let _ = pair.drain(0);
    pair.block(0, 1_300);
    let (to_all, to_heir) = pair.closing_posts(0);
    assert_eq!(
        to_heir,
        Vec::<String>::new(),
        "a resignation that is no hand-off goes to every tab"
    );
    pair.tabs[1].handle_message(
        pair.now,
        Received::Text(to_all.first().map_or("", String::as_str)),
    );
    let _ = pair.drain(1);
    assert_eq!(pair.tabs[1].peers().count(), 0);
    assert!(
        !pair.tabs[1].is_leader(),
        "its lock may have been stolen meanwhile: no hand-off"
    );
}

#[test]
fn no_hand_off_when_the_stored_term_is_past_the_resigned_one() {
    let mut pair = Tabs::leader_and_heir(2);
    let resigned = pair.tabs[0].term();
    // A thief minted and stored a higher term that neither tab has heard yet.
    let thief = Term::new(resigned.number() + 1, TabId::from_bytes([9; 16]));
    pair.stored = thief;
    let _ = pair.close_leader();
    assert!(!pair.tabs[1].is_leader());
    assert_eq!(
        pair.tabs[1].term(),
        thief,
        "it follows the stored term instead"
    );
}

#[test]
fn a_closing_leaders_resignation_is_its_only_message_and_goes_to_the_heir_alone() {
    let mut pair = Tabs::leader_and_heir(3);
    let leader = pair.tabs[0].id();
    let (to_all, to_heir) = pair.closing_posts(0);
    assert_eq!(to_all, Vec::<String>::new(), "nothing wakes every tab");
    assert_eq!(to_heir.len(), 1, "{to_heir:?}");

    // The heir hears it, forgets the leader, and passes it on to every tab, unchanged and first.
    let _ = pair.take(1);
    pair.tabs[1].handle_message_to_heir(pair.now, Received::Text(&to_heir[0]));
    let said = pair.take(1);
    let events = said.events;
    let goodbye = Event::PeerLeft {
        id: leader,
        reason: LeaveReason::Goodbye,
    };
    assert!(events.contains(&goodbye), "{events:?}");
    assert_eq!(pair.tabs[1].peers().filter(|p| p.id == leader).count(), 0);
    let relayed = said.posts.first().cloned();
    assert_eq!(relayed.as_deref(), Some(to_heir[0].as_str()));
    assert_eq!(pair.tabs[1].counters().relayed, 1);

    // The third tab hears the resignation from the heir, then the heir's new term.
    let _ = pair.take(2);
    pair.tabs[2].handle_message(pair.now, Received::Text(&to_heir[0]));
    let events: Vec<_> = pair.take(2).events;
    assert!(events.contains(&goodbye), "{events:?}");
    for text in said.posts.iter().skip(1) {
        pair.tabs[2].handle_message(pair.now, Received::Text(text));
    }
    let _ = pair.drain(1);
    assert!(pair.tabs[1].is_leader(), "the heir leads by hand-off");
    assert_eq!(pair.tabs[2].term(), pair.tabs[1].term());
    assert_eq!(pair.tabs[2].peers().count(), 1, "only the heir is left");
    assert_eq!(pair.tabs[2].counters().rejected_total(), 0);
}

#[test]
fn a_resignation_passed_on_after_the_new_term_is_heard_as_a_goodbye_and_not_corrected() {
    let mut pair = Tabs::leader_and_heir(3);
    let leader = pair.tabs[0].id();
    let (_, to_heir) = pair.closing_posts(0);
    pair.tabs[1].handle_message_to_heir(
        pair.now,
        Received::Text(to_heir.first().map_or("", String::as_str)),
    );
    let relayed = pair.take(1).posts.into_iter().next().unwrap_or_default();
    // The heir takes over while the third tab is busy: the storage event of its term write
    // reaches that tab before the resignation it passed on.
    pair.blocked[2] = true;
    let _ = pair.drain(1);
    pair.blocked[2] = false;
    assert!(pair.tabs[1].is_leader());
    pair.tabs[2].handle_stored_term(pair.now, Some(&pair.stored.stored_text()));
    assert_eq!(pair.tabs[2].term(), pair.tabs[1].term());
    let _ = pair.take(2);
    let _ = pair.take(2);

    pair.tabs[2].handle_message(pair.now, Received::Text(&relayed));
    let events: Vec<_> = pair.take(2).events;
    assert!(
        events.contains(&Event::PeerLeft {
            id: leader,
            reason: LeaveReason::Goodbye
        }),
        "a resignation below its term is still a goodbye: {events:?}"
    );
    assert_eq!(
        pair.take(2).posts,
        Vec::<String>::new(),
        "a tab that is leaving is not told of the new term"
    );
    assert_eq!(pair.tabs[2].counters().rejected_total(), 0);
    assert_eq!(pair.tabs[2].term(), pair.tabs[1].term());
}

#[test]
fn a_leader_that_still_holds_the_heir_lock_resigns_to_every_tab() {
    let mut pair = Tabs::leader_and_heir(3);
    let _ = pair.close_leader();
    assert!(
        pair.tabs[1].is_leader(),
        "it leads by hand-off, before the leader lock"
    );
    assert!(pair.holds_heir[1], "and it is still the heir");
    let (to_all, to_heir) = pair.closing_posts(1);
    assert_eq!(to_heir, Vec::<String>::new(), "nobody else listens there");
    pair.tabs[2].handle_message(
        pair.now,
        Received::Text(to_all.first().map_or("", String::as_str)),
    );
    assert_eq!(pair.tabs[2].peers().count(), 0, "the third tab heard it");
}

#[test]
fn a_grant_reported_after_the_loss_of_its_request_is_handed_back_unused() {
    let mut pair = Tabs::leader_and_heir(2);
    // After a stall, the heir's queued notices run in no promised order: it lost the heir lock
    // (so it stopped waiting for the leader lock), then hears of a leader lock grant that the
    // lock manager already took back.
    pair.tabs[1].handle_lock(pair.now, LockName::Heir, LockChange::Lost);
    let requests = pair.drain(1);
    assert!(
        requests.contains(&(LockName::Leader, LockRequest::Release)),
        "{requests:?}"
    );
    pair.tabs[1].handle_lock(pair.now, LockName::Leader, LockChange::Lost);
    let _ = pair.drain(1);
    let requests = pair.grant(1, LockName::Leader);
    assert_eq!(requests, [(LockName::Leader, LockRequest::Release)]);
    pair.tick(Config::default().lock_notice_ms + Config::default().steal_grace_ms());
    assert!(
        !pair.tabs[1].is_leader(),
        "a lock it does not hold makes nobody lead"
    );
    assert!(pair.tabs[0].is_leader());
}

#[test]
fn a_new_leader_that_had_the_lock_first_still_passes_the_resignation_on() {
    let mut pair = Tabs::leader_and_heir(3);
    let leader = pair.tabs[0].id();
    let (_, to_heir) = pair.closing_posts(0);
    let resignation = to_heir.first().cloned().unwrap_or_default();
    let _ = pair.drain(0);
    // The lock manager's grant reaches the heir before the resignation does: it leads on the
    // lock, and lets go of the heir lock.
    let after = pair.grant(1, LockName::Leader);
    assert!(pair.tabs[1].is_leader());
    assert!(after.contains(&(LockName::Heir, LockRequest::Release)));
    // A leader still listens on the heir's channel; the resignation, below its new term,
    // hands nothing on, but it is passed on to every tab, whose lists it clears.
    let term = pair.tabs[1].term();
    pair.tabs[1].handle_message_to_heir(pair.now, Received::Text(&resignation));
    assert_eq!(pair.tabs[1].counters().relayed, 1);
    assert_eq!(pair.tabs[1].term(), term);
    assert!(pair.tabs[1].is_leader());
    let _ = pair.drain(1);
    assert!(pair.tabs[2].peers().all(|p| p.id != leader));
    assert_eq!(pair.tabs[2].counters().rejected_total(), 0);
}

#[test]
fn an_heir_that_leads_by_hand_off_tells_every_tab_twice_not_three_times() {
    let mut pair = Tabs::leader_and_heir(3);
    let (_, to_heir) = pair.closing_posts(0);
    pair.tabs[1].handle_message_to_heir(
        pair.now,
        Received::Text(to_heir.first().map_or("", String::as_str)),
    );
    // Storage is handed out first, and localStorage answers at once: the posts come after.
    let posts = pair.take(1).posts;
    assert!(pair.tabs[1].is_leader(), "the heir leads by hand-off");
    assert_eq!(
        posts.len(),
        2,
        "the resignation passed on, then one heartbeat as leader (not one as candidate too)"
    );
    assert_eq!(posts.first(), to_heir.first(), "the resignation goes first");

    // The third tab knows from those two alone that the heir leads.
    for text in &posts {
        pair.tabs[2].handle_message(pair.now, Received::Text(text));
    }
    assert_eq!(pair.tabs[2].term(), pair.tabs[1].term());
    assert_eq!(pair.tabs[2].leader(), Some(pair.tabs[1].id()));
    assert_eq!(pair.tabs[2].counters().rejected_total(), 0);
}

#[test]
fn the_next_holder_of_a_lock_whose_thief_died_waits_for_the_robbed_leader() {
    let mut group = Tabs::leader_and_heir(3);
    let robbed = group.tabs[0].term();
    // The leader's main thread is blocked: the heir probes, hears nothing, and steals the
    // leader lock, having first recorded whose lock it takes.
    group.block_leader_until_the_heir_steals();
    assert_eq!(
        group.stored_theft, robbed,
        "recorded before the steal went out"
    );

    // The lock manager hands the lock to the thief, which dies before the grant reaches it.
    // The leader runs again first, before the notice of the theft: it reads the stored term,
    // finds nothing past its own, and goes on leading.
    group.blocked[1] = true;
    group.blocked[0] = false;
    let now = group.now;
    group.tabs[0].handle_timeout(now);
    let _ = group.drain(0);
    assert!(group.tabs[0].is_leader(), "it cannot know yet");

    // The thief's locks pass on: the heir lock to the third tab, then the leader lock, free.
    // What the third tab posts is still on its way to the leader.
    group.blocked[0] = true;
    assert_eq!(
        group.grant(2, LockName::Heir),
        [(LockName::Leader, LockRequest::Request)]
    );
    let _ = group.grant(2, LockName::Leader);
    assert!(group.tabs[2].term() > robbed, "it mints at once");
    assert!(
        !group.tabs[2].is_leader(),
        "the robbed leader still acts: it must not yet"
    );

    // The notice of the theft reaches the leader, which steps down and hears the new term; the
    // third tab leads once it hears the robbed leader at its term, within the steal grace.
    group.blocked[0] = false;
    group.tabs[0].handle_lock(group.now, LockName::Leader, LockChange::Lost);
    let _ = group.drain(0);
    assert!(!group.tabs[0].is_leader());
    let mut waited = 0;
    while !group.tabs[2].is_leader() {
        assert!(
            waited <= Config::default().steal_grace_ms(),
            "the third tab never led"
        );
        group.tick(100);
        waited += 100;
        assert!(!group.tabs[0].is_leader(), "two leaders at once");
    }
}

#[test]
fn a_leader_closing_with_its_heir_leaves_every_list_within_a_heartbeat_of_the_next_term() {
    let mut group = Tabs::leader_and_heir(4);
    let leader = group.tabs[0].id();
    let heir = group.tabs[1].id();
    // The heir's page closes first: its goodbye reaches every tab and it lets go of the heir
    // lock. Then the leader's closes: its resignation goes to the heir's channel, where nobody
    // listens any more, and it lets go of the leader lock.
    let (goodbye, _) = group.closing_posts(1);
    group.blocked[1] = true;
    for t in [0, 2, 3] {
        for text in &goodbye {
            group.tabs[t].handle_message(group.now, Received::Text(text));
        }
    }
    let _ = group.drain(1);
    assert!(group.tabs[0].peers().all(|p| p.id != heir));
    let (to_all, _) = group.closing_posts(0);
    assert_eq!(
        to_all,
        Vec::<String>::new(),
        "the resignation went to the heir alone"
    );
    group.blocked[0] = true;
    let _ = group.drain(0);
    assert!(
        group.tabs[2].peers().any(|p| p.id == leader),
        "nobody heard it"
    );

    // The third tab is heir next, finds the leader lock free and leads the next term.
    assert_eq!(
        group.grant(2, LockName::Heir),
        [(LockName::Leader, LockRequest::Request)]
    );
    let _ = group.grant(2, LockName::Leader);
    assert!(group.tabs[2].is_leader());
    assert_eq!(group.tabs[3].leader(), Some(group.tabs[2].id()));

    // The resigned leader cannot say it heard the new term: it leaves every list within a
    // heartbeat, long before its time-to-live would run out.
    let heartbeat = Config::default().heartbeat_ms;
    let mut waited = 0;
    while [2, 3]
        .iter()
        .any(|&t| group.tabs[t].peers().any(|p| p.id == leader))
    {
        assert!(
            waited < heartbeat,
            "the resigned leader is still listed {waited} ms after the next term"
        );
        group.tick(10);
        waited += 10;
    }
    for t in [2, 3] {
        let listed: Vec<TabId> = group.tabs[t].peers().map(|p| p.id).collect();
        assert!(!listed.contains(&heir), "the heir said goodbye");
        assert_eq!(listed.len(), 1, "tab {t} lists only the other running tab");
    }
}

#[test]
fn a_deposed_leader_that_runs_says_at_once_that_it_heard_and_stays_listed() {
    let mut group = Tabs::leader_and_heir(3);
    let deposed = group.tabs[0].id();
    // The leader's main thread is blocked: the heir probes, hears nothing, and steals.
    group.block_leader_until_the_heir_steals();
    // The leader runs again, a little before the lock manager grants the steal.
    group.blocked[0] = false;
    group.tick(50);
    // The grant comes 20 ms after the leader's last input.
    group.now = group.now.plus(20);
    let _ = group.grant(1, LockName::Leader);
    let term = group.tabs[1].term();
    assert_eq!(
        group.tabs[0].term(),
        term,
        "the deposed leader heard the new term"
    );
    assert!(!group.tabs[0].is_leader());
    let heard = group.tabs[2]
        .peers()
        .find(|p| p.id == deposed)
        .map(|p| p.last_heard);
    assert_eq!(heard, Some(group.now), "and said so at once");

    // So it stays listed everywhere, as the running tab it is.
    for _ in 0..30 {
        group.tick(100);
        for t in [1, 2] {
            assert!(
                group.tabs[t].peers().any(|p| p.id == deposed),
                "tab {t} dropped the running deposed leader at {:?}",
                group.now
            );
        }
    }
}

#[test]
fn a_rehearsed_take_over_leads_at_the_term_the_real_one_does_and_touches_nothing() {
    let mut group = Tabs::leader_and_heir(3);
    let before = format!("{:?}", group.tabs[1]);
    let rehearsed = group.tabs[1].rehearse_takeover(group.now);
    assert_eq!(
        format!("{:?}", group.tabs[1]),
        before,
        "the heir's own engine is as it was"
    );
    let rehearsed = rehearsed.expect("the heir waiting for the leader lock rehearses");
    assert!(rehearsed > group.tabs[0].term());
    assert_eq!(
        group.stored,
        group.tabs[0].term(),
        "the rehearsal stored nothing"
    );

    // The leader's renderer dies without a word, and the lock manager grants the heir the lock.
    group.blocked[0] = true;
    let _ = group.grant(1, LockName::Leader);
    assert!(group.tabs[1].is_leader());
    assert_eq!(
        group.tabs[1].term(),
        rehearsed,
        "the rehearsal led at the real term"
    );
}

#[test]
fn only_the_heir_waiting_for_the_leader_lock_rehearses() {
    let group = Tabs::leader_and_heir(3);
    let now = group.now;
    assert_eq!(group.tabs[0].rehearse_takeover(now), None, "the leader");
    assert_eq!(
        group.tabs[2].rehearse_takeover(now),
        None,
        "a tab waiting for the heir lock"
    );
    let lease = Engine::start(
        Config {
            mode: Mode::Lease,
            ..Config::default()
        },
        Start {
            id: TabId::from_bytes([9; 16]),
            now,
            visible: true,
            key: Some(Key::from_bytes([42; 32])),
            term: Term::ZERO,
            wall: now.0,
        },
    );
    assert_eq!(
        lease.rehearse_takeover(now),
        None,
        "a tab without Web Locks"
    );
}

#[test]
fn a_hidden_follower_heartbeats_rarely_stays_listed_and_heartbeats_every_second_once_it_leads() {
    let mut group = Tabs::leader_and_heir(3);
    let ids: Vec<TabId> = group.tabs.iter().map(Engine::id).collect();
    for t in [1, 2] {
        group.tabs[t].handle_lifecycle(group.now, Lifecycle::Hidden);
    }
    let _ = group.drain(0);
    let config = Config::default();

    // A minute, in steps of 100 ms: what each tab posts, every tab still listing the others.
    let posted = |group: &mut Tabs, ms: u64| {
        let mut sent = vec![0; group.tabs.len()];
        for _ in 0..ms / 100 {
            group.now = group.now.plus(100);
            for (t, count) in sent.iter_mut().enumerate() {
                group.tabs[t].handle_timeout(group.now);
                let posts = group.take(t).posts;
                *count += posts.len();
                for text in posts {
                    group.post(t, &text);
                }
            }
            let _ = group.drain(0);
            for t in 0..group.tabs.len() {
                let listed: Vec<TabId> = group.tabs[t].peers().map(|p| p.id).collect();
                let others: Vec<TabId> = ids.iter().copied().filter(|&id| id != ids[t]).collect();
                assert!(
                    others.iter().all(|id| listed.contains(id)),
                    "tab {t} lists {listed:?} at {:?}",
                    group.now
                );
            }
        }
        sent
    };
    let sent = posted(&mut group, 60_000);
    let every_second = (60_000 / config.heartbeat_ms) as usize;
    let hidden_most = (60_000 / config.hidden_heartbeat_ms) as usize + 1;
    assert!(
        sent[0] + 1 >= every_second,
        "the leader heartbeats every second: {sent:?}"
    );
    for t in [1, 2] {
        assert!(
            (hidden_most - 2..=hidden_most).contains(&sent[t]),
            "hidden follower {t} posts about every {} ms: {sent:?}",
            config.hidden_heartbeat_ms
        );
    }

    // The leader closes: the hidden heir leads, and says so every second from then on.
    let _ = group.close_leader();
    assert!(group.tabs[1].is_leader(), "the heir leads by hand-off");
    let _ = group.grant(1, LockName::Leader);
    let sent = {
        let mut sent = [0; 2];
        for _ in 0..100 {
            group.now = group.now.plus(100);
            for (slot, t) in [1, 2].into_iter().enumerate() {
                group.tabs[t].handle_timeout(group.now);
                let posts = group.take(t).posts;
                sent[slot] += posts.len();
                let to = 3 - t;
                for text in posts {
                    group.tabs[to].handle_message(group.now, Received::Text(&text));
                }
            }
        }
        sent
    };
    assert!(
        sent[0] >= 9,
        "the hidden leader heartbeats every second: {sent:?}"
    );
    assert!(
        sent[1] <= 2,
        "the other hidden follower still rarely: {sent:?}"
    );
    assert!(group.tabs[2].peers().any(|p| p.id == ids[1]));
}

#[test]
fn a_followers_requests_go_on_the_leaders_channel_alone() {
    use conclave_core::data::Op;

    let mut pair = Tabs::leader_and_heir(3);
    assert!(pair.tabs[0].is_leader() && !pair.tabs[1].is_leader());
    let now = pair.now;
    let number = pair.tabs[1]
        .handle_request(
            now,
            Op::Create {
                title: "Notes".into(),
            },
        )
        .expect("taken");
    let said = pair.take(1);
    assert_eq!(
        said.to_leader.len(),
        1,
        "one message, on the leader's channel"
    );
    assert!(said.to_leader[0].contains("\"Notes\""), "{said:?}");
    assert!(
        said.posts.iter().all(|text| !text.contains("\"Notes\"")),
        "nothing of it on the channel every tab hears: {said:?}"
    );
    let number = number.to_string();
    assert!(
        said.to_leader[0].contains(&number),
        "request {number}: {said:?}"
    );
}

#[test]
fn a_resignation_signed_by_a_tab_that_does_not_lead_hands_nothing_off() {
    let mut group = Tabs::leader_and_heir(3);
    let term = group.tabs[0].term();
    assert!(group.tabs[0].is_leader() && group.tabs[1].term() == term);
    // Tab 2 follows at the leader's term. A message it signs (an app message, never delivered)
    // becomes a resignation naming the heir: signed, fresh, at the current term, and not the
    // leader's.
    let now = group.now;
    group.tabs[2].handle_broadcast(now, "x").expect("fits");
    let said = group.take(2);
    let text = said.posts.last().expect("the app message");
    let (payload, _tag) = text.rsplit_once('#').expect("signed");
    let head = &payload[..payload.find("\"msg\":").expect("a body")];
    let heir = TabId::from_bytes([2; 16]);
    let forged = conclave_core::auth::seal(
        format!("{head}\"msg\":{{\"resign\":{{\"successor\":\"{heir}\"}}}}}}"),
        Some(&Key::from_bytes([42; 32])),
    );
    group.tabs[1].handle_message(group.now, Received::Text(&forged));
    group.flush();
    group.tick(100);
    assert!(
        !group.tabs[1].is_leader(),
        "the heir took a hand-off its leader never made"
    );
    assert!(group.tabs[0].is_leader());
    assert_eq!(group.tabs[1].term(), term);
}
