//! The banner shown when this tab cannot coordinate.

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
