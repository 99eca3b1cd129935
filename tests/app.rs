//! The app mounted in a real headless Chromium page.
#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn text_of(testid: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let element = document
        .query_selector(&format!("[data-testid={testid}]"))
        .ok()??;
    element.text_content()
}

#[wasm_bindgen_test]
async fn the_app_mounts_and_shows_a_fresh_random_id_and_its_counters() {
    leptos::mount::mount_to_body(conclave::App);
    TimeoutFuture::new(0).await;
    let id = text_of("tab-id").unwrap_or_default();
    assert_eq!(id.len(), 32, "a 128-bit id in hex: {id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(id, "0".repeat(32));
    assert_eq!(
        text_of("safe-mode"),
        None,
        "BroadcastChannel is available here"
    );
    assert_eq!(text_of("peer-count").as_deref(), Some("0"));
    assert_eq!(text_of("count-malformed").as_deref(), Some("0"));
    let sent: u64 = text_of("count-sent")
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    assert!(sent >= 1, "the greeting went out");
}

#[wasm_bindgen_test]
async fn use_conclave_gives_signals_that_follow_the_election() {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let alone = use_conclave_with_options(UseConclaveOptions::default().channel("signals"));
    assert_eq!(alone.error.get_untracked(), None);
    // Alone on its channel, the tab is granted the lock and leads.
    assert!(
        leads_soon(&alone).await,
        "{:?}",
        alone.snapshot.get_untracked()
    );
    let me = alone.snapshot.get_untracked().map(|s| s.id);
    assert_eq!(alone.leader.get_untracked(), me);
    assert!(alone.term.get_untracked().number() >= 1);
    assert!(alone.peers.get_untracked().is_empty());
    assert!(alone.counters.get_untracked().sent >= 2);
    // Cleaning up the owner drops the driver, which resigns and releases the lock: a second
    // tab on the channel then leads at a higher term.
    let term = alone.term.get_untracked();
    owner.cleanup();
    let next = Owner::new();
    next.set();
    let second = use_conclave_with_options(UseConclaveOptions::default().channel("signals"));
    assert!(
        leads_soon(&second).await,
        "{:?}",
        second.snapshot.get_untracked()
    );
    assert!(second.term.get_untracked() > term);
}

#[wasm_bindgen_test]
async fn app_messages_reach_the_other_tabs_message_signal() {
    use conclave::{use_conclave_with_options, AppMessage, UseConclaveOptions};
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let options = UseConclaveOptions::default()
        .channel("app-messages-signal")
        .keep_messages(2);
    let (a, b) = (
        use_conclave_with_options(options.clone()),
        use_conclave_with_options(options),
    );
    let listed = || a.peers.get_untracked().len() == 1 && b.peers.get_untracked().len() == 1;
    for _ in 0..300 {
        if listed() {
            break;
        }
        TimeoutFuture::new(10).await;
    }
    assert!(listed(), "the two tabs hear each other");
    // Three in one task: none may replace another before anything renders, and only the
    // latest two are kept.
    for data in ["one", "two", "three"] {
        a.broadcast.run(data.to_owned()).expect("a broadcasts");
    }
    let from = a.snapshot.get_untracked().map(|s| s.id).expect("a runs");
    let expected: Vec<_> = ["two", "three"]
        .map(|data| AppMessage {
            from,
            data: data.to_owned(),
        })
        .to_vec();
    frames_until(|| b.messages.get_untracked() == expected).await;
    assert_eq!(
        b.messages.get_untracked(),
        expected,
        "the latest two, in order"
    );
    assert_eq!(a.messages.get_untracked(), vec![], "not to itself");
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn counters_refresh_at_most_every_refresh_ms_and_nothing_is_lost() {
    // Every change shown (refresh 0), then at most one refresh per 400 ms: garbage posted every
    // 40 ms for 1.2 s moves only counters.
    assert!(distinct_counts_seen("refresh-every", 0).await >= 20);
    assert!(distinct_counts_seen("refresh-bounded", 400).await <= 5);
}

/// Posts 30 malformed messages on `channel`, 40 ms apart, to a tab refreshing at most every
/// `refresh_ms`; returns how many distinct malformed counts its signal showed. Checks that the
/// last refresh shows all 30.
async fn distinct_counts_seen(channel: &str, refresh_ms: u32) -> usize {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use conclave_web::Rejection;
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let tab = use_conclave_with_options(
        UseConclaveOptions::default()
            .channel(channel)
            .refresh_ms(refresh_ms),
    );
    let malformed = move || tab.counters.get_untracked().rejected(Rejection::Malformed);
    let garbage = web_sys::BroadcastChannel::new(channel).expect("a channel");
    let mut seen = vec![malformed()];
    for _ in 0..30 {
        garbage
            .post_message(&"not json".into())
            .expect("posting works");
        for _ in 0..4 {
            TimeoutFuture::new(10).await;
            if seen.last() != Some(&malformed()) {
                seen.push(malformed());
            }
        }
    }
    TimeoutFuture::new(refresh_ms + 100).await;
    assert_eq!(
        malformed(),
        30,
        "every message counted and shown in the end"
    );
    garbage.close();
    owner.cleanup();
    seen.len()
}

#[wasm_bindgen_test]
async fn a_hidden_page_refreshes_counters_only_once_shown_unless_asked_to() {
    // Hidden, the tab counts garbage but its signals wait; shown, they catch up at once.
    assert_eq!(counts_while_hidden("hidden-waits", false).await, 0);
    // Asked to refresh while hidden, they do (the control: this test can tell the two apart).
    assert_eq!(counts_while_hidden("hidden-refreshes", true).await, 5);
}

/// Hides the page once the tab on `channel` leads, posts 5 malformed messages there to it
/// (refreshing at most every 100 ms, and while hidden if `refresh_hidden`), and returns the malformed count its signal
/// shows 400 ms later, still hidden. Checks that showing the page shows all 5 at once.
async fn counts_while_hidden(channel: &str, refresh_hidden: bool) -> u64 {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use conclave_web::Rejection;
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let tab = use_conclave_with_options(
        UseConclaveOptions::default()
            .channel(channel)
            .refresh_ms(100)
            .refresh_hidden(refresh_hidden),
    );
    let malformed = move || tab.counters.get_untracked().rejected(Rejection::Malformed);
    let visible = move || tab.snapshot.get_untracked().map(|s| s.visible);
    // Alone on its channel, the tab comes to lead: a change that shows at once, with the
    // counters. Hide it only once that is done.
    assert!(leads_soon(&tab).await, "the only tab leads");
    emulate_visibility(false);
    // Visibility shows at once.
    assert_eq!(
        visible(),
        Some(false),
        "the hidden page shows hidden at once"
    );
    let garbage = web_sys::BroadcastChannel::new(channel).expect("a channel");
    for _ in 0..5 {
        garbage
            .post_message(&"not json".into())
            .expect("posting works");
    }
    TimeoutFuture::new(400).await;
    let while_hidden = malformed();
    emulate_visibility(true);
    assert_eq!(
        visible(),
        Some(true),
        "shown, the page shows visible at once"
    );
    assert_eq!(malformed(), 5, "and everything counted meanwhile, at once");
    garbage.close();
    owner.cleanup();
    while_hidden
}

#[wasm_bindgen_test]
async fn a_hidden_page_draws_its_sessions_only_once_shown_unless_asked_to() {
    // Hidden, the tab's view takes the new session but its readers are not told; shown, they
    // are, at once.
    assert_eq!(sessions_drawn_while_hidden("drawn-waits", false).await, 0);
    // Asked to draw while hidden, they are told (the control: this test can tell the two
    // apart).
    assert_eq!(sessions_drawn_while_hidden("drawn-anyway", true).await, 1);
}

/// Hides the page once the tab on `channel` leads, creates a session there (drawing while
/// hidden if `draw_hidden`), and returns how many sessions a reader of the workspace last
/// saw 400 ms later, still hidden. Checks that the view itself held the session all along and
/// that showing the page tells the reader at once.
async fn sessions_drawn_while_hidden(channel: &str, draw_hidden: bool) -> usize {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use conclave_web::Op;
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let tab = use_conclave_with_options(
        UseConclaveOptions::default()
            .channel(channel)
            .draw_hidden(draw_hidden),
    );
    // A reader of the workspace, as the sidebar's: a memo, which reads the view again only
    // once told it changed.
    let workspace = tab.workspace;
    let seen = Memo::new(move |_| workspace.with(|view| view.sessions().len()));
    assert!(leads_soon(&tab).await, "the only tab leads");
    assert_eq!(seen.get_untracked(), 0, "no session yet");
    emulate_visibility(false);
    tab.request
        .run(Op::Create {
            title: "behind".to_owned(),
        })
        .expect("the leader takes its own request");
    TimeoutFuture::new(400).await;
    assert_eq!(
        workspace.with_untracked(|view| view.sessions().len()),
        1,
        "the view holds the session, shown or not"
    );
    let while_hidden = seen.get_untracked();
    emulate_visibility(true);
    assert_eq!(seen.get_untracked(), 1, "shown, the reader is told at once");
    owner.cleanup();
    while_hidden
}

#[wasm_bindgen_test]
async fn a_reader_of_the_outline_runs_again_for_a_rename_not_for_messages_added() {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use conclave_web::Op;
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    let tab = use_conclave_with_options(UseConclaveOptions::default().channel("outline-readers"));
    let workspace = tab.workspace;
    // Two readers, as the app's: the titles (the outline) and the message counts (every
    // change), each counting its runs. A memo read runs again if what it follows changed.
    let runs = StoredValue::new((0u32, 0u32));
    let titles = Memo::new(move |_| {
        runs.update_value(|(outline, _)| *outline += 1);
        workspace.with_outline(|view| {
            view.sessions()
                .iter()
                .map(|s| s.title.clone())
                .collect::<Vec<_>>()
        })
    });
    let messages = Memo::new(move |_| {
        runs.update_value(|(_, every)| *every += 1);
        workspace.with(|view| view.sessions().iter().map(|s| s.count).sum::<u64>())
    });
    assert!(leads_soon(&tab).await, "the only tab leads");
    let request = |op: Op| {
        tab.request
            .run(op)
            .expect("the leader takes its own request")
    };
    request(Op::Create {
        title: "first".to_owned(),
    });
    frames_until(|| titles.get_untracked() == ["first"]).await;
    assert_eq!(titles.get_untracked(), ["first"], "the session is created");
    let session = workspace.with_untracked(|view| view.sessions()[0].id);
    let _ = messages.get_untracked();
    let before = runs.get_value();

    for i in 0..5 {
        request(Op::Add {
            session,
            text: format!("message {i}"),
        });
    }
    frames_until(|| messages.get_untracked() == 5).await;
    assert_eq!(messages.get_untracked(), 5, "the messages are added");
    assert_eq!(titles.get_untracked(), ["first"]);
    let after_messages = runs.get_value();
    assert!(after_messages.1 > before.1, "the counts' reader ran again");
    assert_eq!(
        after_messages.0, before.0,
        "the titles' reader did not run for messages added"
    );

    request(Op::Rename {
        session,
        title: "renamed".to_owned(),
    });
    frames_until(|| titles.get_untracked() == ["renamed"]).await;
    assert_eq!(titles.get_untracked(), ["renamed"], "renamed");
    assert!(
        runs.get_value().0 > after_messages.0,
        "the titles' reader ran again"
    );
    owner.cleanup();
}

#[wasm_bindgen_test]
async fn counters_wait_while_nothing_shows_them_and_show_at_once_when_something_does() {
    use conclave::{use_conclave_with_options, UseConclaveOptions};
    use conclave_web::Rejection;
    use leptos::prelude::*;

    let owner = Owner::new();
    owner.set();
    // As the app's folded coordination panel: nothing shows the counters.
    let shown = RwSignal::new(false);
    let tab = use_conclave_with_options(
        UseConclaveOptions::default()
            .channel("folded-waits")
            .refresh_ms(100)
            .shown(shown.into()),
    );
    let malformed = move || tab.counters.get_untracked().rejected(Rejection::Malformed);
    // Alone on its channel, the tab comes to lead, which shows at once; only then post.
    assert!(leads_soon(&tab).await, "the only tab leads");
    let garbage = web_sys::BroadcastChannel::new("folded-waits").expect("a channel");
    for _ in 0..5 {
        garbage
            .post_message(&"not json".into())
            .expect("posting works");
    }
    TimeoutFuture::new(400).await;
    assert_eq!(malformed(), 0, "nothing shows the counters: they wait");
    shown.set(true);
    // The effect that catches up runs once the signal's subscribers are told (a microtask).
    TimeoutFuture::new(0).await;
    assert_eq!(
        malformed(),
        5,
        "shown, everything counted meanwhile, at once"
    );
    // And from then on they refresh as usual.
    garbage
        .post_message(&"not json".into())
        .expect("posting works");
    TimeoutFuture::new(300).await;
    assert_eq!(malformed(), 6, "shown, they refresh");
    garbage.close();
    owner.cleanup();
}

/// Makes the test page say it is hidden (`visible: false`) as a background tab's does, or
/// visible again, and tells its listeners, as the browser would.
fn emulate_visibility(visible: bool) {
    use js_sys::{Object, Reflect};
    use wasm_bindgen::JsValue;

    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    for (property, hidden_value) in [
        ("visibilityState", JsValue::from_str("hidden")),
        ("hidden", JsValue::TRUE),
    ] {
        if visible {
            // The page's own property again.
            let _ = Reflect::delete_property(&document, &property.into());
        } else {
            let descriptor = Object::new();
            Reflect::set(&descriptor, &"configurable".into(), &true.into()).expect("an object");
            Reflect::set(&descriptor, &"value".into(), &hidden_value).expect("an object");
            Object::define_property(&document, &property.into(), &descriptor);
        }
    }
    let event = web_sys::Event::new("visibilitychange").expect("an event");
    document.dispatch_event(&event).expect("dispatched");
}

/// Whether the tab behind `conclave` leads, and writes the store it has claimed, within 3 s
/// (checked every 10 ms).
async fn leads_soon(conclave: &conclave::UseConclaveReturn) -> bool {
    use leptos::prelude::GetUntracked as _;
    for _ in 0..300 {
        // Leading, and writing the store it has claimed: that claim shows at once too, and
        // would otherwise land in the middle of what a test measures next.
        let writing = conclave
            .snapshot
            .get_untracked()
            .is_some_and(|s| s.store.writing);
        if conclave.is_leader.get_untracked() && writing {
            return true;
        }
        TimeoutFuture::new(10).await;
    }
    false
}

/// The rows of the list in `root`, in order: (message id, author, the author shown, text).
fn rows_in(root: &web_sys::Element) -> Vec<(String, String, String, String)> {
    let rows = root
        .query_selector_all("[data-testid=message]")
        .expect("a valid selector");
    (0..rows.length())
        .filter_map(|i| rows.item(i))
        .filter_map(|node| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(node).ok())
        .map(|row| {
            let part = |selector: &str| {
                row.query_selector(selector)
                    .ok()
                    .flatten()
                    .and_then(|e| e.text_content())
                    .unwrap_or_default()
            };
            (
                row.get_attribute("data-message-id").unwrap_or_default(),
                row.get_attribute("data-author").unwrap_or_default(),
                part(".author"),
                part(".text"),
            )
        })
        .collect()
}

/// A `PostList` of `posts`, mounted in a `div` of its own at the end of the page: the `div`,
/// and the handle that keeps it mounted.
fn mount_post_list(
    posts: leptos::prelude::Memo<(usize, Vec<conclave::view_model::PostRow>)>,
) -> (
    web_sys::Element,
    leptos::mount::UnmountHandle<impl leptos::tachys::view::Mountable>,
) {
    use conclave::components::PostList;
    use leptos::prelude::*;

    mount_in_page(move || view! { <PostList posts /> })
}

/// What `view` makes, mounted in a `div` of its own at the end of the page: the `div`, and the
/// handle that keeps it mounted.
fn mount_in_page<N: leptos::prelude::IntoView>(
    view: impl FnOnce() -> N + 'static,
) -> (
    web_sys::Element,
    leptos::mount::UnmountHandle<<N as leptos::tachys::view::Render>::State>,
) {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let root = document.create_element("div").expect("a div");
    document
        .body()
        .expect("a body")
        .append_child(&root)
        .expect("appended");
    let html: web_sys::HtmlElement = wasm_bindgen::JsCast::unchecked_into(root.clone());
    let mounted = leptos::mount::mount_to(html, view);
    (root, mounted)
}

#[wasm_bindgen_test]
async fn the_list_of_messages_builds_each_row_once_and_keeps_the_order() {
    use conclave::view_model::PostRow;
    use conclave_web::{ItemId, TabId};
    use leptos::prelude::*;

    let (me, other) = (TabId::from_bytes([1; 16]), TabId::from_bytes([2; 16]));
    let row = |number: u64| PostRow {
        id: ItemId { tab: me, number },
        author: if number.is_multiple_of(2) { me } else { other },
        mine: number.is_multiple_of(2),
        text: format!("<b>message {number}</b>"),
    };
    let rows = RwSignal::new((1..=3).map(row).collect::<Vec<_>>());
    let posts = Memo::new(move |_| (0, rows.get()));
    let (root, _mounted) = mount_post_list(posts);
    let settle = || TimeoutFuture::new(0);
    settle().await;
    let shown = rows_in(&root);
    let ids = |shown: &[(String, String, String, String)]| {
        shown
            .iter()
            .map(|(id, ..)| id.rsplit('.').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&shown), ["1", "2", "3"]);
    assert_eq!(shown[0].1, other.to_string());
    assert_eq!(shown[0].2, other.short());
    assert_eq!(shown[1].2, "you");
    // Text, never markup.
    assert_eq!(shown[0].3, "<b>message 1</b>");
    assert!(root.query_selector("b").expect("a selector").is_none());
    // Each row a node of its own: mark the second, which must stay the same node throughout.
    let second = root
        .query_selector("[data-testid=message]:nth-child(2)")
        .ok()
        .flatten()
        .expect("a second row");
    second
        .set_attribute("data-marked", "")
        .expect("an attribute");

    // The oldest goes, two come at the end (a commit heard); then an earlier one at the start
    // (read from the store), and one between two that stay.
    rows.set(vec![row(2), row(3), row(4), row(5)]);
    settle().await;
    assert_eq!(ids(&rows_in(&root)), ["2", "3", "4", "5"]);
    rows.set(vec![row(0), row(2), row(3), row(4), row(5)]);
    settle().await;
    assert_eq!(ids(&rows_in(&root)), ["0", "2", "3", "4", "5"]);
    rows.set(vec![row(0), row(2), row(3), row(7), row(4), row(5)]);
    settle().await;
    assert_eq!(ids(&rows_in(&root)), ["0", "2", "3", "7", "4", "5"]);
    let marked = root
        .query_selector_all("[data-marked]")
        .expect("a selector");
    assert_eq!(
        marked.length(),
        1,
        "the row of message 2 was never built again"
    );
    assert_eq!(
        marked
            .item(0)
            .and_then(|n| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(n).ok())
            .and_then(|e| e.get_attribute("data-message-id")),
        Some(ItemId { tab: me, number: 2 }.to_string())
    );

    // Out of order (not what a session gives, but drawn as asked), then nothing.
    rows.set(vec![row(5), row(2), row(0)]);
    settle().await;
    assert_eq!(ids(&rows_in(&root)), ["5", "2", "0"]);
    assert_eq!(
        root.query_selector_all("[data-marked]")
            .expect("a selector")
            .length(),
        1
    );
    rows.set(Vec::new());
    settle().await;
    assert!(rows_in(&root).is_empty());
    assert_eq!(
        root.query_selector("[data-testid=messages]")
            .ok()
            .flatten()
            .map(|list| list.child_element_count()),
        Some(0)
    );
}

/// The message pane in `root`, and whether it shows its last row.
fn pane_in(root: &web_sys::Element) -> (web_sys::Element, bool) {
    let pane = root
        .query_selector("[data-testid=message-pane]")
        .ok()
        .flatten()
        .expect("a message pane");
    let last = pane.scroll_top() + pane.client_height() + 2 >= pane.scroll_height();
    (pane, last)
}

/// Waits up to a second (many frames) for `check`; whether it holds.
async fn frames_until(check: impl Fn() -> bool) -> bool {
    for _ in 0..60 {
        if check() {
            return true;
        }
        TimeoutFuture::new(16).await;
    }
    check()
}

#[wasm_bindgen_test]
async fn the_message_pane_shows_the_latest_and_follows_new_ones_unless_scrolled_up() {
    use conclave::view_model::PostRow;
    use conclave_web::{ItemId, TabId};
    use leptos::prelude::*;

    let me = TabId::from_bytes([3; 16]);
    let row = move |number: u64| PostRow {
        id: ItemId { tab: me, number },
        author: me,
        mine: true,
        text: format!("message {number}"),
    };
    let upto = RwSignal::new(30u64);
    let posts = Memo::new(move |_| (0, (1..=upto.get()).map(row).collect::<Vec<_>>()));
    let (root, _mounted) = mount_post_list(posts);
    // Rows up to `n`, once drawn (then the pane may follow at the next frame).
    let show = |n: u64| {
        upto.set(n);
        let root = root.clone();
        async move {
            let last = Some(format!("message {n}"));
            while rows_in(&root).last().map(|r| r.3.clone()) != last {
                TimeoutFuture::new(0).await;
            }
        }
    };
    show(30).await;
    // The page's style sheet is not loaded here: the pane is given its height and scroll.
    let (pane, _) = pane_in(&root);
    pane.set_attribute("style", "height: 100px; overflow-y: auto")
        .expect("a style");
    show(31).await;
    assert!(
        frames_until(|| pane_in(&root).1).await,
        "the pane opens at its last row"
    );
    assert!(pane.scroll_top() > 0, "30 rows are taller than 100 px");

    let before = pane.scroll_top();
    show(40).await;
    assert!(
        frames_until(|| pane_in(&root).1 && pane.scroll_top() > before).await,
        "it follows new rows"
    );

    // A person scrolls up: new rows come, the pane stays where it was put. Also when the
    // rows come before the frame that tells of the scroll.
    pane.set_scroll_top(0);
    show(45).await;
    TimeoutFuture::new(100).await;
    show(50).await;
    TimeoutFuture::new(200).await;
    assert_eq!(pane.scroll_top(), 0, "scrolled up, the pane is left there");
    assert!(!pane_in(&root).1);

    // Back at the last row, it follows again.
    pane.set_scroll_top(pane.scroll_height());
    TimeoutFuture::new(100).await;
    show(60).await;
    assert!(
        frames_until(|| pane_in(&root).1).await,
        "back at its last row, it follows again"
    );
}

#[wasm_bindgen_test]
async fn a_message_list_gone_before_its_next_frame_does_not_panic() {
    use conclave::view_model::PostRow;
    use conclave_web::{ItemId, TabId};
    use leptos::prelude::*;

    let panics = Panics::count();
    let me = TabId::from_bytes([4; 16]);
    let rows = (1..=3)
        .map(|number| PostRow {
            id: ItemId { tab: me, number },
            author: me,
            mine: true,
            text: format!("message {number}"),
        })
        .collect::<Vec<_>>();
    let posts = Memo::new(move |_| (0, rows.clone()));
    let (root, mounted) = mount_post_list(posts);
    // Drawn (the effects run as microtasks): the pane's scroll to its last row waits for the
    // next frame. The list goes first, as when another session is opened.
    for _ in 0..4 {
        leptos::task::tick().await;
    }
    assert_eq!(rows_in(&root).len(), 3);
    drop(mounted);
    TimeoutFuture::new(100).await;
    assert_eq!(panics.seen(), 0, "the frame after the list went");
}

#[wasm_bindgen_test]
async fn a_session_gone_before_the_frame_that_refocuses_its_rename_button_does_not_panic() {
    use conclave::components::SessionsSidebar;
    use conclave_web::{Change, ItemId, Op, Refusal, TabId, View};
    use leptos::prelude::*;

    let panics = Panics::count();
    let me = TabId::from_bytes([5; 16]);
    let id = ItemId { tab: me, number: 1 };
    let mut view = View::default();
    view.apply(
        1,
        &[Change::Created {
            id,
            title: "going".to_owned(),
        }],
    );
    let view = RwSignal::new(view);
    let outline = RwSignal::new(0_u64);
    let workspace = conclave::Workspace::new(view.into(), outline.into());
    let active = RwSignal::new(None::<ItemId>);
    let request = Callback::new(|_: Op| Err::<u64, Refusal>(Refusal::Busy));

    let (root, mounted) =
        mount_in_page(move || view! { <SessionsSidebar workspace active request /> });
    let click = |testid: &str| {
        let button = root
            .query_selector(&format!("[data-testid={testid}]"))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("a {testid} button"));
        wasm_bindgen::JsCast::unchecked_ref::<web_sys::HtmlElement>(&button).click();
    };
    click("rename-session");
    TimeoutFuture::new(50).await;
    // Cancelled: the rename button gets the focus back at the next frame. The session goes
    // first (deleted from another tab), and its line with it.
    click("rename-cancel");
    view.update(|view| view.apply(2, &[Change::Deleted { id }]));
    outline.update(|n| *n += 1);
    for _ in 0..4 {
        leptos::task::tick().await;
    }
    assert!(
        root.query_selector("[data-testid=session]")
            .ok()
            .flatten()
            .is_none(),
        "the session's line is gone"
    );
    TimeoutFuture::new(100).await;
    assert_eq!(panics.seen(), 0, "the frame after the session went");
    drop(mounted);
}

/// Counts the panics from its making until it is dropped (one outside a test's own future, in
/// a frame's callback, only logs), passing each on to the hook before it, which it then puts
/// back.
struct Panics {
    previous: Option<std::sync::Arc<PanicHook>>,
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Panics {
    fn count() -> Self {
        PANICS.store(0, std::sync::atomic::Ordering::SeqCst);
        let previous = std::sync::Arc::new(std::panic::take_hook());
        let hook = std::sync::Arc::clone(&previous);
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            hook(info);
        }));
        Self {
            previous: Some(previous),
        }
    }

    fn seen(&self) -> usize {
        PANICS.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Panics {
    fn drop(&mut self) {
        // A panicking thread may not change the hook; the test fails then anyway.
        if std::thread::panicking() {
            return;
        }
        drop(std::panic::take_hook());
        if let Some(previous) = self
            .previous
            .take()
            .and_then(|p| std::sync::Arc::try_unwrap(p).ok())
        {
            std::panic::set_hook(previous);
        }
    }
}
