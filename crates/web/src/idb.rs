//! The tab's durable store: one IndexedDB database with the object stores `sessions`,
//! `messages` and `meta`.
//!
//! Only the leader tab writes, and every write is one [`Db::commit`]: a single readwrite
//! transaction with durability `"strict"` that first checks the *fence* (the highest leader term
//! that ever committed, kept under the `meta` key `"fence"`) and then applies a batch of
//! [`Write`]s, all or nothing. A deposed leader that still believes it leads therefore cannot
//! overwrite what a newer leader wrote: its commit fails with [`IdbError::Fenced`]. Every tab may
//! [`Db::read`].
//!
//! Keys: `sessions` by a string (the session id), `messages` by the array key
//! `[sessionId, order]` (so one session's messages are the range `[s]..=[s, []]`, which
//! [`Write::DeleteRange`] removes in one step), `meta` by a string. Values are any structured-
//! clonable `JsValue`; the caller builds them with `serde-wasm-bindgen`.
//!
//! ## Why `indexed_db_futures`
//!
//! Style point 9 asks for a maintained IndexedDB crate, and `indexed_db_futures` 0.6 builds
//! with our pinned wasm-bindgen 0.2.130 / web-sys 0.3.107 and exposes the two things the
//! commit path needs: transaction durability (`TransactionDurability::Strict`) and an explicit
//! `commit()`. It also rolls a transaction back unless it is committed, which makes `?`
//! inside a transaction safe. Three things it does not expose, so this file reaches the
//! underlying `web_sys` objects through its `internals::SystemRepr::as_sys` (public but hidden
//! from its docs; checked against 0.6.4, the version in Cargo.lock):
//!
//! - `IDBTransaction.durability`, read back for [`Db::last_durability`];
//! - `IDBTransaction.error` after an abort that no request reported (a quota failure at
//!   commit time aborts the transaction with `QuotaExceededError` and no `error` event);
//! - the `versionchange` event of the open connection, which must close it at once so that a
//!   newer version of the app in another tab can upgrade the database.

use std::cell::RefCell;
use std::future::Future as _;
use std::pin::pin;
use std::task::Poll;

use conclave_core::Term;
use futures_channel::oneshot;
use gloo_events::EventListener;
use indexed_db_futures::database::Database;
use indexed_db_futures::error::{Error as CrateError, OpenDbError};
use indexed_db_futures::future::VoidRequest;
use indexed_db_futures::internals::SystemRepr as _;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{
    Transaction, TransactionDurability, TransactionMode, TransactionOptions,
};
use indexed_db_futures::KeyRange;
use wasm_bindgen::{JsCast as _, JsValue};

/// The schema version. Version 1 created the first three stores; version 2 adds `staging`.
const VERSION: u32 = 2;
/// The object store of sessions, keyed by session id (a string).
const SESSIONS: &str = "sessions";
/// The object store of messages, keyed by `[sessionId, order]`.
const MESSAGES: &str = "messages";
/// The object store of bookkeeping records, keyed by a string.
const META: &str = "meta";
/// The object store of files staged for import, keyed by `[stage, chunk index]`, each value a
/// `Uint8Array`.
pub(crate) const STAGING: &str = "staging";
/// How many records one request of [`Db::read_pages`] takes from a store: a page of the
/// app's messages is decoded in one task, and 2,000 of 460 bytes took over 50 ms there with
/// five tabs open.
const READ_PAGE: u32 = 500;
/// Every store, in the scope of each commit.
const STORES: [&str; 4] = [SESSIONS, MESSAGES, META, STAGING];
/// The `meta` key of the fence: the highest term that committed.
pub(crate) const FENCE: &str = "fence";
/// The `meta` key of the store's revision, a number ([`Db::commit_after`] checks it).
pub(crate) const REV: &str = "rev";

/// What went wrong with the tab's IndexedDB database.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdbError {
    /// The database cannot be used at all: the page has no `indexedDB` (some private modes,
    /// opaque origins), the browser refused to open it (for example because a newer version
    /// of the app already upgraded it), the open was `blocked` by a connection of another tab
    /// that would not close, or this connection has been closed (by [`Db::close`] or because
    /// another tab upgraded the database).
    #[error("indexedDB unavailable: {0}")]
    Unavailable(String),
    /// [`Db::commit`] found a fence (`stored`) above this writer's term (`ours`): a newer
    /// leader has committed since, so this tab's writes are stale. Nothing was written.
    #[error("fenced: term {ours} is below the stored fence {stored}")]
    Fenced {
        /// The fence found in `meta`.
        stored: String,
        /// The term the commit was made with.
        ours: String,
    },
    /// [`Db::commit_after`] found another revision (`stored`) in `meta` than the one its
    /// commit follows (`base`): the commit before it failed. Nothing was written.
    #[error("the store holds revision {stored}, not {base} that the commit follows")]
    Behind {
        /// The revision found in `meta` (absent: 0).
        stored: u64,
        /// The revision the commit follows.
        base: u64,
    },
    /// The browser's storage quota for the origin is used up; the transaction was aborted.
    #[error("storage quota exceeded")]
    QuotaExceeded,
    /// Any other failure, with the `DOMException` name and message (or the error's text): a
    /// value that cannot be cloned, an invalid key or key range, an unknown store, a
    /// or a transaction aborted by the browser.
    #[error("indexedDB failed: {0}")]
    Failed(String),
}

/// One change inside a [`Db::commit`].
#[derive(Debug, Clone)]
pub enum Write {
    /// Stores `value` under `key` in `store`, replacing any record there.
    Put {
        /// `"sessions"`, `"messages"` or `"meta"`.
        store: &'static str,
        /// A valid IndexedDB key (string, number, or array of keys).
        key: JsValue,
        /// Any structured-clonable value.
        value: JsValue,
    },
    /// Deletes the record under `key` in `store`, if there is one.
    Delete {
        /// `"sessions"`, `"messages"` or `"meta"`.
        store: &'static str,
        /// A valid IndexedDB key.
        key: JsValue,
    },
    /// Deletes every record whose key lies in [lower, upper] (inclusive) — used to delete a
    /// session's messages.
    ///
    /// A range with `lower` above `upper` is invalid: it fails the whole commit.
    DeleteRange {
        /// `"sessions"`, `"messages"` or `"meta"`.
        store: &'static str,
        /// The smallest key deleted, e.g. `[sessionId]`.
        lower: JsValue,
        /// The largest key deleted, e.g. `[sessionId, []]` (an array sorts above every number).
        upper: JsValue,
    },
}

/// One database, opened (and created or upgraded) with the object stores "sessions",
/// "messages" and "meta".
///
/// The connection closes on [`Db::close`], on drop, and by itself when another tab asks to
/// upgrade the database (`versionchange`); after that every call fails with
/// [`IdbError::Unavailable`].
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> Result<(), conclave_web::IdbError> {
/// use conclave_web::{Db, Write};
/// use wasm_bindgen::JsValue;
///
/// let db = Db::open("conclave").await?;
/// let key = js_sys::Array::of2(&"s1".into(), &JsValue::from(1)).into();
/// // The fence: a string that orders as the writers' terms do.
/// db.commit("0000000000000007", vec![Write::Put { store: "messages", key, value: "hello".into() }]).await?;
/// let stores = db.read(&["messages"]).await?;
/// assert_eq!(stores[0].len(), 1);
/// # Ok(())
/// # }
/// ```
#[must_use = "dropping the Db closes the connection"]
pub struct Db {
    db: Database,
    /// The `durability` of the last transaction this `Db` opened.
    last_durability: RefCell<Option<String>>,
    /// Closes the connection when another tab upgrades the database.
    _on_versionchange: EventListener,
}

impl Db {
    /// Opens the database `name` at version 1, creating its stores if it is new.
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] when the page has no `indexedDB`, the open is refused (an
    /// error or a newer version on disk) or `blocked` by another tab's connection. When
    /// blocked, the pending open is abandoned: should it go through later, its upgrade is
    /// aborted and its connection closed.
    pub async fn open(name: &str) -> Result<Db, IdbError> {
        let (blocked_tx, mut blocked_rx) = oneshot::channel::<()>();
        let request = Database::open(name)
            .with_version(VERSION)
            .with_on_blocked(move |_event| {
                // The receiver may be gone if the open already failed; nothing to tell then.
                let _ = blocked_tx.send(());
                Ok(())
            })
            .with_on_upgrade_needed(|_event, db| {
                let existing: Vec<String> = db.object_store_names().collect();
                for store in STORES {
                    if !existing.iter().any(|name| name == store) {
                        db.create_object_store(store).build()?;
                    }
                }
                Ok(())
            })
            .build()
            .map_err(open_error)?;
        let raw_request = request.as_sys().clone();
        // Whichever comes first: the open settles, or it is reported `blocked`.
        let opened = {
            let mut request = pin!(request);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(result) = request.as_mut().poll(cx) {
                    return Poll::Ready(Some(result));
                }
                match std::pin::Pin::new(&mut blocked_rx).poll(cx) {
                    Poll::Ready(Ok(())) => Poll::Ready(None),
                    // Pending, or the sender is gone: only the open itself can finish it now.
                    _ => Poll::Pending,
                }
            })
            .await
            // The request future drops here, and with it the crate's handlers on the request.
        };
        let Some(result) = opened else {
            abandon(&raw_request);
            return Err(IdbError::Unavailable(format!(
                "opening {name:?} is blocked by another tab's open connection"
            )));
        };
        let db = result.map_err(open_error)?;
        let connection = AsRef::<web_sys::IdbDatabase>::as_ref(db.as_sys()).clone();
        let on_versionchange =
            EventListener::new(&connection.clone(), "versionchange", move |_| {
                // Another tab wants a newer version: step aside, or its upgrade stays blocked.
                connection.close();
            });
        Ok(Db {
            db,
            last_durability: RefCell::new(None),
            _on_versionchange: on_versionchange,
        })
    }

    /// Every (key, value) of `store`, in key order, in one readonly transaction together with
    /// the others listed: returns one Vec per store name given.
    ///
    /// All stores are read from the same snapshot. An empty list reads nothing.
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] if the connection is closed; [`IdbError::Failed`] for an
    /// unknown store name or a failed read.
    pub async fn read(
        &self,
        stores: &[&'static str],
    ) -> Result<Vec<Vec<(JsValue, JsValue)>>, IdbError> {
        let mut out = vec![Vec::new(); stores.len()];
        self.read_pages(stores, |store, page| out[store].extend(page))
            .await?;
        Ok(out)
    }

    /// [`Db::read`], handing each store's records to `visit` a page of at most 500
    /// at a time, in key order, with the store's index in `stores`: each page arrives in a
    /// task of its own (its request's success), so a large store is read, and can be decoded,
    /// in steps that leave the page free to run in between.
    ///
    /// # Errors
    ///
    /// As [`Db::read`]; what was visited before the error is to be thrown away.
    pub async fn read_pages(
        &self,
        stores: &[&'static str],
        mut visit: impl FnMut(usize, Vec<(JsValue, JsValue)>),
    ) -> Result<(), IdbError> {
        if stores.is_empty() {
            return Ok(());
        }
        let reading = self.reading(stores)?;
        for (index, name) in stores.iter().enumerate() {
            reading.pages(name, |page| visit(index, page)).await?;
        }
        Ok(())
    }

    /// Begins a read-only transaction over `stores`: every read in it sees one snapshot.
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] if the connection is closed; [`IdbError::Failed`] for an
    /// unknown store name.
    pub fn reading(&self, stores: &[&'static str]) -> Result<Reading<'_>, IdbError> {
        let tx = self.db.transaction(stores).build().map_err(begin_error)?;
        self.remember_durability(&tx);
        Ok(Reading { tx })
    }

    /// One readwrite transaction with durability "strict" over sessions+messages+meta: reads
    /// meta key "fence" (a string that orders as the terms do, absent = ""); if it is greater
    /// than `term` (and believable: a corrupt fence is overwritten, see `fences`), aborts with
    /// IdbError::Fenced and writes nothing; otherwise puts meta "fence" = term, applies
    /// `writes` in order, calls `commit()` on the transaction, and resolves when `complete`
    /// fires (Err on `abort`/`error`, mapping QuotaExceededError to QuotaExceeded).
    /// All-or-nothing.
    ///
    /// Batch as many writes as possible into one call: each commit waits for the disk.
    ///
    /// # Errors
    ///
    /// - [`IdbError::Fenced`] when a higher term has committed;
    /// - [`IdbError::QuotaExceeded`] when the origin's storage is full;
    /// - [`IdbError::Unavailable`] when the connection is closed;
    /// - [`IdbError::Failed`] for anything else (a value that cannot be cloned, an invalid key
    ///   or range, an unknown store). In every error case nothing is written.
    pub async fn commit(&self, term: &str, writes: Vec<Write>) -> Result<(), IdbError> {
        self.commit_checked(term, None, writes).await
    }

    /// [`Db::commit`], which also fails, writing nothing, unless the `meta` key `"rev"` holds
    /// `base` (absent counts as 0; a value that is not a whole number, corrupt, is not
    /// checked): a commit placed before the one it follows is durable lands only if that one
    /// did. IndexedDB runs a page's readwrite transactions over the same stores in the order
    /// they were made, so a writer may place its next commit at once.
    ///
    /// # Errors
    ///
    /// As [`Db::commit`], and [`IdbError::Behind`] when the store holds another revision.
    pub async fn commit_after(
        &self,
        term: &str,
        base: u64,
        writes: Vec<Write>,
    ) -> Result<(), IdbError> {
        self.commit_checked(term, Some(base), writes).await
    }

    async fn commit_checked(
        &self,
        term: &str,
        base: Option<u64>,
        writes: Vec<Write>,
    ) -> Result<(), IdbError> {
        let tx = self.strict(&STORES)?;
        self.remember_durability(&tx);

        // The fence is asked for first and the writes placed behind it at once, not once it
        // is in: the transaction runs its requests in order, nothing commits before `commit`
        // below, and an abort on a higher fence undoes whatever ran. One round trip to the
        // store less per commit.
        let meta = match tx.object_store(META) {
            Ok(meta) => meta,
            Err(error) => return Err(abort(tx, failed(error)).await),
        };
        let fence = match meta.get::<JsValue, &str, &str>(FENCE).primitive() {
            Ok(fence) => fence,
            Err(error) => return Err(abort(tx, failed(error)).await),
        };
        let rev = match base.map(|_| meta.get::<JsValue, &str, &str>(REV).primitive()) {
            Some(Ok(rev)) => Some(rev),
            Some(Err(error)) => return Err(abort(tx, failed(error)).await),
            None => None,
        };
        // The request futures are kept, not awaited: the transaction's `complete` covers them.
        let pending = match apply(&tx, term, writes) {
            Ok(pending) => pending,
            Err(error) => return Err(abort(tx, error).await),
        };
        let stored = match fence.await {
            Ok(stored) => fence_text(stored),
            Err(error) => return Err(abort(tx, failed(error)).await),
        };
        if fences(&stored, term) {
            let ours = term.to_owned();
            return Err(abort(tx, IdbError::Fenced { stored, ours }).await);
        }
        if let (Some(rev), Some(base)) = (rev, base) {
            let stored = match rev.await {
                Ok(stored) => revision(stored),
                Err(error) => return Err(abort(tx, failed(error)).await),
            };
            if let Some(stored) = stored.filter(|&stored| stored != base) {
                return Err(abort(tx, IdbError::Behind { stored, base }).await);
            }
        }
        finish(tx, pending).await
    }

    /// A readwrite transaction over `stores` with durability "strict".
    fn strict(&self, stores: &[&'static str]) -> Result<Transaction<'_>, IdbError> {
        let options = TransactionOptions::new().with_durability(TransactionDurability::Strict);
        self.db
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .with_options(options)
            .build()
            .map_err(begin_error)
    }

    /// Stores `chunks` of the file staged as `stage`, from chunk `first` on, in one strict
    /// transaction of the `staging` store alone (staging is no leader's data: any tab may).
    ///
    /// # Errors
    ///
    /// [`IdbError::QuotaExceeded`] when the origin's storage is full;
    /// [`IdbError::Unavailable`] when the connection is closed; [`IdbError::Failed`] otherwise.
    pub async fn stage(&self, stage: &str, first: u64, chunks: &[Vec<u8>]) -> Result<(), IdbError> {
        let tx = self.strict(&[STAGING])?;
        let store = tx.object_store(STAGING).map_err(failed)?;
        let mut pending = Vec::with_capacity(chunks.len());
        for (i, chunk) in chunks.iter().enumerate() {
            let value: JsValue = js_sys::Uint8Array::from(chunk.as_slice()).into();
            let request = store
                .put(value)
                .with_key(chunk_key(stage, first + i as u64))
                .without_key_type()
                .primitive();
            match request {
                Ok(request) => pending.push(request),
                Err(error) => return Err(abort(tx, failed(error)).await),
            }
        }
        finish(tx, pending).await
    }

    /// Removes every chunk of the file staged as `stage` (none there is no error).
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] when the connection is closed; [`IdbError::Failed`] otherwise.
    pub async fn unstage(&self, stage: &str) -> Result<(), IdbError> {
        let tx = self.strict(&[STAGING])?;
        let store = tx.object_store(STAGING).map_err(failed)?;
        let request = store
            .delete::<JsValue, _>(KeyRange::Bound(
                chunk_key(stage, 0),
                false,
                chunk_key(stage, u64::from(u32::MAX)),
                false,
            ))
            .primitive();
        match request {
            Ok(request) => finish(tx, vec![request]).await,
            Err(error) => Err(abort(tx, failed(error)).await),
        }
    }

    /// The stages of every file staged now, each once, in order.
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] when the connection is closed; [`IdbError::Failed`] otherwise.
    pub async fn staged(&self) -> Result<Vec<String>, IdbError> {
        let mut stages: Vec<String> = Vec::new();
        self.read_keys(STAGING, |key| {
            let stage = js_sys::Array::from(&key).get(0).as_string();
            if let Some(stage) = stage.filter(|s| stages.last() != Some(s)) {
                stages.push(stage);
            }
        })
        .await?;
        Ok(stages)
    }

    /// Every key of `store`, in order, a page at a time, handed to `visit`.
    async fn read_keys(
        &self,
        store: &'static str,
        mut visit: impl FnMut(JsValue),
    ) -> Result<(), IdbError> {
        let tx = self.db.transaction(store).build().map_err(begin_error)?;
        let store = tx.object_store(store).map_err(failed)?;
        let least = JsValue::from_f64(f64::NEG_INFINITY);
        for_each_page(&store, false, (least, None), |page| {
            page.into_iter().for_each(|(key, _)| visit(key))
        })
        .await?;
        drop(tx);
        Ok(())
    }

    /// Chunk `index` of the file staged as `stage`, if it is there.
    ///
    /// # Errors
    ///
    /// [`IdbError::Unavailable`] when the connection is closed; [`IdbError::Failed`] for a
    /// failed read or a record that is not bytes.
    pub async fn read_chunk(&self, stage: &str, index: u64) -> Result<Option<Vec<u8>>, IdbError> {
        let tx = self.db.transaction(STAGING).build().map_err(begin_error)?;
        let store = tx.object_store(STAGING).map_err(failed)?;
        let value = store
            .get::<JsValue, JsValue, JsValue>(chunk_key(stage, index))
            .primitive()
            .map_err(failed)?
            .await
            .map_err(failed)?;
        drop(tx);
        match value {
            None => Ok(None),
            Some(value) if value.is_undefined() => Ok(None),
            Some(value) => value
                .dyn_ref::<js_sys::Uint8Array>()
                .map(|bytes| Some(bytes.to_vec()))
                .ok_or_else(|| IdbError::Failed("a staged chunk is not bytes".to_owned())),
        }
    }

    /// Whether the last transaction of this Db was opened with strict durability (read back
    /// from IDBTransaction.durability), for the tests.
    ///
    /// `Some("strict")` after a [`Db::commit`], `Some("default")` after a [`Db::read`],
    /// `None` before the first transaction or where the browser does not report durability.
    #[must_use]
    pub fn last_durability(&self) -> Option<String> {
        self.last_durability.borrow().clone()
    }

    /// Closes the connection (also on Drop).
    ///
    /// Transactions already running finish first; later calls fail with
    /// [`IdbError::Unavailable`]. Closing twice is harmless.
    pub fn close(&self) {
        let connection = AsRef::<web_sys::IdbDatabase>::as_ref(self.db.as_sys());
        connection.close();
    }

    /// Records `IDBTransaction.durability` of a transaction this `Db` just opened.
    fn remember_durability(&self, tx: &Transaction<'_>) {
        let raw = AsRef::<web_sys::IdbTransaction>::as_ref(tx.as_sys());
        let durability = js_sys::Reflect::get(raw, &JsValue::from_str("durability"))
            .ok()
            .and_then(|value| value.as_string());
        *self.last_durability.borrow_mut() = durability;
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("name", &self.db.name())
            .field("last_durability", &self.last_durability.borrow())
            .finish_non_exhaustive()
    }
}

/// A read-only transaction ([`Db::reading`]): every read in it sees one snapshot of the store.
/// Each read is asked for once the one before it is answered, which keeps the transaction
/// alive between them; dropped, it ends (it has nothing to commit).
pub struct Reading<'a> {
    tx: Transaction<'a>,
}

impl Reading<'_> {
    /// Every record of `store` as (key, value), in key order, handed to `visit` a page of at
    /// most 500 at a time, each page in a task of its own.
    ///
    /// # Errors
    ///
    /// [`IdbError::Failed`] for a store outside the transaction or a failed read.
    pub async fn pages(
        &self,
        store: &str,
        visit: impl FnMut(Vec<(JsValue, JsValue)>),
    ) -> Result<(), IdbError> {
        let store = self.tx.object_store(store).map_err(failed)?;
        // The least key there is, so that the first page needs no range of its own.
        let least = JsValue::from_f64(f64::NEG_INFINITY);
        for_each_page(&store, true, (least, None), visit).await
    }

    /// The values of `store` with keys from `lower` (included) to `upper` (left out), in key
    /// order, read a page at a time.
    ///
    /// # Errors
    ///
    /// As [`Reading::pages`].
    pub async fn range(
        &self,
        store: &str,
        lower: JsValue,
        upper: JsValue,
    ) -> Result<Vec<JsValue>, IdbError> {
        let store = self.tx.object_store(store).map_err(failed)?;
        let mut out = Vec::new();
        for_each_page(&store, true, (lower, Some(upper)), |page| {
            out.extend(page.into_iter().map(|(_, value)| value));
        })
        .await?;
        Ok(out)
    }

    /// How many records of `store` have keys from `lower` (included) to `upper` (left out).
    ///
    /// # Errors
    ///
    /// As [`Reading::pages`].
    pub async fn count(
        &self,
        store: &str,
        lower: JsValue,
        upper: JsValue,
    ) -> Result<u64, IdbError> {
        let store = self.tx.object_store(store).map_err(failed)?;
        let count = store
            .count()
            .with_query::<JsValue, _>(KeyRange::Bound(lower, false, upper, true))
            .primitive()
            .map_err(failed)?
            .await
            .map_err(failed)?;
        Ok(u64::from(count))
    }
}

/// Commits `tx`, whose requests are `pending` (kept, not awaited: the transaction's `complete`
/// covers them), and resolves when it is durable.
async fn finish(tx: Transaction<'_>, pending: Vec<VoidRequest>) -> Result<(), IdbError> {
    let raw = AsRef::<web_sys::IdbTransaction>::as_ref(tx.as_sys()).clone();
    let result = tx.commit().await;
    drop(pending);
    result.map_err(|error| match error {
        CrateError::DomException(_) => failed(error),
        // Aborted without a failing request (a quota or I/O failure at commit time): the
        // reason is on the transaction.
        other => raw
            .error()
            .map_or_else(|| failed(other), |dom| from_dom(&dom)),
    })
}

/// Reads all of `store` a page of at most [`READ_PAGE`] at a time, in key order, handing each
/// page to `visit` (its keys, and with `values` their values; without, `undefined`), over the
/// keys `(lower, upper)`: from `lower` (included) to `upper` (left out; none: to the end). Each
/// page is asked for once the last one is in, within the caller's transaction (one snapshot
/// throughout), and arrives in a task of its own.
async fn for_each_page(
    store: &ObjectStore<'_>,
    values: bool,
    (lower, upper): (JsValue, Option<JsValue>),
    mut visit: impl FnMut(Vec<(JsValue, JsValue)>),
) -> Result<(), IdbError> {
    let range = |lower: JsValue, open: bool| match &upper {
        Some(upper) => KeyRange::Bound(lower, open, upper.clone(), true),
        None => KeyRange::LowerBound(lower, open),
    };
    let mut from = range(lower, false);
    loop {
        // Both requests before awaiting either: the transaction stays busy.
        let keys = store
            .get_all_keys::<JsValue>()
            .with_query::<JsValue, _>(from.clone())
            .with_limit(READ_PAGE)
            .primitive()
            .map_err(failed)?;
        let records = if values {
            let request = store
                .get_all::<JsValue>()
                .with_query::<JsValue, _>(from)
                .with_limit(READ_PAGE)
                .primitive()
                .map_err(failed)?;
            Some(request)
        } else {
            None
        };
        let keys = keys.await.map_err(failed)?;
        let mut page = Vec::new();
        match records {
            Some(records) => {
                for pair in keys.zip(records.await.map_err(failed)?) {
                    match pair {
                        (Ok(key), Ok(value)) => page.push((key, value)),
                        (Err(error), _) | (_, Err(error)) => return Err(failed(error)),
                    }
                }
            }
            None => {
                for key in keys {
                    page.push((key.map_err(failed)?, JsValue::UNDEFINED));
                }
            }
        }
        let last = page
            .last()
            .filter(|_| page.len() >= READ_PAGE as usize)
            .map(|(key, _)| key.clone());
        visit(page);
        match last {
            Some(last) => from = range(last, true),
            None => return Ok(()),
        }
    }
}

/// The key of chunk `index` of the file staged as `stage`: `[stage, index]`.
pub(crate) fn chunk_key(stage: &str, index: u64) -> JsValue {
    let key = js_sys::Array::new();
    key.push(&JsValue::from_str(stage));
    // Chunk indices stay far below 2^53, where an f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    key.push(&JsValue::from_f64(index as f64));
    key.into()
}

/// Whether the stored fence keeps a commit at `term` out: it is higher, and a leader could have
/// written it (its first 16 hex digits, the term's number, are at most [`Term::MAX_NUMBER`]).
/// Anything else there is corrupt, and would fence every leader for ever: the commit
/// overwrites it.
fn fences(stored: &str, term: &str) -> bool {
    let believable = stored
        .get(..16)
        .and_then(|number| u64::from_str_radix(number, 16).ok())
        .is_some_and(|number| number <= Term::MAX_NUMBER);
    believable && stored > term
}

/// The fence read from `meta`: absent is the empty string (below every term), and so is a
/// record that is not a string (corrupt: the commit overwrites it).
fn fence_text(stored: Option<JsValue>) -> String {
    stored
        .and_then(|value| value.as_string())
        .unwrap_or_default()
}

/// The revision read from `meta`: absent is 0; a value that is not a whole number below 2^53
/// is corrupt (`None`: not checked, the commit overwrites it).
pub(crate) fn revision(stored: Option<JsValue>) -> Option<u64> {
    let Some(value) = stored else { return Some(0) };
    value
        .as_f64()
        .filter(|r| r.is_finite() && *r >= 0.0 && r.fract() == 0.0 && *r < 9.0e15)
        // Checked just above: whole, non-negative and exact.
        .map(|r| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let r = r as u64;
            r
        })
}

/// Places the fence and every write in the transaction, in order. A write the browser rejects
/// at once (a value it cannot clone, a bad key or range, an unknown store) stops here.
fn apply(
    tx: &Transaction<'_>,
    term: &str,
    writes: Vec<Write>,
) -> Result<Vec<VoidRequest>, IdbError> {
    let mut pending = Vec::with_capacity(writes.len() + 1);
    let meta = tx.object_store(META).map_err(failed)?;
    let fence = JsValue::from_str(term);
    pending.push(
        meta.put(fence)
            .with_key(JsValue::from_str(FENCE))
            .without_key_type()
            .primitive()
            .map_err(failed)?,
    );
    for write in writes {
        let request = match write {
            Write::Put { store, key, value } => tx
                .object_store(store)
                .map_err(failed)?
                .put(value)
                .with_key(key)
                .without_key_type()
                .primitive(),
            Write::Delete { store, key } => tx
                .object_store(store)
                .map_err(failed)?
                .delete::<JsValue, _>(KeyRange::Only(key))
                .primitive(),
            Write::DeleteRange {
                store,
                lower,
                upper,
            } => tx
                .object_store(store)
                .map_err(failed)?
                .delete::<JsValue, _>(KeyRange::Bound(lower, false, upper, false))
                .primitive(),
        };
        pending.push(request.map_err(failed)?);
    }
    Ok(pending)
}

/// Rolls `tx` back and returns `error`, the reason.
async fn abort(tx: Transaction<'_>, error: IdbError) -> IdbError {
    // The reason to report is `error`. Should the abort itself fail, the transaction has
    // already ended without committing (its requests were never all placed), or it is
    // aborted anyway when dropped: either way nothing is written.
    let _aborted = tx.abort().await;
    error
}

/// After giving up on a blocked open: should it still go through once the other connections
/// close, abort its upgrade (so no store-less version 1 is left on disk) and close whatever
/// connection it yields.
fn abandon(request: &web_sys::IdbOpenDbRequest) {
    let upgrading = request.clone();
    EventListener::once(request, "upgradeneeded", move |_| {
        if let Some(upgrade) = upgrading.transaction() {
            // Throws only if the upgrade already ended, and then there is nothing to undo.
            let _aborted = upgrade.abort();
        }
    })
    // A one-off listener for a request nobody else holds: it must outlive this call.
    .forget();
    let opened = request.clone();
    EventListener::once(request, "success", move |_| {
        if let Ok(connection) = opened.result() {
            if let Ok(connection) = connection.dyn_into::<web_sys::IdbDatabase>() {
                connection.close();
            }
        }
    })
    .forget();
}

/// Maps a failure to open the database.
fn open_error(error: OpenDbError) -> IdbError {
    let reason = match error {
        OpenDbError::Base(CrateError::DomException(dom)) => {
            let dom = web_sys::DomException::from(dom);
            format!("{}: {}", dom.name(), dom.message())
        }
        other => other.to_string(),
    };
    IdbError::Unavailable(reason)
}

/// Maps a failure to start a transaction: a closed connection makes the database unavailable.
fn begin_error(error: CrateError) -> IdbError {
    match error {
        CrateError::DomException(dom) => {
            let dom = web_sys::DomException::from(dom);
            if dom.name() == "InvalidStateError" {
                IdbError::Unavailable(format!("the connection is closed: {}", dom.message()))
            } else {
                from_dom(&dom)
            }
        }
        other => failed(other),
    }
}

/// Maps any other failure.
fn failed(error: CrateError) -> IdbError {
    match error {
        CrateError::DomException(dom) => from_dom(&web_sys::DomException::from(dom)),
        other => IdbError::Failed(other.to_string()),
    }
}

/// Maps a `DOMException` by its name.
fn from_dom(dom: &web_sys::DomException) -> IdbError {
    match dom.name().as_str() {
        "QuotaExceededError" => IdbError::QuotaExceeded,
        name => IdbError::Failed(format!("{name}: {}", dom.message())),
    }
}
