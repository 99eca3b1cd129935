//! The open session: its messages, live across tabs, a search over them, the drafts recovered
//! from tabs that died, and the composer (whose text is backed up as it is typed).

use std::collections::BTreeMap;

use conclave_web::{Draft, ImportError, ItemId, Op, Outcome, Refusal, TabId};
use gloo_timers::callback::Timeout;
use leptos::prelude::*;

use crate::components::{Imports, PostList};
use crate::use_conclave::Workspace;
use crate::view_model::{self, ComposeStatus, MAX_SHOWN, MAX_SHOWN_IMPORTING};

/// How many more rows the session's list draws a task while it grows to [`MAX_SHOWN`]: as many
/// as a redraw builds while an import runs (a hundred took over 50 ms in a follower's task).
const GROW_ROWS: usize = MAX_SHOWN_IMPORTING;

/// In a task of its own, draws [`GROW_ROWS`] more rows, and goes on until [`MAX_SHOWN`]: the
/// timer of the next step (dropped, it stops).
fn grow(most: RwSignal<usize>, timer: StoredValue<Option<Timeout>, LocalStorage>) -> Timeout {
    Timeout::new(0, move || {
        // The owner (and with it the signals) may be gone when the timer fires.
        let Some(now) = most.try_get_untracked() else {
            return;
        };
        let next = (now + GROW_ROWS).min(MAX_SHOWN);
        most.set(next);
        let _ = timer.try_set_value((next < MAX_SHOWN).then(|| grow(most, timer)));
    })
}

/// The active session's title, its messages oldest first (filtered by a search), and a form
/// that adds one; with no session, an invitation to create one.
#[component]
pub fn SessionView(
    /// The workspace as of the latest revision this tab applied.
    workspace: Workspace,
    /// The open session (owned by the app; the sidebar keeps it one that exists).
    active: RwSignal<Option<ItemId>>,
    /// Makes a request of the leader: its number, or why it is refused at once.
    request: Callback<Op, Result<u64, Refusal>>,
    /// Says what is typed in a session (empty: nothing), for this tab's emergency backup.
    draft: Callback<(ItemId, String)>,
    /// Imports a file into a session.
    import: Callback<(ItemId, web_sys::File)>,
    /// Reads the messages of a session at places `from..to` from the store into the workspace
    /// (those the list draws and the tab was told of only by their size).
    read: Callback<(ItemId, u64, u64)>,
    /// How this tab's latest import start went.
    import_started: Signal<Option<(u32, Result<u64, ImportError>)>>,
    /// This tab's latest ended requests, (number, outcome), oldest first: how the composer's
    /// request ended.
    ended: Signal<Vec<(u64, Outcome)>>,
    /// This tab's id, once known: its own messages read "you".
    #[prop(optional, into)]
    me: Signal<Option<TabId>>,
) -> impl IntoView {
    // The open session's id, only while it exists: a stale choice shows the empty state, not
    // a form whose every send would be refused.
    let session = Memo::new(move |_| {
        let id = active.get()?;
        workspace.with_outline(|view| view.session(id).map(|s| s.id))
    });
    let title = Memo::new(move |_| {
        let id = session.get()?;
        workspace.with_outline(|view| view.session(id).map(|s| s.title.clone()))
    });
    let query = RwSignal::new(String::new());
    // Another session's messages would not match the same search: start afresh.
    Effect::watch(
        move || session.get(),
        move |_, _, _| query.set(String::new()),
        false,
    );
    let total = Memo::new(move |_| {
        let Some(id) = session.get() else { return 0 };
        workspace.with(|view| {
            view.session(id)
                .map_or(0, |s| usize::try_from(s.count).unwrap_or(usize::MAX))
        })
    });
    // Whether an import runs into the open session (the workspace is then drawn again at
    // most a few times a second: see `use_conclave`).
    let importing = Memo::new(move |_| {
        let id = session.get()?;
        workspace.with_outline(|view| Some(view.running_task(id).is_some()))
    });
    // How many rows the list draws: MAX_SHOWN_IMPORTING while an import runs into the session
    // (rows pushed out before a redraw are never built); otherwise up to MAX_SHOWN, reached
    // GROW_ROWS more a task (after an import, or on opening a long session), so that no one task
    // builds more rows than that.
    let most = RwSignal::new(MAX_SHOWN_IMPORTING);
    let growing = StoredValue::new_local(None::<Timeout>);
    Effect::watch(
        move || (session.get(), importing.get()),
        move |(_, importing), _, _| {
            most.set(MAX_SHOWN_IMPORTING);
            growing.set_value((*importing != Some(true)).then(|| grow(most, growing)));
        },
        true,
    );
    // What the list draws and the tab lacks (an import's batches are mostly told by their
    // size alone): read from the store.
    let lacking = Memo::new(move |_| {
        let id = session.get()?;
        let (most, importing) = (most.get(), importing.get() == Some(true));
        query.with(|q| {
            workspace.with(|view| {
                let s = view.session(id)?;
                view_model::to_read(s, q, most, importing).map(|(from, to)| (id, from, to))
            })
        })
    });
    Effect::new(move |_| {
        if let Some(wanted) = lacking.get() {
            read.run(wanted);
        }
    });
    // How many messages match, and the rows of the latest of them.
    let posts = Memo::new(move |_| {
        let Some(id) = session.get() else {
            return (0, Vec::new());
        };
        let me = me.get();
        let most = most.get();
        query.with(|q| {
            workspace.with(|view| {
                view.session(id)
                    .map(|s| view_model::latest_post_rows(s, q, me, most))
                    .unwrap_or_default()
            })
        })
    });

    let text = RwSignal::new(String::new());
    // What was typed in each session and not sent: the composer shows the open session's.
    let typed = RwSignal::new(BTreeMap::<ItemId, String>::new());
    Effect::watch(
        move || session.get(),
        move |now, _, _| {
            let shown = now.and_then(|id| typed.with_untracked(|t| t.get(&id).cloned()));
            text.set(shown.unwrap_or_default());
        },
        false,
    );
    // Every edit: the composer, this session's entry, and the backup.
    let edit = move |session: ItemId, value: String| {
        typed.update(|t| {
            if value.is_empty() {
                t.remove(&session);
            } else {
                t.insert(session, value.clone());
            }
        });
        text.set(value.clone());
        draft.run((session, value));
    };
    let recovered = Memo::new(move |_| {
        let Some(id) = session.get() else {
            return Vec::new();
        };
        workspace.with_outline(|view| {
            view.drafts()
                .into_iter()
                .filter(|d| d.session == id)
                .cloned()
                .collect::<Vec<Draft>>()
        })
    });
    let status = RwSignal::new(None::<ComposeStatus>);
    // How many submits were tried (the status's `data-tries`: a reader can tell two identical
    // outcomes apart).
    let tries = RwSignal::new(0u32);
    // A request ends in `ended`; latch its outcome here, so the status stays final even after
    // the request leaves `ended`'s window of the latest fifty.
    Effect::new(move |_| {
        let Some(shown) = status.get() else { return };
        let next = ended.with(|ended| shown.clone().after(ended));
        if next != shown {
            status.set(Some(next));
        }
    });
    let send = move || {
        tries.update(|n| *n += 1);
        let said = match (session.get_untracked(), text.get_untracked()) {
            (None, _) => ComposeStatus::Unsent("Open or create a session first."),
            (Some(_), t) if t.trim().is_empty() => ComposeStatus::Unsent("Write a message first."),
            (Some(session), text) => ComposeStatus::made(request.run(Op::Add { session, text })),
        };
        if matches!(said, ComposeStatus::Sending(_)) {
            if let Some(session) = session.get_untracked() {
                edit(session, String::new());
            }
        }
        status.set(Some(said));
    };

    view! {
        <section class="card session-view" aria-labelledby="session-title">
            <Show
                when=move || session.get().is_some()
                fallback=|| view! {
                    <div class="welcome" data-testid="no-session">
                        <h2 id="session-title">"No session open"</h2>
                        <p>"Create a session in the sidebar to start writing; every open tab sees it at once."</p>
                    </div>
                }
            >
                <h2 id="session-title" data-testid="session-title">{move || title.get()}</h2>
                <div class="search">
                    <label for="search">"Search"</label>
                    <input
                        id="search"
                        type="search"
                        autocomplete="off"
                        data-testid="search"
                        prop:value=move || query.get()
                        on:input=move |ev| query.set(event_target_value(&ev))
                    />
                    <span class="hint" data-testid="search-count" aria-live="polite">
                        {move || view_model::search_count(posts.with(|(count, _)| *count), total.get())}
                    </span>
                </div>
                // Above the messages: what an import adds below does not move its controls.
                <Imports
                    workspace
                    session=Signal::from(session)
                    request
                    import
                    import_started
                    ended
                />
                // While the list lacks what it draws (or a search, what it searches) and reads
                // it from the store: a search over a session held in part is not yet whole.
                <p class="hint" data-testid="reading" role="status" hidden=move || lacking.with(Option::is_none)>
                    {move || if query.with(|q| q.trim().is_empty()) {
                        "Reading earlier messages from the store…"
                    } else {
                        "Searching every message of the session: reading them from the store…"
                    }}
                </p>
                <p class="hint" data-testid="earlier-not-shown" hidden=move || posts.with(|(count, rows)| *count <= rows.len())>
                    {move || format!("{} earlier messages not shown.", posts.with(|(count, rows)| count.saturating_sub(rows.len())))}
                </p>
                // Only the latest are drawn: an import can bring tens of thousands. A list of
                // its own for each session opened (keyed: a new one, not the last one's
                // elements rebuilt), so that it opens at its latest message, wherever the last
                // one was scrolled.
                <For each=move || session.get() key=|id: &ItemId| *id let:_id>
                    <PostList posts />
                </For>
                <p class="empty" hidden=move || total.get() != 0>"No message yet: write the first."</p>
                <ul class="recovered" data-testid="recovered-drafts" hidden=move || recovered.with(Vec::is_empty)>
                    <For
                        each=move || recovered.get()
                        key=|d: &Draft| (d.from, d.text.clone())
                        let:d
                    >
                        {
                            let (session, from, restored) = (d.session, d.from, d.text.clone());
                            view! {
                                <li data-testid="recovered-draft" data-from=from.to_string()>
                                    <span class="label">"Unsent draft recovered from a tab that closed:"</span>
                                    " "
                                    // Text, never markup.
                                    <span class="text">{d.text}</span>
                                    <button
                                        type="button"
                                        data-testid="restore-draft"
                                        on:click=move |_| {
                                            let current = text.get_untracked();
                                            let joined = if current.trim().is_empty() {
                                                restored.clone()
                                            } else {
                                                format!("{current} {restored}")
                                            };
                                            edit(session, joined);
                                            let _ = request.run(Op::Dismiss { session, from });
                                        }
                                    >
                                        "Restore"
                                    </button>
                                    <button
                                        type="button"
                                        data-testid="discard-draft"
                                        on:click=move |_| {
                                            let _ = request.run(Op::Dismiss { session, from });
                                        }
                                    >
                                        "Discard"
                                    </button>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </Show>
            // Not a `<form>`: a browser's form submission, even with nothing to validate,
            // brings style and layout up to date and does work of its own before the handler
            // runs (`node tests/bench/send.mjs`: 0.8 ms a send, against 0.1 without the form).
            // Enter and the button send, as a form's would.
            <div
                class="compose inline"
                role="group"
                aria-label="Write a message"
                hidden=move || session.get().is_none()
            >
                <label for="compose-text" class="visually-hidden">"Message"</label>
                <input
                    id="compose-text"
                    type="text"
                    autocomplete="off"
                    placeholder="Write a message"
                    data-testid="compose-text"
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        match session.get_untracked() {
                            Some(session) => edit(session, value),
                            None => text.set(value),
                        }
                    }
                    on:keydown=move |ev| {
                        // Not while an input method is composing: its Enter picks a word.
                        if ev.key() == "Enter" && !ev.is_composing() {
                            ev.prevent_default();
                            send();
                        }
                    }
                />
                <button type="button" data-testid="compose-send" on:click=move |_| send()>"Send"</button>
            </div>
            <p
                class="status"
                data-testid="compose-status"
                data-tries=move || tries.get().to_string()
                class:error=move || status.with(|s| s.as_ref().is_some_and(ComposeStatus::is_error))
                role="status"
            >
                {move || status.with(|s| s.as_ref().map(ComposeStatus::text).unwrap_or_default())}
            </p>
        </section>
    }
}
