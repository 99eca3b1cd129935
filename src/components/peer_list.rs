//! The live list of the other open tabs.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::view_model::{self, PeerRow};

/// Every other tab this one hears: id, incarnation, last sequence number, last heard.
///
/// Props: `snapshot`, the driver's latest snapshot.
#[component]
pub fn PeerList(snapshot: Signal<Option<Snapshot>>) -> impl IntoView {
    let rows = move || snapshot.with(|s| s.as_ref().map(view_model::peer_rows).unwrap_or_default());
    let count = move || snapshot.with(|s| s.as_ref().map_or(0, |s| s.peers.len()));
    view! {
        <section class="card wide" aria-labelledby="peers-title">
            <h2 id="peers-title">
                "Other tabs " <span class="count" data-testid="peer-count">{count}</span>
            </h2>
            <table class="table peers" data-testid="peers">
                <thead>
                    <tr>
                        <th scope="col">"Tab"</th>
                        <th scope="col">"Incarnation"</th>
                        <th scope="col">"Seq"</th>
                        <th scope="col">"Visible"</th>
                        <th scope="col">"Last heard"</th>
                    </tr>
                </thead>
                <tbody>
                    // Keyed by the whole row, so a row whose values changed is drawn afresh.
                    <For each=rows key=|row: &PeerRow| row.clone() let:row>
                        <PeerLine row />
                    </For>
                </tbody>
            </table>
            <p class="empty" hidden=move || count() != 0>"No other tab is open."</p>
        </section>
    }
}

/// One peer's row.
#[component]
fn PeerLine(row: PeerRow) -> impl IntoView {
    view! {
        <tr data-testid="peer-row" data-peer-id=row.id.clone() data-incarnation=row.incarnation>
            // `data-label` names each cell where narrow screens stack a row into a card.
            <td data-label="Tab"><code title=row.id.clone()>{row.short}</code></td>
            <td data-label="Incarnation">{row.incarnation}</td>
            <td data-label="Seq">{row.seq}</td>
            <td data-label="Visible">{if row.visible { "yes" } else { "no" }}</td>
            <td data-label="Last heard">{row.heard}</td>
        </tr>
    }
}
