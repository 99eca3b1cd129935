//! The card describing this tab.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::view_model;

/// This tab's id, role, term, leader, incarnation and visibility.
///
/// Props: `snapshot`, the driver's latest snapshot (`None` before it starts or in safe mode).
#[component]
pub fn ThisTab(snapshot: Signal<Option<Snapshot>>) -> impl IntoView {
    let id = move || snapshot.with(|s| s.as_ref().map(|s| s.id.to_string()).unwrap_or_default());
    let incarnation =
        move || snapshot.with(|s| s.as_ref().map(|s| s.incarnation.0).unwrap_or_default());
    let visibility = move || {
        snapshot.with(|s| match s {
            Some(s) if s.visible => "visible",
            Some(_) => "hidden",
            None => "—",
        })
    };
    let signing = move || snapshot.with(|s| s.as_ref().map_or("—", view_model::signing_state));
    let role = move || snapshot.with(|s| s.as_ref().map_or("—", view_model::role_label));
    let mode = move || snapshot.with(|s| s.as_ref().map_or("—", view_model::mode_label));
    let term = move || snapshot.with(|s| s.as_ref().map(|s| s.term.number()).unwrap_or_default());
    let leader_id = move || {
        snapshot.with(|s| {
            s.as_ref()
                .and_then(|s| s.leader)
                .map(|id| id.to_string())
                .unwrap_or_default()
        })
    };
    let leader = move || {
        snapshot.with(|s| match s.as_ref().map(|s| (s.leader, s.id)) {
            Some((Some(leader), me)) if leader == me => "this tab".to_owned(),
            Some((Some(leader), _)) => leader.short(),
            _ => "none yet".to_owned(),
        })
    };
    view! {
        <section class="card" aria-labelledby="this-tab-title">
            <h2 id="this-tab-title">"This tab"</h2>
            <dl class="facts">
                <dt>"Id"</dt>
                <dd><code data-testid="tab-id">{id}</code></dd>
                <dt>"Role"</dt>
                <dd data-testid="role">{role}</dd>
                <dt>"Term"</dt>
                <dd data-testid="term">{term}</dd>
                <dt>"Leader"</dt>
                <dd><code data-testid="leader" data-leader-id=leader_id>{leader}</code></dd>
                <dt>"Election"</dt>
                <dd data-testid="mode">{mode}</dd>
                <dt>"Incarnation"</dt>
                <dd data-testid="incarnation">{incarnation}</dd>
                <dt>"Visibility"</dt>
                <dd data-testid="visibility">{visibility}</dd>
                <dt>"Messages"</dt>
                <dd data-testid="signing">{signing}</dd>
            </dl>
        </section>
    }
}
