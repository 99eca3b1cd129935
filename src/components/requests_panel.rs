//! This tab's requests and the store as it knows them: for watching the data layer work.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::view_model::{self, PendingRow};

/// The store's revision, whether this tab writes it, what the writer holds, the store's last
/// error, this tab's request counters, and its requests still waiting for their end.
#[component]
pub fn RequestsPanel(
    /// The driver's latest snapshot (`None` before it starts or in safe mode).
    snapshot: Signal<Option<Snapshot>>,
) -> impl IntoView {
    // Memos: a snapshot that changes nothing shown here notifies nobody.
    let store = Memo::new(move |_| snapshot.with(|s| s.as_ref().map(|s| s.store.clone())));
    let fact = move |read: fn(&conclave_web::StoreStatus) -> String| {
        move || store.with(|s| s.as_ref().map_or_else(|| "—".to_owned(), read))
    };
    let counters = Memo::new(move |_| {
        snapshot.with(|s| {
            s.as_ref()
                .map(|s| view_model::request_rows(&s.requests))
                .unwrap_or_default()
        })
    });
    let pending = Memo::new(move |_| {
        snapshot.with(|s| s.as_ref().map(view_model::pending_rows).unwrap_or_default())
    });
    view! {
        <section class="card wide" aria-labelledby="requests-title">
            <h2 id="requests-title">"Requests and store"</h2>
            <div class="split">
                <dl class="facts">
                    <dt>"Store revision"</dt>
                    <dd data-testid="store-rev">
                        {fact(|s| s.rev.map_or_else(|| "not read yet".to_owned(), |r| r.to_string()))}
                    </dd>
                    <dt>"This tab writes"</dt>
                    <dd data-testid="store-writing">
                        {fact(|s| if s.writing { "yes" } else { "no" }.to_owned())}
                    </dd>
                    <dt>"Queued at the writer"</dt>
                    <dd data-testid="store-queued">{fact(|s| s.queued.to_string())}</dd>
                    <dt>"New requests"</dt>
                    <dd data-testid="breaker">
                        {move || {
                            snapshot
                                .with(|s| s.as_ref().map_or_else(|| "—".to_owned(), view_model::breaker_label))
                        }}
                    </dd>
                    <dt>"Last store error"</dt>
                    <dd
                        data-testid="store-error"
                        class:error=move || store.with(|s| s.as_ref().is_some_and(|s| s.error.is_some()))
                    >
                        {fact(|s| s.error.as_ref().map_or_else(|| "none".to_owned(), ToString::to_string))}
                    </dd>
                </dl>
                <table class="table counters" data-testid="request-counters">
                    <caption>"This tab's requests"</caption>
                    <tbody>
                        {move || {
                            counters
                                .get()
                                .into_iter()
                                .map(|row| {
                                    view! {
                                        <tr>
                                            <th scope="row">{row.label}</th>
                                            <td data-testid=format!("requests-{}", row.key)>{row.value}</td>
                                        </tr>
                                    }
                                })
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
            // Hidden while empty: headers over no cell say nothing (the line below says it).
            <table class="table pending" data-testid="pending-requests" hidden=move || pending.with(Vec::is_empty)>
                <caption>"Waiting for the leader"</caption>
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col">"Kind"</th>
                        <th scope="col">"Stage"</th>
                        <th scope="col">"Age"</th>
                    </tr>
                </thead>
                <tbody>
                    // Few rows (at most 32), redrawn whole: their ages move with every snapshot.
                    {move || {
                        pending
                            .get()
                            .into_iter()
                            .map(|row: PendingRow| {
                                view! {
                                    <tr data-testid="pending-request" data-number=row.number.to_string()>
                                        <td data-label="#">{row.number}</td>
                                        <td data-label="Kind">{row.kind}</td>
                                        <td data-label="Stage" data-stage=row.stage>{row.stage}</td>
                                        <td data-label="Age">{format!("{} ms", row.age_ms)}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
            <p class="empty" hidden=move || pending.with(|p| !p.is_empty())>"No request waiting."</p>
        </section>
    }
}
