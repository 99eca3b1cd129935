//! The banners shown when this tab cannot coordinate, or cannot write.

use conclave_web::{Breaker, Snapshot};
use leptos::prelude::*;

/// A banner saying the tab runs alone, and why.
///
/// Props: `reason`, the driver's start error in words.
#[component]
pub fn SafeModeBanner(reason: String) -> impl IntoView {
    view! {
        <div class="banner" role="alert" data-testid="safe-mode">
            <strong>"Safe mode: this tab runs alone. "</strong>
            <span>{reason}</span>
        </div>
    }
}

/// A banner saying this tab is read-only, and why: no leader has answered lately (the retry
/// policy's breaker is open; it closes as soon as one answers) or the store failed. New
/// writes are refused with the reason rather than queued where no leader takes them.
///
/// Props: `snapshot`, the tab's coordination state.
#[component]
pub fn ReadOnlyBanner(snapshot: Signal<Option<Snapshot>>) -> impl IntoView {
    let why = Memo::new(move |_| {
        snapshot.with(|s| {
            let s = s.as_ref()?;
            match (s.breaker, &s.store.error) {
                (Breaker::Closed, None) => None,
                (Breaker::Closed, Some(error)) => Some(format!("the store failed: {error}.")),
                _ => Some(
                    "no leader has answered lately; writing resumes as soon as one does."
                        .to_owned(),
                ),
            }
        })
    });
    view! {
        <Show when=move || why.with(Option::is_some)>
            <div class="banner" role="alert" data-testid="read-only">
                <strong>"Read-only: "</strong>
                <span>{move || why.get().unwrap_or_default()}</span>
            </div>
        </Show>
    }
}
