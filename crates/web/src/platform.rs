//! The few platform reads the driver needs: the clock, the random source, visibility.

use conclave_core::{Millis, TabId};
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
