//! The IndexedDB layer on the real IndexedDB of a headless Chromium page.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;

use conclave_web::{Db, IdbError, Write};
use futures_channel::oneshot;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::IdbRequestReadyState;

wasm_bindgen_test_configure!(run_in_browser);

/// A database name no other test (and no earlier run in the same profile) has used.
fn fresh(test: &str) -> String {
    format!(
        "conclave-test-{test}-{}-{}",
        js_sys::Date::now(),
        js_sys::Math::random()
    )
}

/// A message key: `[session, order]`.
fn message_key(session: &str, order: u32) -> JsValue {
    Array::of2(&session.into(), &order.into()).into()
}

/// The message range of one session: `[session]..=[session, []]`.
fn session_range(session: &str) -> (JsValue, JsValue) {
    let lower = Array::of1(&session.into());
    let upper = Array::of2(&session.into(), &Array::new());
    (lower.into(), upper.into())
}

fn put(store: &'static str, key: impl Into<JsValue>, value: impl Into<JsValue>) -> Write {
    Write::Put {
        store,
        key: key.into(),
        value: value.into(),
    }
}

/// A message key back as `(session, order)`.
fn as_message_key(key: &JsValue) -> (String, f64) {
    let key = Array::from(key);
    let session = key.get(0).as_string().expect("the session is a string");
    let order = key.get(1).as_f64().expect("the order is a number");
    (session, order)
}

/// String keys of one store's records.
fn string_keys(records: &[(JsValue, JsValue)]) -> Vec<String> {
    records
        .iter()
        .map(|(key, _)| key.as_string().expect("a string key"))
        .collect()
}

/// The fence record in `meta`, if any.
async fn stored_fence(db: &Db) -> Option<String> {
    let stores = db.read(&["meta"]).await.expect("meta reads");
    stores[0]
        .iter()
        .find(|(key, _)| key.as_string().as_deref() == Some("fence"))
        .and_then(|(_, value)| value.as_string())
}

/// Waits up to `ms` milliseconds for `condition`, checking every 10 ms.
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
async fn a_commit_reads_back_in_key_order_from_every_store() {
    let db = Db::open(&fresh("order")).await.expect("opens");
    let note = Object::new();
    Reflect::set(&note, &"title".into(), &"plan".into()).expect("a plain object");
    let writes = vec![
        put("sessions", "b", "session b"),
        put("sessions", "a", note),
        put("messages", message_key("s1", 2), "s1 second"),
        put("messages", message_key("s1", 1), "s1 first"),
        put("messages", message_key("s0", 7), "s0 only"),
        put("meta", "version", 1),
    ];
    db.commit(&fence(1), writes).await.expect("commits");

    let stores = db
        .read(&["sessions", "messages", "meta"])
        .await
        .expect("reads");
    assert_eq!(stores.len(), 3, "one Vec per store asked for");

    assert_eq!(string_keys(&stores[0]), ["a", "b"]);
    let title = Reflect::get(&stores[0][0].1, &"title".into()).expect("an object");
    assert_eq!(title.as_string().as_deref(), Some("plan"));
    assert_eq!(stores[0][1].1.as_string().as_deref(), Some("session b"));

    let keys: Vec<_> = stores[1].iter().map(|(k, _)| as_message_key(k)).collect();
    assert_eq!(
        keys,
        [("s0".into(), 7.0), ("s1".into(), 1.0), ("s1".into(), 2.0)]
    );
    let values: Vec<_> = stores[1].iter().map(|(_, v)| v.as_string()).collect();
    assert_eq!(
        values,
        [Some("s0 only"), Some("s1 first"), Some("s1 second")].map(|v| v.map(String::from))
    );

    assert_eq!(string_keys(&stores[2]), ["fence", "version"]);
    assert_eq!(
        stores[2][0].1.as_string(),
        Some(fence(1)),
        "the fence is the term"
    );

    // A later commit deletes one session; the other stays.
    let delete = Write::Delete {
        store: "sessions",
        key: "b".into(),
    };
    db.commit(&fence(1), vec![delete]).await.expect("commits");
    let stores = db.read(&["sessions"]).await.expect("reads");
    assert_eq!(string_keys(&stores[0]), ["a"]);
}

#[wasm_bindgen_test]
async fn last_durability_is_strict_after_a_commit() {
    let db = Db::open(&fresh("durability")).await.expect("opens");
    assert_eq!(db.last_durability(), None, "no transaction yet");
    db.commit(&fence(1), vec![put("meta", "k", "v")])
        .await
        .expect("commits");
    assert_eq!(db.last_durability().as_deref(), Some("strict"));
}

#[wasm_bindgen_test]
async fn a_group_commit_of_100_puts_lands_whole() {
    let db = Db::open(&fresh("group")).await.expect("opens");
    let writes = (0..100)
        .map(|order| put("messages", message_key("s", order), order))
        .collect();
    db.commit(&fence(1), writes).await.expect("commits");
    let stores = db.read(&["messages"]).await.expect("reads");
    assert_eq!(stores[0].len(), 100);
    for (order, (key, value)) in stores[0].iter().enumerate() {
        assert_eq!(as_message_key(key), ("s".into(), order as f64));
        assert_eq!(value.as_f64(), Some(order as f64));
    }
}

#[wasm_bindgen_test]
async fn a_large_store_is_read_whole_in_order_a_page_at_a_time() {
    let db = Db::open(&fresh("pages")).await.expect("opens");
    let writes = (0..1_250)
        .map(|order| put("messages", message_key("s", order), order))
        .collect();
    db.commit(&fence(1), writes).await.expect("commits");
    let mut pages = Vec::new();
    db.read_pages(&["sessions", "messages"], |store, page| {
        pages.push((store, page));
    })
    .await
    .expect("reads");
    let sizes: Vec<(usize, usize)> = pages.iter().map(|(s, p)| (*s, p.len())).collect();
    assert_eq!(sizes, [(0, 0), (1, 500), (1, 500), (1, 250)]);
    let messages: Vec<&(JsValue, JsValue)> = pages
        .iter()
        .filter(|(store, _)| *store == 1)
        .flat_map(|(_, page)| page)
        .collect();
    for (order, (key, value)) in messages.iter().enumerate() {
        assert_eq!(as_message_key(key), ("s".into(), order as f64));
        assert_eq!(value.as_f64(), Some(order as f64));
    }
    let stores = db.read(&["messages"]).await.expect("reads");
    assert_eq!(stores[0].len(), 1_250);
}

#[wasm_bindgen_test]
async fn a_failing_transaction_leaves_every_store_and_the_fence_unchanged() {
    let db = Db::open(&fresh("atomic")).await.expect("opens");
    db.commit(&fence(3), vec![put("sessions", "a", "kept")])
        .await
        .expect("commits");

    // A value that cannot be cloned, after a good put, under a higher term.
    let function = js_sys::Function::new_no_args("return 1");
    let result = db
        .commit(
            &fence(9),
            vec![put("sessions", "b", "lost"), put("sessions", "c", function)],
        )
        .await;
    match result {
        Err(IdbError::Failed(reason)) => {
            assert!(reason.contains("DataCloneError"), "{reason}");
        }
        other => panic!("expected a DataCloneError, got {other:?}"),
    }

    // A range with lower > upper, after a good delete, under a higher term.
    let result = db
        .commit(
            &fence(9),
            vec![
                Write::Delete {
                    store: "sessions",
                    key: "a".into(),
                },
                Write::DeleteRange {
                    store: "messages",
                    lower: "z".into(),
                    upper: "a".into(),
                },
            ],
        )
        .await;
    match result {
        Err(IdbError::Failed(reason)) => assert!(reason.contains("DataError"), "{reason}"),
        other => panic!("expected a DataError, got {other:?}"),
    }

    let stores = db.read(&["sessions"]).await.expect("reads");
    assert_eq!(string_keys(&stores[0]), ["a"]);
    assert_eq!(stores[0][0].1.as_string().as_deref(), Some("kept"));
    assert_eq!(
        stored_fence(&db).await,
        Some(fence(3)),
        "the fence did not move"
    );
}

#[wasm_bindgen_test]
async fn a_lower_term_is_fenced_and_writes_nothing() {
    let db = Db::open(&fresh("fence")).await.expect("opens");
    db.commit(&fence(5), vec![put("sessions", "five", 5)])
        .await
        .expect("term 5 commits");

    let stale = db.commit(&fence(4), vec![put("sessions", "four", 4)]).await;
    assert_eq!(
        stale,
        Err(IdbError::Fenced {
            stored: fence(5),
            ours: fence(4)
        })
    );
    let stores = db.read(&["sessions"]).await.expect("reads");
    assert_eq!(
        string_keys(&stores[0]),
        ["five"],
        "the fenced put is absent"
    );
    assert_eq!(stored_fence(&db).await, Some(fence(5)));

    db.commit(&fence(5), vec![put("sessions", "five-again", 5)])
        .await
        .expect("the same term commits again");
    db.commit(&fence(6), vec![put("sessions", "six", 6)])
        .await
        .expect("a higher term commits");
    assert_eq!(stored_fence(&db).await, Some(fence(6)));
    let stale = db.commit(&fence(5), vec![]).await;
    assert_eq!(
        stale,
        Err(IdbError::Fenced {
            stored: fence(6),
            ours: fence(5)
        })
    );
    let stores = db.read(&["sessions"]).await.expect("reads");
    assert_eq!(string_keys(&stores[0]), ["five", "five-again", "six"]);
}

#[wasm_bindgen_test]
async fn delete_range_removes_exactly_one_sessions_messages() {
    let db = Db::open(&fresh("range")).await.expect("opens");
    // "s10" shares a prefix with "s1": array keys compare element-wise, so it must survive.
    let writes = ["s0", "s1", "s10"]
        .into_iter()
        .flat_map(|session| {
            (0..3).map(move |order| put("messages", message_key(session, order), order))
        })
        .collect();
    db.commit(&fence(1), writes).await.expect("commits");

    let (lower, upper) = session_range("s1");
    let delete = Write::DeleteRange {
        store: "messages",
        lower,
        upper,
    };
    db.commit(&fence(1), vec![delete]).await.expect("commits");

    let stores = db.read(&["messages"]).await.expect("reads");
    let keys: Vec<_> = stores[0].iter().map(|(k, _)| as_message_key(k)).collect();
    let expected: Vec<(String, f64)> = ["s0", "s10"]
        .into_iter()
        .flat_map(|session| (0..3).map(move |order| (session.to_owned(), f64::from(order))))
        .collect();
    assert_eq!(keys, expected);
}

#[wasm_bindgen_test]
async fn another_tabs_upgrade_closes_this_connection_instead_of_blocking() {
    let name = fresh("upgrade");
    let db = Db::open(&name).await.expect("opens");
    db.commit(&fence(1), vec![put("meta", "k", "v")])
        .await
        .expect("commits");

    // What a newer version of the app in another tab does.
    let factory = web_sys::window()
        .expect("a window")
        .indexed_db()
        .expect("indexedDB getter")
        .expect("indexedDB");
    // This build's schema is version 2; a newer build's would be 3.
    let upgrade = factory.open_with_u32(&name, 3).expect("open v3");
    let done = within(3_000, || {
        upgrade.ready_state() == IdbRequestReadyState::Done
    })
    .await;
    assert!(
        done,
        "the v3 open went through: the old connection closed itself"
    );
    assert!(upgrade.error().expect("settled").is_none(), "v3 opened");
    let newer: web_sys::IdbDatabase =
        wasm_bindgen::JsCast::unchecked_into(upgrade.result().expect("a db"));

    match db.commit(&fence(2), vec![put("meta", "k", "w")]).await {
        Err(IdbError::Unavailable(_)) => {}
        other => panic!("a closed connection is unavailable, got {other:?}"),
    }
    match Db::open(&name).await {
        Err(IdbError::Unavailable(reason)) => assert!(reason.contains("VersionError"), "{reason}"),
        other => panic!("version 2 cannot open a version 3 database, got {other:?}"),
    }
    newer.close();
}

#[wasm_bindgen_test]
async fn a_closed_db_is_unavailable() {
    let db = Db::open(&fresh("closed")).await.expect("opens");
    db.close();
    assert!(matches!(
        db.read(&["meta"]).await,
        Err(IdbError::Unavailable(_))
    ));
    assert!(matches!(
        db.commit(&fence(1), vec![]).await,
        Err(IdbError::Unavailable(_))
    ));
}

/// A fence string for term number `n` (fixed width, so strings order as numbers).
fn fence(n: u64) -> String {
    format!("{n:016x}")
}

#[wasm_bindgen_test]
async fn a_corrupt_fence_is_overwritten_not_obeyed() {
    let db = Db::open(&fresh("corrupt-fence")).await.expect("opens");
    // A fence no leader writes (a number past the highest term), then one that is no string:
    // each would fence every leader for ever if it were believed.
    for corrupt in [
        JsValue::from_str(&"f".repeat(48)),
        JsValue::from_str("zzzz"),
        JsValue::from_f64(42.0),
    ] {
        db.commit(&fence(3), vec![put("meta", "fence", corrupt)])
            .await
            .expect("the corrupt fence is written");
        db.commit(&fence(3), vec![put("sessions", "three", 3)])
            .await
            .expect("a leader's commit overwrites the corrupt fence");
        assert_eq!(stored_fence(&db).await, Some(fence(3)));
    }
    // A believable higher fence still fences.
    db.commit(&fence(9), Vec::new())
        .await
        .expect("term 9 commits");
    let stale = db.commit(&fence(3), Vec::new()).await;
    assert!(matches!(stale, Err(IdbError::Fenced { .. })), "{stale:?}");
}

/// Runs `Db::commit_after` at term 1 as a task of its own (placed when the task first runs,
/// in the order spawned): its result, once it has one.
fn spawn_commit_after(
    db: &Rc<Db>,
    base: u64,
    writes: Vec<Write>,
) -> oneshot::Receiver<Result<(), IdbError>> {
    let (send, receive) = oneshot::channel();
    let db = Rc::clone(db);
    wasm_bindgen_futures::spawn_local(async move {
        let _ = send.send(db.commit_after(&fence(1), base, writes).await);
    });
    receive
}

#[wasm_bindgen_test]
async fn a_commit_placed_behind_one_that_fails_writes_nothing() {
    let db = Rc::new(Db::open(&fresh("behind")).await.expect("opens"));
    // Revision 1, with a range the browser rejects: the whole commit fails.
    let (lower, upper) = session_range("s");
    let bad = Write::DeleteRange {
        store: "messages",
        lower: upper,
        upper: lower,
    };
    let first = spawn_commit_after(&db, 0, vec![put("meta", "rev", 1), bad]);
    // Revision 2, placed before the first is answered.
    let second = spawn_commit_after(&db, 1, vec![put("sessions", "b", 2), put("meta", "rev", 2)]);
    assert!(
        matches!(first.await, Ok(Err(IdbError::Failed(_)))),
        "the first fails"
    );
    assert_eq!(
        second.await,
        Ok(Err(IdbError::Behind { stored: 0, base: 1 })),
        "the second finds the store still at revision 0"
    );
    let stores = db.read(&["sessions"]).await.expect("reads");
    assert!(stores[0].is_empty(), "nothing of either is written");

    // Both again, the first sound: both land, in order.
    let first = spawn_commit_after(&db, 0, vec![put("sessions", "a", 1), put("meta", "rev", 1)]);
    let second = spawn_commit_after(&db, 1, vec![put("sessions", "b", 2), put("meta", "rev", 2)]);
    assert_eq!(first.await, Ok(Ok(())));
    assert_eq!(second.await, Ok(Ok(())));
    let stores = db.read(&["sessions"]).await.expect("reads");
    assert_eq!(string_keys(&stores[0]), ["a", "b"]);
    // A revision that is not a whole number is corrupt: not checked, overwritten.
    db.commit_after(&fence(1), 2, vec![put("meta", "rev", "two")])
        .await
        .expect("on revision 2");
    db.commit_after(&fence(1), 7, vec![put("meta", "rev", 8)])
        .await
        .expect("a corrupt revision is not checked");
    assert_eq!(
        db.commit_after(&fence(1), 7, vec![]).await,
        Err(IdbError::Behind { stored: 8, base: 7 })
    );
}
