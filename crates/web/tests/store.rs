//! The engine's store operations on the real IndexedDB of a headless Chromium page: what a
//! commit writes is what a read gives back, a commit is one strict transaction however many
//! records it holds, and a refused commit changes nothing, its ledger included.
#![cfg(target_arch = "wasm32")]

use conclave_core::data::store::{LedgerRecord, MessageRecord, SessionRecord, Write};
use conclave_core::data::{
    Commit, Image, ItemId, Ledger, Message, Outcome, StoreError, StoreOp, StoreResult,
};
use conclave_core::{TabId, Term};
use conclave_web::{read_messages, run_store_op, Db};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

async fn fresh(test: &str) -> Db {
    let name = format!(
        "conclave-store-{test}-{}-{}",
        js_sys::Date::now(),
        js_sys::Math::random()
    );
    Db::open(&name).await.expect("the database opens")
}

fn tab(n: u8) -> TabId {
    TabId::from_bytes([n; 16])
}

fn item(n: u8, number: u64) -> ItemId {
    ItemId {
        tab: tab(n),
        number,
    }
}

async fn read(db: &Db) -> Image {
    match run_store_op(db, StoreOp::Read).await {
        StoreResult::Read(Ok(image)) => image,
        other => panic!("a read: {other:?}"),
    }
}

async fn commit(db: &Db, term: Term, rev: u64, writes: Vec<Write>) -> Result<(), StoreError> {
    match run_store_op(db, StoreOp::Commit(Commit { term, rev, writes })).await {
        StoreResult::Committed { rev: r, result } => {
            assert_eq!(r, rev);
            result
        }
        other => panic!("a commit: {other:?}"),
    }
}

/// A session, `n` messages in it, and the writer's ledger saying requests up to `n + 1` are
/// consumed.
fn batch(session: ItemId, n: u64) -> Vec<Write> {
    let writer = session.tab;
    let mut writes = vec![Write::PutSession(SessionRecord {
        id: session,
        title: "Notes ✓ <b>".into(),
        created: 1,
    })];
    let mut ledger = Ledger::default();
    ledger.consume(1, Outcome::Applied);
    for order in 0..n {
        let id = ItemId {
            tab: writer,
            number: order + 2,
        };
        writes.push(Write::PutMessage(MessageRecord {
            session,
            order,
            message: Message {
                id,
                text: format!("message {order}"),
            },
        }));
        ledger.consume(order + 2, Outcome::Applied);
    }
    writes.push(Write::PutLedger(LedgerRecord {
        tab: writer,
        ledger,
    }));
    writes
}

/// A fresh store holding `sessions` (each with its number of messages, [`batch`]), committed
/// as revision 1 at the term returned.
async fn with_sessions(test: &str, sessions: &[(ItemId, u64)]) -> (Db, Term) {
    let db = fresh(test).await;
    let term = Term::new(1, tab(9));
    let writes = sessions.iter().flat_map(|&(id, n)| batch(id, n)).collect();
    commit(&db, term, 1, writes).await.expect("lands");
    (db, term)
}

#[wasm_bindgen_test]
async fn a_claim_then_a_commit_reads_back_as_written_in_one_strict_transaction() {
    let db = fresh("roundtrip").await;
    let term = Term::new(3, tab(9));
    match run_store_op(&db, StoreOp::Claim { term }).await {
        StoreResult::Claimed {
            term: t,
            result: Ok(image),
        } => {
            assert_eq!(t, term);
            assert_eq!(image.rev, 0);
            assert!(image.sessions.is_empty());
        }
        other => panic!("a claim: {other:?}"),
    }
    let session = item(1, 1);
    commit(&db, term, 1, batch(session, 100))
        .await
        .expect("the commit lands");
    assert_eq!(
        db.last_durability().as_deref(),
        Some("strict"),
        "commits ask for strict durability"
    );
    let image = read(&db).await;
    assert_eq!(image.rev, 1);
    assert_eq!(image.fence, term);
    let view = image.view();
    let stored = view.session(session).expect("the session is stored");
    assert_eq!(stored.title, "Notes ✓ <b>");
    // Group commit: all 100 messages of the one transaction, in order.
    assert_eq!(stored.messages.len(), 100);
    assert!(stored
        .messages
        .iter()
        .enumerate()
        .all(|(i, m)| m.text == format!("message {i}")));
    let ledgers = image.ledgers();
    assert_eq!(ledgers.get(&tab(1)).map(|l| l.number), Some(101));
}

#[wasm_bindgen_test]
async fn a_fenced_commit_changes_nothing_and_its_ledger_stays_as_it_was() {
    let db = fresh("fenced").await;
    let old = Term::new(3, tab(9));
    let new = Term::new(3, tab(10));
    let session = item(1, 1);
    commit(&db, old, 1, batch(session, 2))
        .await
        .expect("the first commit lands");
    let before = read(&db).await;
    // A later term claims the store: the older leader's next commit is refused whole.
    assert!(matches!(
        run_store_op(&db, StoreOp::Claim { term: new }).await,
        StoreResult::Claimed { result: Ok(_), .. }
    ));
    let late = commit(&db, old, 2, batch(item(2, 1), 5)).await;
    assert_eq!(late, Err(StoreError::Fenced { stored: new }));
    let after = read(&db).await;
    assert_eq!(after.sessions, before.sessions);
    assert_eq!(after.messages, before.messages);
    assert_eq!(
        after.ledgers, before.ledgers,
        "the dedup record is unchanged"
    );
    assert_eq!(after.rev, 1);
    // The same term, and a later one, may still commit.
    commit(&db, new, 2, batch(item(3, 1), 1))
        .await
        .expect("the new leader commits");
    assert_eq!(read(&db).await.rev, 2);
}

#[wasm_bindgen_test]
async fn deleting_a_session_removes_its_messages_and_no_other() {
    let (a, b) = (item(1, 1), item(2, 1));
    let (db, term) = with_sessions("delete", &[(a, 3), (b, 2)]).await;
    commit(&db, term, 2, vec![Write::DeleteSession(a)])
        .await
        .expect("lands");
    let image = read(&db).await;
    assert_eq!(
        image.sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![b]
    );
    assert_eq!(image.messages.len(), 2);
    assert!(image.messages.iter().all(|m| m.session == b));
}

/// A read of the store takes every session's count and only its latest 100 messages (the
/// others are read as they are drawn): a view of it counts them all and holds those.
#[wasm_bindgen_test]
async fn a_read_takes_each_sessions_count_and_its_latest_messages() {
    let (a, b, empty) = (item(1, 1), item(2, 1), item(3, 1));
    let (db, _) = with_sessions("window", &[(a, 250), (b, 3), (empty, 0)]).await;
    let image = read(&db).await;
    assert_eq!(image.counts.get(&a), Some(&250));
    assert_eq!(image.counts.get(&b), Some(&3));
    assert_eq!(image.counts.get(&empty), Some(&0));
    let view = image.into_view();
    let (a, b) = (
        view.session(a).expect("a is read"),
        view.session(b).expect("b is read"),
    );
    assert_eq!((a.count, a.from, a.messages.len()), (250, 150, 100));
    assert_eq!(a.messages[0].text, "message 150");
    assert_eq!(a.messages[99].text, "message 249");
    assert!(b.holds_all());
    assert_eq!(view.session(empty).map(|s| s.count), Some(0));
    assert_eq!(view.message_count(), 253);
}

/// A session's messages read by place (what a tab draws and was told of only by its size): the
/// range asked, in order, across pages; as many as there are past the end; none of a session
/// deleted; another session's never.
#[wasm_bindgen_test]
async fn messages_read_by_place_are_the_range_asked_in_order() {
    let (a, b) = (item(1, 1), item(2, 1));
    let (db, term) = with_sessions("places", &[(a, 1_200), (b, 2)]).await;
    let texts =
        |messages: Vec<Message>| -> Vec<String> { messages.into_iter().map(|m| m.text).collect() };
    let expect = |places: std::ops::Range<u64>| -> Vec<String> {
        places.map(|n| format!("message {n}")).collect()
    };
    let read = |session, from, to| read_messages(&db, session, from, to);
    assert_eq!(texts(read(a, 0, 3).await.expect("read")), expect(0..3));
    // Across the 500-record pages of a read.
    assert_eq!(
        texts(read(a, 499, 1_001).await.expect("read")),
        expect(499..1_001)
    );
    assert_eq!(
        texts(read(a, 1_198, 1_300).await.expect("read")),
        expect(1_198..1_200)
    );
    assert_eq!(texts(read(b, 0, 5).await.expect("read")), expect(0..2));
    assert!(read(a, 7, 7).await.expect("read").is_empty());
    commit(&db, term, 2, vec![Write::DeleteSession(a)])
        .await
        .expect("lands");
    assert!(read(a, 0, 10).await.expect("read").is_empty());
}

/// A staged file reads back chunk by chunk as written, an import's record reads back with
/// the image, and the commit that ends the import takes the staged chunks with it.
#[wasm_bindgen_test]
async fn a_staged_file_reads_back_and_goes_with_the_commit_that_ends_its_import() {
    use conclave_core::data::store::TaskRecord;
    use conclave_core::data::{Cursor, Format, Task, TaskState};
    let db = fresh("staging").await;
    let chunks = vec![vec![1u8, 2, 3], vec![0xff; 70_000]];
    db.stage("stage-1", 0, &chunks).await.expect("stages");
    for (index, chunk) in chunks.iter().enumerate() {
        let op = StoreOp::ReadChunk {
            task: item(1, 2),
            stage: "stage-1".into(),
            index: index as u64,
        };
        match run_store_op(&db, op).await {
            StoreResult::Chunk {
                result: Ok(bytes),
                index: i,
                ..
            } => {
                assert_eq!(i, index as u64);
                assert_eq!(&bytes, chunk);
            }
            other => panic!("a chunk read: {other:?}"),
        }
    }
    let task = Task {
        id: item(1, 2),
        session: item(1, 1),
        name: "notes.txt".into(),
        format: Format::Lines,
        stage: "stage-1".into(),
        chunks: 2,
        bytes: 70_003,
        chunks_done: 2,
        records: 0,
        state: TaskState::Done,
    };
    let mut writes = batch(item(1, 1), 1);
    writes.push(Write::PutTask(TaskRecord {
        task: task.clone(),
        cursor: Cursor::default(),
    }));
    writes.push(Write::DeleteStage("stage-1".into()));
    commit(&db, Term::new(1, tab(1)), 1, writes)
        .await
        .expect("commits");
    let image = read(&db).await;
    assert_eq!(image.tasks.len(), 1);
    assert_eq!(image.tasks[0].task, task);
    let gone = StoreOp::ReadChunk {
        task: item(1, 2),
        stage: "stage-1".into(),
        index: 0,
    };
    match run_store_op(&db, gone).await {
        StoreResult::Chunk { result: Err(_), .. } => {}
        other => panic!("the staged chunks are gone: {other:?}"),
    }
}
