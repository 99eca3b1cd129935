//! The live list of the other open tabs.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::view_model::{self, PeerRow};

/// Every other tab this one hears: id, incarnation, last sequence number, last heard.
///
/// Props: `snapshot`, the driver's latest snapshot.
#[component]
pub fn PeerList(snapshot: Signal<Option<Snapshot>>) -> impl IntoView {
    // A memo: a snapshot that changes nothing the table shows notifies nobody.
    let rows = Memo::new(move |_| {
        snapshot.with(|s| s.as_ref().map(view_model::peer_rows).unwrap_or_default())
    });
    let count = move || rows.with(Vec::len);
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
                    // Keyed by the tab: a row is drawn once while the tab is listed, and only
                    // the cells whose values change are updated, as every message arrives.
                    <For each=move || rows.get() key=|row: &PeerRow| row.id.clone() let:row>
                        <PeerLine rows id=row.id short=row.short />
                    </For>
                </tbody>
            </table>
            <p class="empty" hidden=move || count() != 0>"No other tab is open."</p>
        </section>
    }
}

/// The row of peer `id` (shown as `short`), kept up to date from `rows`.
#[component]
fn PeerLine(rows: Memo<Vec<PeerRow>>, id: String, short: String) -> impl IntoView {
    let row = {
        let id = id.clone();
        Memo::new(move |_| rows.with(|rows| rows.iter().find(|r| r.id == id).cloned()))
    };
    let cell = move |read: fn(&PeerRow) -> String| {
        move || row.with(|r| r.as_ref().map(read).unwrap_or_default())
    };
    let title = id.clone();
    view! {
        <tr
            data-testid="peer-row"
            data-peer-id=id
            data-incarnation=cell(|r| r.incarnation.to_string())
        >
            // `data-label` names each cell where narrow screens stack a row into a card.
            <td data-label="Tab"><code title=title>{short}</code></td>
            <td data-label="Incarnation">{cell(|r| r.incarnation.to_string())}</td>
            <td data-label="Seq">{cell(|r| r.seq.to_string())}</td>
            <td data-label="Visible">{cell(|r| if r.visible { "yes" } else { "no" }.to_owned())}</td>
            <td data-label="Last heard">{cell(|r| r.heard.clone())}</td>
        </tr>
    }
}
