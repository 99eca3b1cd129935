//! The driver on the real BroadcastChannel of a headless Chromium page.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use conclave_web::{Config, Driver, ItemId, Rejection, Role};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::BroadcastChannel;

wasm_bindgen_test_configure!(run_in_browser);

/// Each test on its own channel, so tests running in one page do not hear each other.
fn config(channel: &str) -> Config {
    Config {
        channel: channel.to_owned(),
        ..Config::default()
    }
}

/// Waits up to 3 s for `condition`, checking every 10 ms.
async fn eventually(condition: impl Fn() -> bool) -> bool {
    within(3_000, condition).await
}

#[wasm_bindgen_test]
async fn two_drivers_in_one_page_list_each_other_and_part_on_drop() {
    let a = Driver::start(config("two-drivers"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("two-drivers"), |_| {}).expect("driver b starts");
    let (a_id, b_id) = (a.snapshot().id, b.snapshot().id);
    assert_ne!(a_id, b_id);
    let listed = eventually(|| {
        a.snapshot().peers.iter().map(|p| p.id).eq([b_id])
            && b.snapshot().peers.iter().map(|p| p.id).eq([a_id])
    })
    .await;
    assert!(listed, "each driver lists the other over the real channel");
    drop(b);
    assert!(
        eventually(|| a.snapshot().peers.is_empty()).await,
        "a dropped driver says goodbye"
    );
}

#[wasm_bindgen_test]
async fn app_messages_reach_every_other_tab_once_in_order_and_the_handler_may_answer() {
    type Inbox = Rc<std::cell::RefCell<Vec<(conclave_web::TabId, String)>>>;
    let a = Rc::new(Driver::start(config("app-messages"), |_| {}).expect("driver a starts"));
    let b = Driver::start(config("app-messages"), |_| {}).expect("driver b starts");
    let c = Driver::start(config("app-messages"), |_| {}).expect("driver c starts");
    assert!(eventually(|| [&b, &c].iter().all(|d| d.snapshot().peers.len() == 2)).await);
    let (a_id, b_id) = (a.snapshot().id, b.snapshot().id);
    let (got_a, got_b, got_c): (Inbox, Inbox, Inbox) = Default::default();
    // `a` answers every message it hears, from inside its handler.
    let answerer = Rc::downgrade(&a);
    let heard = Rc::clone(&got_a);
    a.on_message(move |from, data| {
        heard.borrow_mut().push((from, data.clone()));
        if let Some(a) = answerer.upgrade() {
            a.broadcast(&format!("re: {data}")).expect("a answers");
        }
    });
    for (driver, inbox) in [(&b, &got_b), (&c, &got_c)] {
        let inbox = Rc::clone(inbox);
        driver.on_message(move |from, data| inbox.borrow_mut().push((from, data)));
    }

    for text in ["one", "two", "three"] {
        b.broadcast(text).expect("b broadcasts");
    }
    let expected_a: Vec<_> = ["one", "two", "three"]
        .map(|t| (b_id, t.to_owned()))
        .to_vec();
    assert!(
        eventually(|| got_c.borrow().len() >= 6).await,
        "{:?}",
        got_c.borrow()
    );
    TimeoutFuture::new(100).await;
    assert_eq!(
        *got_a.borrow(),
        expected_a,
        "once each, in order, not its own answers"
    );
    let answers: Vec<_> = ["one", "two", "three"]
        .map(|t| (a_id, format!("re: {t}")))
        .to_vec();
    assert_eq!(
        *got_b.borrow(),
        answers,
        "the sender hears the answers, not itself"
    );
    let mut all_c = expected_a.clone();
    all_c.extend(answers);
    all_c.sort();
    let mut seen_c = got_c.borrow().clone();
    seen_c.sort();
    assert_eq!(seen_c, all_c, "a third tab hears both, once each");

    let too_large = "x".repeat(70_000);
    assert!(matches!(
        b.broadcast(&too_large),
        Err(conclave_web::SendError::TooLarge { .. })
    ));
}

#[wasm_bindgen_test]
async fn the_app_is_told_of_every_change() {
    let changes = Rc::new(Cell::new(0u32));
    let seen = Rc::clone(&changes);
    let a = Driver::start(config("on-change"), move |_| seen.set(seen.get() + 1))
        .expect("driver starts");
    let before = changes.get();
    let b = Driver::start(config("on-change"), |_| {}).expect("driver starts");
    assert!(eventually(|| a.snapshot().peers.len() == 1).await);
    assert!(changes.get() > before, "the join reached on_change");
    drop(b);
}

#[wasm_bindgen_test]
async fn garbage_on_the_real_channel_is_counted_and_the_tab_keeps_working() {
    let a = Driver::start(config("garbage"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("garbage"), |_| {}).expect("driver b starts");
    assert!(eventually(|| a.snapshot().peers.len() == 1).await);

    let raw = BroadcastChannel::new("garbage").expect("a raw channel opens");
    let post = |value: JsValue| raw.post_message(&value).expect("posting works");
    post("{ not json".into());
    post(JsValue::from_f64(42.0));
    post(JsValue::from_f64(f64::NAN));
    post(js_sys::Object::new().into());
    post(JsValue::NULL);
    post("x".repeat(70_000).into());
    post(r#"{"v":1,"ch":"garbage"}"#.into());
    let v = conclave_core::wire::PROTOCOL_VERSION;
    post(format!(r#"{{"v":{v},"ch":"other-app"}}"#).into());
    post(
        format!(r#"{{"v":{v},"ch":"garbage","from":"zz","inc":0,"seq":1,"at":0,"msg":"bye"}}"#)
            .into(),
    );
    post(format!(r#"{{"v":{v},"ch":"garbage","from":"00000000000000000000000000000001","inc":0,"seq":1e400,"at":0,"msg":"bye"}}"#).into());

    let expected = [
        (Rejection::Malformed, 1),
        (Rejection::NotText, 4),
        (Rejection::Oversized, 1),
        (Rejection::UnknownVersion, 1),
        (Rejection::OtherChannel, 1),
        (Rejection::WrongType, 1),
        (Rejection::UnsafeNumber, 1),
    ];
    for driver in [&a, &b] {
        let counted = eventually(|| {
            let counters = driver.snapshot().counters;
            expected.iter().all(|&(r, n)| counters.rejected(r) == n)
        })
        .await;
        let counters = driver.snapshot().counters;
        assert!(counted, "every bad input counted by name: {counters:?}");
        assert_eq!(counters.rejected_total(), 10);
    }
    raw.close();

    // Still coordinating: a newcomer is listed by both.
    let c = Driver::start(config("garbage"), |_| {}).expect("driver c starts");
    assert!(eventually(|| a.snapshot().peers.len() == 2 && b.snapshot().peers.len() == 2).await);
    drop(c);
}

#[wasm_bindgen_test]
fn ids_drawn_at_the_same_moment_are_all_distinct() {
    let drivers: Vec<Driver> = (0..64)
        .map(|_| Driver::start(config("many-ids"), |_| {}).expect("driver starts"))
        .collect();
    let mut ids: Vec<_> = drivers.iter().map(|d| d.snapshot().id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64);
}

#[wasm_bindgen_test]
async fn drivers_share_a_key_and_refuse_unsigned_and_forged_messages() {
    let a = Driver::start(config("signing"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("signing"), |_| {}).expect("driver b starts");
    assert!(
        a.snapshot().keyed && b.snapshot().keyed,
        "both hold the stored key"
    );
    assert!(
        !a.snapshot().bootstrap_open,
        "the key closes the bootstrap window"
    );
    assert!(eventually(|| a.snapshot().peers.len() == 1 && b.snapshot().peers.len() == 1).await);

    let raw = BroadcastChannel::new("signing").expect("a raw channel opens");
    let forged = format!(
        r#"{{"v":{},"ch":"signing","from":"0123456789abcdef0123456789abcdef","inc":0,"seq":1,"at":0,"term":0,"lead":"00000000000000000000000000000000","msg":{{"hello":{{"ttl":3000,"visible":true,"acting":false}}}}}}"#,
        conclave_core::wire::PROTOCOL_VERSION
    );
    let forged = forged.as_str();
    raw.post_message(&forged.into()).expect("posting works");
    let wrong_key = conclave_core_seal(forged, [9; 32]);
    raw.post_message(&wrong_key.into()).expect("posting works");
    raw.post_message(&format!("{forged}#abcd").into())
        .expect("posting works");
    raw.close();

    for driver in [&a, &b] {
        let counted = eventually(|| {
            let c = driver.snapshot().counters;
            c.rejected(Rejection::Unsigned) == 1
                && c.rejected(Rejection::BadTag) == 1
                && c.rejected(Rejection::TagLength) == 1
        })
        .await;
        assert!(counted, "{:?}", driver.snapshot().counters);
        assert_eq!(driver.snapshot().peers.len(), 1, "no forged peer listed");
    }
}

/// Signs `payload` with a key other than the stored one.
fn conclave_core_seal(payload: &str, key: [u8; 32]) -> String {
    conclave_core::auth::seal(
        payload.to_owned(),
        Some(&conclave_web::Key::from_bytes(key)),
    )
}

/// Waits up to `ms` for `condition`, checking every 10 ms.
async fn within(ms: u32, condition: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 10 {
        if condition() {
            return true;
        }
        TimeoutFuture::new(10).await;
    }
    condition()
}

#[wasm_bindgen_test]
async fn two_drivers_elect_one_leader_and_the_survivor_takes_over() {
    let a = Driver::start(config("elect"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("elect"), |_| {}).expect("driver b starts");
    let agreed = eventually(|| {
        let (sa, sb) = (a.snapshot(), b.snapshot());
        (sa.is_leader != sb.is_leader)
            && sa.leader.is_some()
            && sa.leader == sb.leader
            && sa.term == sb.term
    })
    .await;
    assert!(agreed, "{:?}\n{:?}", a.snapshot(), b.snapshot());
    let (leader, follower) = if a.snapshot().is_leader {
        (a, b)
    } else {
        (b, a)
    };
    let old_term = leader.snapshot().term;
    assert_eq!(follower.snapshot().role, Role::Follower);
    // The leader closes: it resigns, handing off to the heir (the survivor), and lets go of the
    // lock, which the heir is the one tab waiting for.
    drop(leader);
    assert!(
        within(1_000, || follower.snapshot().is_leader).await,
        "the survivor leads within a second: {:?}",
        follower.snapshot()
    );
    assert!(follower.snapshot().term > old_term, "at a higher term");
}

#[wasm_bindgen_test]
async fn a_resignation_goes_to_the_heir_alone_which_passes_it_on_to_every_tab() {
    let drivers: Vec<Driver> = (0..3)
        .map(|_| Driver::start(config("heir-channel"), |_| {}).expect("a driver starts"))
        .collect();
    let settled = eventually(|| {
        let snapshots: Vec<_> = drivers.iter().map(Driver::snapshot).collect();
        snapshots.iter().filter(|s| s.is_leader).count() == 1
            && snapshots.iter().all(|s| s.peers.len() == 2)
            && snapshots
                .iter()
                .all(|s| s.leader.is_some() && s.leader == snapshots[0].leader)
    })
    .await;
    assert!(settled, "one leader among three");
    // Let the heir lock settle on one of the followers.
    TimeoutFuture::new(300).await;
    let mut drivers = drivers;
    let at = drivers.iter().position(|d| d.snapshot().is_leader);
    let leader = drivers.remove(at.unwrap_or_default());
    let (leader_id, old_term) = (leader.snapshot().id, leader.snapshot().term);
    drop(leader);

    // Within a second (a visible peer falls silent only after 3 s), both survivors have
    // forgotten the leader, one of them leads at a higher term, and exactly one heard the
    // resignation on the heir's channel and passed it on; nothing was refused.
    let done = within(1_000, || {
        let s: Vec<_> = drivers.iter().map(Driver::snapshot).collect();
        s.iter().all(|s| s.peers.iter().all(|p| p.id != leader_id))
            && s.iter()
                .filter(|s| s.is_leader && s.term > old_term)
                .count()
                == 1
    })
    .await;
    let s: Vec<_> = drivers.iter().map(Driver::snapshot).collect();
    assert!(done, "{s:?}");
    let relayed: Vec<u64> = s.iter().map(|s| s.counters.relayed).collect();
    assert_eq!(relayed.iter().sum::<u64>(), 1, "{relayed:?}");
    assert!(
        s.iter()
            .all(|s| s.counters.rejected_total() == 0 && s.counters.duplicate == 0),
        "{s:?}"
    );
}

#[wasm_bindgen_test]
async fn a_stolen_lock_deposes_the_leader_and_it_leads_again_once_free() {
    let (became, lost) = (
        marks("conclave:became-leader"),
        marks("conclave:lost-leadership"),
    );
    let a = Driver::start(config("steal"), |_| {}).expect("driver starts");
    assert!(
        eventually(|| a.snapshot().is_leader).await,
        "alone, it leads"
    );
    assert_eq!(
        marks("conclave:became-leader"),
        became + 1,
        "marked on the timeline"
    );
    let first = a.snapshot().term;

    // Another context steals the leadership lock outright.
    let release = steal_lock("steal:leader");
    assert!(
        eventually(|| !a.snapshot().is_leader).await,
        "the victim steps down when its lock is stolen"
    );
    assert_eq!(a.snapshot().role, Role::Follower);
    assert_eq!(
        marks("conclave:lost-leadership"),
        lost + 1,
        "marked on the timeline"
    );

    // The thief lets go: the victim, queued again, is granted the lock and leads anew.
    release.call0(&JsValue::UNDEFINED).expect("releasing works");
    assert!(
        eventually(|| a.snapshot().is_leader).await,
        "{:?}",
        a.snapshot()
    );
    assert!(a.snapshot().term > first, "at a higher term");
}

#[wasm_bindgen_test]
async fn the_next_holder_of_a_lock_whose_thief_died_waits_before_it_leads() {
    // Storage as a thief leaves it that recorded its theft from the leader of term 7 (a tab
    // that is not here) and died before it minted: the term and the record are the same.
    let robbed = "7:0123456789abcdef0123456789abcdef";
    let storage = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage");
    for item in ["robbed:term:v1", "robbed:theft:v1"] {
        storage.set_item(item, robbed).expect("storage takes it");
    }
    let tab = Driver::start(config("robbed"), |_| {}).expect("driver starts");
    // Granted the free lock at once, it mints above the robbed term, but waits the steal grace
    // (1.3 s) for the robbed leader, which it never hears, before it acts.
    assert!(
        within(1_000, || tab.snapshot().role == Role::Candidate).await,
        "{:?}",
        tab.snapshot()
    );
    assert_eq!(tab.snapshot().term.number(), 8);
    TimeoutFuture::new(800).await;
    assert!(!tab.snapshot().is_leader, "{:?}", tab.snapshot());
    assert!(
        eventually(|| tab.snapshot().is_leader).await,
        "{:?}",
        tab.snapshot()
    );
    assert_eq!(tab.snapshot().term.number(), 8);
}

/// How many User Timing marks named `name` the page holds.
fn marks(name: &str) -> u32 {
    let performance = web_sys::window()
        .and_then(|w| w.performance())
        .expect("performance");
    performance.get_entries_by_name(name).length()
}

/// Takes the lock `name` with `steal: true` and returns the function that releases it.
fn steal_lock(name: &str) -> js_sys::Function {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast as _;
    let window = web_sys::window().expect("a window");
    let locks = js_sys::Reflect::get(&window.navigator(), &"locks".into()).expect("Web Locks");
    let request: js_sys::Function = js_sys::Reflect::get(&locks, &"request".into())
        .expect("request")
        .dyn_into()
        .expect("a function");
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"steal".into(), &JsValue::TRUE).expect("set");
    let slot: Rc<std::cell::RefCell<Option<js_sys::Function>>> = Rc::default();
    let held = Rc::clone(&slot);
    let callback = Closure::once_into_js(move |_lock: JsValue| {
        js_sys::Promise::new(&mut |resolve, _| *held.borrow_mut() = Some(resolve))
    });
    let _ = request.call3(&locks, &name.into(), &options, &callback);
    // The release function exists once the lock is granted; hand out a function that waits
    // for it by calling through the slot.
    let release = Closure::<dyn Fn()>::new(move || {
        if let Some(resolve) = slot.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    release.into_js_value().unchecked_into()
}

#[wasm_bindgen_test]
async fn a_replayed_message_is_dropped_as_a_duplicate_on_the_real_channel() {
    let heard: Rc<std::cell::RefCell<Vec<String>>> = Rc::default();
    let raw = BroadcastChannel::new("replay").expect("a raw channel opens");
    let sink = Rc::clone(&heard);
    let _listener = gloo_events::EventListener::new(&raw, "message", move |event| {
        use wasm_bindgen::JsCast as _;
        if let Some(text) = event
            .dyn_ref::<web_sys::MessageEvent>()
            .and_then(|e| e.data().as_string())
        {
            sink.borrow_mut().push(text);
        }
    });
    let a = Driver::start(config("replay"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("replay"), |_| {}).expect("driver b starts");
    assert!(eventually(|| b.snapshot().peers.len() == 1 && !heard.borrow().is_empty()).await);
    let a_id = a.snapshot().id.to_string();
    let captured = heard
        .borrow()
        .iter()
        .rev()
        .find(|t| t.contains(&a_id))
        .cloned()
        .expect("a message of a's was heard");
    let before = b.snapshot().counters.duplicate;
    raw.post_message(&captured.into()).expect("posting works");
    assert!(
        eventually(|| b.snapshot().counters.duplicate == before + 1).await,
        "{:?}",
        b.snapshot().counters
    );
    assert_eq!(b.snapshot().counters.rejected_total(), 0);
}

#[wasm_bindgen_test]
async fn heartbeats_keep_their_period_while_other_inputs_arrive_between_them() {
    // The timer is kept across inputs that leave the deadline alone: a tab hearing a message
    // every 20 ms must still send its own heartbeat every 100 ms.
    let quick = || Config {
        heartbeat_ms: 100,
        ..config("heartbeat-period")
    };
    let a = Driver::start(quick(), |_| {}).expect("driver a starts");
    let b = Driver::start(quick(), |_| {}).expect("driver b starts");
    let a_id = a.snapshot().id;
    let seq_of_a = || {
        b.snapshot()
            .peers
            .iter()
            .find(|p| p.id == a_id)
            .map(|p| p.seq.0)
    };
    assert!(eventually(|| seq_of_a().is_some()).await, "b lists a");
    let before = seq_of_a().unwrap_or_default();
    for i in 0..50 {
        b.broadcast(&i.to_string()).expect("b broadcasts");
        TimeoutFuture::new(20).await;
    }
    // About 10 heartbeats in those 1,000 ms or more; at least half of them, however busy.
    let sent = seq_of_a().unwrap_or_default().saturating_sub(before);
    assert!(sent >= 5, "a sent {sent} heartbeats in a second");
}

#[wasm_bindgen_test]
async fn the_heir_rehearses_its_take_over_once_and_the_leader_never_does() {
    const MARK: &str = "conclave:takeover-rehearsed";
    let before = marks(MARK);
    let a = Driver::start(config("rehearse"), |_| {}).expect("driver a starts");
    let b = Driver::start(config("rehearse"), |_| {}).expect("driver b starts");
    assert!(
        eventually(|| a.snapshot().is_leader != b.snapshot().is_leader).await,
        "one leads: {:?}\n{:?}",
        a.snapshot(),
        b.snapshot()
    );
    assert!(
        within(2_000, || marks(MARK) > before).await,
        "the heir rehearsed its take-over"
    );
    // Long after the leader's own heir-lock grant (it held the heir lock before it led), and
    // after the heir's: still the one rehearsal.
    TimeoutFuture::new(600).await;
    assert_eq!(marks(MARK), before + 1, "one rehearsal, the heir's");
    let (leader, heir) = if a.snapshot().is_leader {
        (a, b)
    } else {
        (b, a)
    };
    drop(leader);
    assert!(
        within(1_000, || heir.snapshot().is_leader).await,
        "the heir leads once the leader is gone: {:?}",
        heir.snapshot()
    );
}

/// What one turn types reaches the tab's backup in one write, by the end of that turn (no
/// timer): a draft typed, retyped and retyped again in one turn is one `localStorage` write,
/// holding the last text; a draft typed in a later turn is the next write.
#[wasm_bindgen_test]
async fn the_drafts_of_one_turn_reach_the_backup_in_one_write_before_the_turn_ends() {
    let channel = "drafts-in-a-turn";
    let driver = Driver::start(config(channel), |_| {}).expect("the driver starts");
    TimeoutFuture::new(100).await;
    let me = driver.snapshot().id;
    let session = ItemId { tab: me, number: 1 };
    let key = conclave_core::data::backup_key(channel, me);
    let stored = || {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(&key).ok().flatten())
            .unwrap_or_default()
    };
    assert_eq!(
        drafts_in_one_turn(&driver, session, &["h", "he", "hello"]).await,
        1,
        "one write for the turn"
    );
    assert!(
        stored().contains("hello"),
        "the last text is kept: {}",
        stored()
    );
    assert_eq!(
        drafts_in_one_turn(&driver, session, &["hello again"]).await,
        1,
        "a later turn, the next write"
    );
    assert!(
        stored().contains("hello again"),
        "the later text is kept: {}",
        stored()
    );
}

/// Types `texts` into `session`'s draft one after another in one turn, checks that nothing is
/// written before the turn ends, then lets it end: how many backup writes the turn made.
async fn drafts_in_one_turn(driver: &Driver, session: ItemId, texts: &[&str]) -> u64 {
    let before = driver.snapshot().backup.writes;
    for text in texts {
        driver.draft(session, text);
    }
    assert_eq!(
        driver.snapshot().backup.writes,
        before,
        "nothing written within the turn"
    );
    // The promise's continuation runs after every microtask queued before it: the turn's end.
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&JsValue::NULL))
        .await
        .expect("a resolved promise");
    driver.snapshot().backup.writes - before
}

#[wasm_bindgen(inline_js = r#"
const seen = new Map();
export function watch_posts(name) {
    const state = { objects: new WeakSet(), opened: 0, closed: 0 };
    seen.set(name, state);
    const post = BroadcastChannel.prototype.postMessage;
    const close = BroadcastChannel.prototype.close;
    BroadcastChannel.prototype.postMessage = function (data) {
        const watched = seen.get(this.name);
        if (watched && !watched.objects.has(this)) {
            watched.objects.add(this);
            watched.opened += 1;
        }
        return post.call(this, data);
    };
    BroadcastChannel.prototype.close = function () {
        const watched = seen.get(this.name);
        if (watched && watched.objects.has(this)) watched.closed += 1;
        return close.call(this);
    };
}
export function posting_objects(name) { return seen.get(name)?.opened ?? 0; }
export function closed_objects(name) { return seen.get(name)?.closed ?? 0; }
"#)]
extern "C" {
    /// Counts, from now on, the channel objects named `name` that post, and their closes.
    fn watch_posts(name: &str);
    /// How many channel objects named `name` have posted since [`watch_posts`].
    fn posting_objects(name: &str) -> u32;
    /// How many of those have been closed.
    fn closed_objects(name: &str) -> u32;
}

#[wasm_bindgen_test]
async fn a_follower_posts_its_requests_from_one_channel_object_closed_once_idle() {
    use conclave_web::Op;
    let channel = "leader-sender";
    let to_leader = format!("{channel}:to-leader");
    watch_posts(&to_leader);
    let a = Driver::start(config(channel), |_| {}).expect("driver a starts");
    let b = Driver::start(config(channel), |_| {}).expect("driver b starts");
    assert!(
        eventually(|| a.snapshot().is_leader != b.snapshot().is_leader
            && a.snapshot().leader.is_some()
            && a.snapshot().leader == b.snapshot().leader)
        .await,
        "one leader"
    );
    let follower = if a.snapshot().is_leader { &b } else { &a };
    let create = |title: &str| {
        follower
            .request(Op::Create {
                title: title.to_owned(),
            })
            .expect("the request is taken")
    };
    // Three requests in three turns, each answered: one object posts them all.
    for title in ["one", "two", "three"] {
        create(title);
        assert!(
            eventually(|| follower.snapshot().pending.is_empty()).await,
            "answered: {:?}",
            follower.snapshot().pending
        );
    }
    assert_eq!(posting_objects(&to_leader), 1, "one object for the three");
    assert_eq!(
        closed_objects(&to_leader),
        0,
        "kept open while the tab writes"
    );
    // Idle past 2 s, it is closed at the driver's next turn (heartbeats make them).
    assert!(
        within(4_000, || closed_objects(&to_leader) == 1).await,
        "closed once idle"
    );
    // The next request opens another, and is answered.
    create("four");
    assert!(
        eventually(|| follower.snapshot().pending.is_empty()).await,
        "the request after the close is answered"
    );
    assert_eq!(
        posting_objects(&to_leader),
        2,
        "a new object after the close"
    );
}
