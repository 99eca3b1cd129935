//! The leadership locks (the leader's and the heir's), through the Web Locks API
//! (`navigator.locks`).
//!
//! web-sys binds `LockManager` only behind `--cfg=web_sys_unstable_apis`, a flag that would
//! have to reach every build (Trunk, wasm-pack, clippy). The two calls needed here are bound by
//! hand instead: `navigator.locks.request(name, options, callback)` and `AbortController`.
//!
//! One request is outstanding at a time. Each carries a generation: a grant or a loss reported
//! for an older request (one this tab has since released, aborted or replaced) is ignored.

use conclave_core::LockChange;
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::AbortController;

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks`.
    #[derive(Clone, Debug)]
    pub(crate) type LockManager;

    /// `LockManager.request(name, options, callback)`: the returned promise settles with the
    /// callback's promise once the lock is released, or rejects when the request is aborted
    /// or the held lock is stolen.
    #[wasm_bindgen(method, js_name = request)]
    fn request_with_options(
        this: &LockManager,
        name: &str,
        options: &Object,
        callback: &js_sys::Function,
    ) -> Promise;
}

/// What the lock manager reports, with the generation of the request it concerns.
pub(crate) type Notice = (LockChange, u64);

/// This tab's side of one leadership lock.
pub(crate) struct Locks {
    manager: LockManager,
    name: String,
    generation: u64,
    /// Resolving this releases the lock we hold.
    release: Option<js_sys::Function>,
    /// Aborting this withdraws the request we are queued with.
    pending: Option<AbortController>,
}

impl Locks {
    /// The page's lock manager, if the browser has Web Locks.
    pub(crate) fn new(window: &web_sys::Window, name: String) -> Option<Self> {
        let manager = Reflect::get(&window.navigator(), &JsValue::from_str("locks")).ok()?;
        if manager.is_undefined() || manager.is_null() {
            return None;
        }
        Some(Self {
            manager: manager.unchecked_into(),
            name,
            generation: 0,
            release: None,
            pending: None,
        })
    }

    /// Whether `generation` is the current request's.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        generation == self.generation
    }

    /// Whether this tab holds the lock: granted, and not lost or given back since.
    pub(crate) fn is_held(&self) -> bool {
        self.release.is_some()
    }

    /// The lock was granted to the current request: keep the function that releases it.
    pub(crate) fn granted(&mut self, release: js_sys::Function) {
        self.pending = None;
        self.release = Some(release);
    }

    /// The current request ended in a loss (the lock was stolen): a grant reported for it
    /// later (the two may arrive in either order) is handed straight back.
    pub(crate) fn lost(&mut self) {
        self.generation += 1;
        self.release = None;
        self.pending = None;
    }

    /// Gives the lock back, or withdraws from the queue; reports about the old request are
    /// ignored from now on.
    pub(crate) fn release(&mut self) {
        self.generation += 1;
        if let Some(release) = self.release.take() {
            // Resolving a promise's resolver cannot throw.
            let _ = release.call0(&JsValue::UNDEFINED);
        }
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
    }

    /// Queues for the lock (or, with `steal`, takes it from its holder now). `notify` hears of
    /// the grant (with the function that releases the lock) and of a later loss, each with the
    /// request's generation.
    pub(crate) fn request(
        &mut self,
        steal: bool,
        notify: impl Fn(Notice, Option<js_sys::Function>) + Clone + 'static,
    ) {
        self.release();
        let generation = self.generation;
        let options = Object::new();
        let set = |key: &str, value: &JsValue| {
            // Setting a property on a fresh plain object cannot throw.
            let _ = Reflect::set(&options, &JsValue::from_str(key), value);
        };
        set("mode", &JsValue::from_str("exclusive"));
        if steal {
            set("steal", &JsValue::TRUE);
        } else if let Ok(controller) = AbortController::new() {
            // A steal cannot carry a signal; a queued request can, so it can be withdrawn.
            set("signal", &controller.signal());
            self.pending = Some(controller);
        }
        let on_grant = notify.clone();
        let callback = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            // Hold the lock until the resolver is called (release) or the page goes away.
            let mut resolver = None;
            let held = Promise::new(&mut |resolve, _reject| resolver = Some(resolve));
            on_grant((LockChange::Granted, generation), resolver);
            held
        });
        let on_loss: Closure<dyn FnMut(JsValue)> = Closure::once(move |_error: JsValue| {
            notify((LockChange::Lost, generation), None);
        });
        let settled =
            self.manager
                .request_with_options(&self.name, &options, callback.unchecked_ref());
        // A rejection means the request was aborted (then the generation is stale) or the
        // lock was stolen from us.
        let _ = settled.catch(&on_loss);
        // Called at most once, by the browser, whenever the request settles: it must outlive
        // this function. (If the request ends without a rejection, it is never called and its
        // few bytes stay allocated.)
        on_loss.forget();
    }
}

impl Drop for Locks {
    /// A lock held or queued for by a driver that is gone is given back: the next tab does
    /// not wait for this page to close.
    fn drop(&mut self) {
        self.release();
    }
}
