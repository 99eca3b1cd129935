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
    assert_eq!(
        text_of("count-sent").as_deref(),
        Some("1"),
        "the greeting went out"
    );
}
