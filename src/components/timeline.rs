//! The election timeline: terms, leaders and failovers over the last minutes, as a chart.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::view_model::{self, Bar, Chart, Timeline, CHART_WIDTH};

/// The chart's height in its own units.
const HEIGHT: f64 = 40.0;

/// Who led, at which term, over the last five minutes: one bar a term (in that term's colour,
/// the same in every tab), a red one while no tab led; a bar's detail on hover or focus (every
/// bar is reached by Tab and named for screen readers), and the whole in one sentence.
///
/// Props: `snapshot`, the driver's latest snapshot (its clock is the chart's "now");
/// `timeline`, what this tab recorded.
#[component]
pub fn ElectionTimeline(
    snapshot: Signal<Option<Snapshot>>,
    timeline: Signal<Timeline>,
) -> impl IntoView {
    let chart = Memo::new(move |_| {
        snapshot.with(|s| {
            s.as_ref()
                .map(|s| timeline.with(|t| view_model::timeline_chart(t, s.id, s.now)))
        })
    });
    // The bar whose detail shows (by key), if any: the last pointed at or focused (the bars
    // move under a still pointer as the window moves on, so leaving one does not clear it).
    let selected = RwSignal::new(None::<String>);
    let keys = move || {
        chart.with(|c| {
            c.as_ref()
                .map(|c| c.bars.iter().map(|b| b.key.clone()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let read = move |f: fn(&Chart) -> String| move || chart.with(|c| c.as_ref().map(f));
    let detail = move || {
        selected.with(|key| {
            chart.with(|c| {
                key.as_ref()
                    .and_then(|key| c.as_ref()?.bars.iter().find(|b| &b.key == key))
                    .map(|b| b.label.clone())
            })
        })
    };
    view! {
        <section class="card timeline-card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">"Election timeline"</h2>
            <p data-testid="timeline-summary">{read(|c| c.summary.clone())}</p>
            <svg
                class="timeline"
                data-testid="timeline"
                data-failovers=read(|c| c.failovers.to_string())
                viewBox=format!("0 0 {CHART_WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                role="list"
                aria-label="Terms and their leaders, oldest first"
            >
                <For each=keys key=|key: &String| key.clone() let:key>
                    <TimelineBar chart selected key />
                </For>
            </svg>
            <div class="timeline-axis" aria-hidden="true">
                <span>{read(|c| c.since.clone())}</span>
                <span>"now"</span>
            </div>
            // The latest terms in words beside their colours: what the bars are, unhovered.
            <ul class="timeline-legend" data-testid="timeline-legend">
                {move || {
                    chart
                        .with(|c| c.as_ref().map(legend).unwrap_or_default())
                        .into_iter()
                        .map(|(fill, label)| {
                            view! {
                                <li>
                                    <svg class="swatch" viewBox="0 0 1 1" aria-hidden="true">
                                        <rect width="1" height="1" fill=fill />
                                    </svg>
                                    {label}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <p class="timeline-detail" data-testid="timeline-detail" aria-live="polite">
                {move || detail().unwrap_or_else(|| "Point at a bar, or reach it with Tab, for its detail.".to_owned())}
            </p>
        </section>
    }
}

/// How many of the latest terms the legend names.
const LEGEND: usize = 3;

/// The legend: the latest led bars' colours and words, newest first.
fn legend(chart: &Chart) -> Vec<(String, String)> {
    let led = chart.bars.iter().rev().filter(|b| b.class != "vacant");
    led.take(LEGEND)
        .map(|b| (b.fill.clone(), b.label.clone()))
        .collect()
}

/// The bar `key` of `chart`, kept in place (and in focus) as the window moves on.
#[component]
fn TimelineBar(
    chart: Memo<Option<Chart>>,
    selected: RwSignal<Option<String>>,
    key: String,
) -> impl IntoView {
    let bar = {
        let key = key.clone();
        Memo::new(move |_| chart.with(|c| c.as_ref()?.bars.iter().find(|b| b.key == key).cloned()))
    };
    let attr =
        move |f: fn(&Bar) -> String| move || bar.with(|b| b.as_ref().map(f).unwrap_or_default());
    let select = move || {
        let key = key.clone();
        move || selected.set(Some(key.clone()))
    };
    let (on_enter, on_focus) = (select(), select());
    view! {
        <rect
            class=move || bar.with(|b| b.as_ref().map_or("", |b| b.class))
            data-term=attr(|b| b.term.to_string())
            data-leader=attr(|b| b.leader.clone())
            x=attr(|b| format!("{:.2}", b.x))
            width=attr(|b| format!("{:.2}", b.width))
            height=HEIGHT.to_string()
            fill=attr(|b| b.fill.clone())
            role="listitem"
            tabindex="0"
            aria-label=attr(|b| b.label.clone())
            on:mouseenter=move |_| on_enter()
            on:focus=move |_| on_focus()
        />
    }
}
