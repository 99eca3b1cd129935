//! The few platform reads the driver needs: the clock, the random source, visibility.

use conclave_core::{Key, Millis, TabId, Term};
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{Document, VisibilityState, Window};

use crate::StartError;

/// A tab's own monotonic clock: `performance.now()`, in whole milliseconds.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    performance: Option<web_sys::Performance>,
}

impl Clock {
    pub(crate) fn new(window: &Window) -> Self {
        Self {
            performance: window.performance(),
        }
    }

    pub(crate) fn now(&self) -> Millis {
        // `performance` is in every browser this app targets; `Date.now()` is a coarser stand-in
        // that is still monotonic enough for timers measured in hundreds of milliseconds.
        let ms = match &self.performance {
            Some(p) => p.now(),
            None => js_sys::Date::now(),
        };
        // Non-negative and far below 2^53; `as` saturates anyway.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Millis(ms.max(0.0) as u64)
    }
}

/// Draws a tab id from `crypto.getRandomValues`: 128 bits from the platform's secure source.
pub(crate) fn random_tab_id(window: &Window) -> Result<TabId, StartError> {
    let crypto = window
        .crypto()
        .map_err(|e| StartError::NoRandomSource(describe(&e)))?;
    let mut bytes = [0u8; 16];
    crypto
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|e| StartError::NoRandomSource(describe(&e)))?;
    Ok(TabId::from_bytes(bytes))
}

/// The `localStorage` item that holds the app's shared key for `channel`.
pub(crate) fn key_item(channel: &str) -> String {
    format!("{channel}:key:v1")
}

/// Reads the shared key from `localStorage`, creating it if there is none (or it is not a key).
///
/// Two tabs starting at once may both create one; the last write wins, and every tab converges
/// on it through the `storage` event (see [`stored_key`]). `None` when storage is unavailable
/// or full: the tab then cannot sign, and says so.
pub(crate) fn shared_key(window: &Window, channel: &str) -> Option<Key> {
    if let Some(key) = stored_key(window, channel) {
        return Some(key);
    }
    let storage = window.local_storage().ok()??;
    let crypto = window.crypto().ok()?;
    let mut bytes = [0u8; 32];
    crypto.get_random_values_with_u8_array(&mut bytes).ok()?;
    storage
        .set_item(&key_item(channel), &Key::from_bytes(bytes).to_hex())
        .ok()?;
    // Read back what is stored now, which may be another tab's key written a moment later.
    stored_key(window, channel)
}

/// The key currently in `localStorage`, if there is a valid one.
pub(crate) fn stored_key(window: &Window, channel: &str) -> Option<Key> {
    let storage = window.local_storage().ok()??;
    let text = storage.get_item(&key_item(channel)).ok()??;
    Key::from_hex(&text)
}

/// The `localStorage` item that holds the highest term ever used on `channel`.
pub(crate) fn term_item(channel: &str) -> String {
    format!("{channel}:term:v1")
}

/// The `localStorage` item that holds the highest term whose leader a thief stole the leader
/// lock from, on `channel`.
pub(crate) fn theft_item(channel: &str) -> String {
    format!("{channel}:theft:v1")
}

/// The text stored in `item` (a term, as [`Term::stored_text`] writes it, if not corrupt);
/// `None` when there is none or storage cannot be read.
pub(crate) fn stored_text(window: &Window, item: &str) -> Option<String> {
    window.local_storage().ok()??.get_item(item).ok()?
}

/// Writes `term` to `item` unless a higher one is stored already ([`Term::outranks_stored`]: a
/// corrupt one is replaced). `false` when storage refused.
pub(crate) fn store_term(window: &Window, item: &str, term: Term) -> bool {
    if !term.outranks_stored(stored_text(window, item).as_deref()) {
        return true;
    }
    let Some(storage) = window.local_storage().ok().flatten() else {
        return false;
    };
    storage.set_item(item, &term.stored_text()).is_ok()
}

/// The wall clock, in ms since the Unix epoch (`Date.now()`): the clock every tab of the
/// machine reads, unlike `performance.now()` (whose origin is each page's own, and which
/// stops while the machine sleeps on some platforms).
pub(crate) fn wall_clock() -> u64 {
    // Non-negative and far below 2^53; `as` saturates anyway.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = js_sys::Date::now() as u64;
    ms
}

pub(crate) fn is_visible(document: &Document) -> bool {
    document.visibility_state() == VisibilityState::Visible
}

/// A one-line description of a thrown JavaScript value.
pub(crate) fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// Writes `text` to `key` in `localStorage`: `false` when the browser refused (storage full,
/// or disabled); the previous value then stays.
pub(crate) fn write_item(window: &Window, key: &str, text: &str) -> bool {
    window
        .local_storage()
        .ok()
        .flatten()
        .is_some_and(|storage| storage.set_item(key, text).is_ok())
}

/// Removes `key` from `localStorage` if it holds `text` (any text when `None`).
pub fn remove_item(window: &Window, key: &str, text: Option<&str>) {
    let Some(storage) = window.local_storage().ok().flatten() else {
        return;
    };
    let holds = match text {
        Some(text) => storage.get_item(key).ok().flatten().as_deref() == Some(text),
        None => true,
    };
    if holds {
        // Removing never fails where storage could be read.
        let _ = storage.remove_item(key);
    }
}

/// Every `localStorage` key starting with `prefix`, with its text.
pub fn items_with_prefix(window: &Window, prefix: &str) -> Vec<(String, String)> {
    let Some(storage) = window.local_storage().ok().flatten() else {
        return Vec::new();
    };
    let count = storage.length().unwrap_or(0);
    let keys: Vec<String> = (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|key| key.starts_with(prefix))
        .collect();
    keys.into_iter()
        .filter_map(|key| {
            let text = storage.get_item(&key).ok().flatten()?;
            Some((key, text))
        })
        .collect()
}
