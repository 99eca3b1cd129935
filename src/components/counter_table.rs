//! A table of named counters.

use leptos::prelude::*;

use crate::view_model::CounterRow;

/// A titled table of counters; each value cell carries `data-testid="count-{key}"`.
///
/// Props: `title` (the heading), `testid` (the table's `data-testid`), `rows` (the counters).
#[component]
pub fn CounterTable(
    title: &'static str,
    testid: &'static str,
    rows: Signal<Vec<CounterRow>>,
) -> impl IntoView {
    // Named by its heading, as every other card is: a landmark a screen reader can jump to.
    let heading = format!("{testid}-title");
    let labelled_by = heading.clone();
    view! {
        <section class="card" aria-labelledby=labelled_by>
            <h2 id=heading>{title}</h2>
            <table class="table counters" data-testid=testid>
                <tbody>
                    {move || {
                        rows.get()
                            .into_iter()
                            .map(|row| {
                                view! {
                                    <tr>
                                        <th scope="row">{row.label}</th>
                                        <td data-testid=format!("count-{}", row.key)>{row.value}</td>
                                    </tr>
                                }
                            })
                            .collect_view()
                    }}
                </tbody>
            </table>
        </section>
    }
}
