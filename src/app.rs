//! The root component: starts this tab's driver and lays out the sessions workspace, with the
//! coordination panel folded away below it.

use conclave_web::{ItemId, Mode, TabId};
use leptos::prelude::*;

use crate::components::{
    BackupBanner, BackupsPanel, CounterTable, ElectionTimeline, MessageBoard, PeerList, Questions,
    ReadOnlyBanner, RequestsPanel, SafeModeBanner, SessionView, SessionsSidebar, ThisTab,
};
use crate::use_conclave::{use_conclave_with_options, UseConclaveOptions};
use crate::view_model;

/// The whole app.
#[component]
pub fn App() -> impl IntoView {
    // Whether the coordination panel is unfolded. Folded (as it starts), it draws nothing, so
    // the counters, sequence numbers and ages only it shows wait, as on a hidden page, and show
    // at once when it unfolds; what must show at once (who leads, the tabs listed, what the
    // banners say) still does.
    let unfolded = RwSignal::new(false);
    let conclave = use_conclave_with_options(
        UseConclaveOptions::default()
            .mode(requested_mode())
            .shown(unfolded.into()),
    );
    let snapshot = conclave.snapshot;
    let start_error = conclave.error.get_untracked();
    // The open session: one per tab (each tab may show another), shared by the sidebar, which
    // switches it, and the session view, which shows it.
    let active = RwSignal::new(None::<ItemId>);
    // A memo: every snapshot would otherwise redraw what depends on this tab's id.
    let me: Signal<Option<TabId>> =
        Memo::new(move |_| snapshot.with(|s| s.as_ref().map(|s| s.id))).into();
    let (workspace, request) = (conclave.workspace, conclave.request);

    let classes = Signal::derive(move || {
        snapshot.with(|s| {
            s.as_ref()
                .map(|s| view_model::class_rows(&s.counters))
                .unwrap_or_default()
        })
    });
    let rejections = Signal::derive(move || {
        snapshot.with(|s| {
            s.as_ref()
                .map(|s| view_model::rejection_rows(&s.counters))
                .unwrap_or_default()
        })
    });

    view! {
        <header class="masthead">
            <h1>"Conclave"</h1>
            <p class="tagline">"Every open tab, one app."</p>
        </header>
        {start_error.map(|reason| view! { <SafeModeBanner reason /> })}
        // Without a key (storage unavailable or full) nothing this tab sends is accepted once
        // the others' bootstrap windows close: say so rather than fail silently.
        {move || {
            snapshot
                .with(|s| s.as_ref().is_some_and(|s| !s.keyed && !s.bootstrap_open))
                .then(|| {
                    let reason = "storage is unavailable, so this tab holds no signing key \
                                  and the other tabs ignore it."
                        .to_owned();
                    view! { <SafeModeBanner reason /> }
                })
        }}
        <ReadOnlyBanner snapshot />
        <BackupBanner snapshot workspace />
        <Questions workspace request ended=conclave.ended resolved=conclave.resolved />
        <main class="workspace">
            <SessionsSidebar workspace active request me />
            <SessionView
                workspace
                active
                request
                draft=conclave.draft
                import=conclave.import
                read=conclave.read
                import_started=conclave.import_started
                ended=conclave.ended
                me
            />
        </main>
        // Closed by default: the coordination panel is for watching the tabs work, not for
        // the work itself.
        <details
            class="coordination"
            data-testid="coordination"
            on:toggle=move |ev| {
                unfolded.set(event_target::<web_sys::HtmlDetailsElement>(&ev).open());
            }
        >
            <summary>"Coordination"</summary>
            <div class="panel">
                <ThisTab snapshot />
                <ElectionTimeline snapshot timeline=conclave.timeline />
                <PeerList snapshot />
                <RequestsPanel snapshot />
                <BackupsPanel snapshot />
                <MessageBoard messages=conclave.messages broadcast=conclave.broadcast />
                <CounterTable
                    title="Channel messages"
                    testid="message-counters"
                    rows=classes
                />
                <CounterTable
                    title="Rejected"
                    testid="rejection-counters"
                    rows=rejections
                />
            </div>
        </details>
    }
}

/// `?election=lease` runs the lease-only election even where the browser has Web Locks (to
/// compare the two); anything else uses Web Locks where available.
fn requested_mode() -> Mode {
    let search = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    if search
        .trim_start_matches('?')
        .split('&')
        .any(|p| p == "election=lease")
    {
        Mode::Lease
    } else {
        Mode::WebLocks
    }
}
