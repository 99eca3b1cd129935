//! Importing a file into the open session: the file picker, how the start went, and every
//! import of the session with its progress, live in every tab, and a cancel button.

use std::collections::BTreeMap;

use conclave_web::{ImportError, ItemId, Op, Outcome, Refusal};
use leptos::prelude::*;
use wasm_bindgen::JsCast as _;

use crate::use_conclave::Workspace;
use crate::view_model::{self, TaskRow};

/// The milliseconds of the page's monotonic clock.
fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// The file picker and the session's imports.
#[component]
pub fn Imports(
    /// The workspace as of the latest revision this tab applied.
    workspace: Workspace,
    /// The open session (`None`: nothing shown).
    session: Signal<Option<ItemId>>,
    /// Makes a request of the leader (to cancel an import).
    request: Callback<Op, Result<u64, Refusal>>,
    /// Imports a file into a session.
    import: Callback<(ItemId, web_sys::File)>,
    /// How this tab's latest import start went.
    import_started: Signal<Option<(u32, Result<u64, ImportError>)>>,
    /// This tab's latest ended requests: an import refused by the leader ends here.
    ended: Signal<Vec<(u64, Outcome)>>,
) -> impl IntoView {
    let status = RwSignal::new(String::new());
    // The import request this tab started last, until it ends.
    let waiting = RwSignal::new(None::<(ItemId, u64)>);
    Effect::new(move |_| {
        let Some((_, result)) = import_started.get() else {
            return;
        };
        let Some(id) = session.get_untracked() else {
            return;
        };
        match result {
            Ok(number) => {
                waiting.set(Some((id, number)));
                status.set("Staged; the leader is starting the import…".to_owned());
            }
            Err(ImportError::Refused(refusal)) => status.set(
                workspace.with_untracked(|view| view_model::import_refused(&refusal, view, id)),
            ),
            Err(error) => status.set(format!("Not started: {error}.")),
        }
    });
    Effect::new(move |_| {
        let Some((id, number)) = waiting.get() else {
            return;
        };
        let outcome = ended.with(|ended| view_model::outcome_of(number, ended));
        match outcome {
            Some(Outcome::Applied) => {
                waiting.set(None);
                status.set("Import started.".to_owned());
            }
            Some(Outcome::Refused(refusal)) => {
                waiting.set(None);
                status.set(
                    workspace.with_untracked(|view| view_model::import_refused(&refusal, view, id)),
                );
            }
            None => {}
        }
    });
    // Records per second of each running import, from when this tab first saw it.
    let seen = StoredValue::new(BTreeMap::<ItemId, (f64, u64)>::new());
    let rows = Memo::new(move |_| {
        let Some(id) = session.get() else {
            return Vec::new();
        };
        let now = now_ms();
        workspace.with_outline(|view| {
            for task in view.tasks().into_iter().filter(|t| t.is_running()) {
                seen.update_value(|seen| {
                    seen.entry(task.id).or_insert((now, task.records));
                });
            }
            view_model::task_rows(view, id, |task| {
                let (since, from) = seen.with_value(|seen| seen.get(&task).copied())?;
                let records = view.task(task)?.records.saturating_sub(from);
                let seconds = (now - since) / 1000.0;
                // Whole records, far below 2^53.
                #[allow(clippy::cast_precision_loss)]
                let rate = records as f64 / seconds;
                (seconds > 0.5).then_some(rate)
            })
        })
    });
    let choose = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let file = input.files().and_then(|files| files.get(0));
        // The same file may be picked again.
        input.set_value("");
        let (Some(file), Some(id)) = (file, session.get_untracked()) else {
            return;
        };
        status.set(format!("Staging “{}”…", file.name()));
        import.run((id, file));
    };
    view! {
        <div class="imports" hidden=move || session.get().is_none()>
            <label class="import">
                "Import a file (text, Markdown or a JSON array) "
                <input
                    type="file"
                    accept=".txt,.md,.markdown,.json,text/plain,text/markdown,application/json"
                    data-testid="import-file"
                    on:change=choose
                />
            </label>
            <p class="status" data-testid="import-status" role="status">{move || status.get()}</p>
            <ul class="tasks" data-testid="tasks">
                // Keyed by id alone: a row is drawn once and its parts follow its progress, so
                // that its cancel button stays the same element while batches land.
                <For
                    each=move || rows.with(|rows| rows.iter().map(|row| row.id).collect::<Vec<_>>())
                    key=|id: &ItemId| *id
                    let:task
                >
                    {
                        let row = Memo::new(move |_| {
                            rows.with(|rows| rows.iter().find(|row| row.id == task).cloned())
                        });
                        let field = move |read: fn(&TaskRow) -> String| {
                            move || row.with(|row| row.as_ref().map(read).unwrap_or_default())
                        };
                        view! {
                            <li
                                data-testid="task"
                                data-task-id=task.to_string()
                                data-state=field(|r| r.state.to_owned())
                                data-records=field(|r| r.records.to_string())
                                data-chunks-done=field(|r| r.chunks_done.to_string())
                                data-chunks=field(|r| r.chunks.to_string())
                            >
                                // First in the row: the text after it changes with every batch.
                                <button
                                    type="button"
                                    data-testid="cancel-task"
                                    hidden=move || row.with(|r| r.as_ref().is_none_or(|r| r.state != "running"))
                                    on:click=move |_| {
                                        let _ = request.run(Op::Cancel { task });
                                    }
                                >
                                    "Cancel"
                                </button>
                                " "
                                <span class="name">{field(|r| r.name.clone())}</span>
                                " "
                                <progress max=field(|r| r.chunks.to_string()) value=field(|r| r.chunks_done.to_string())></progress>
                                " "
                                <span class="progress">{field(|r| r.progress.clone())}</span>
                                <span class="error" hidden=move || row.with(|r| r.as_ref().is_none_or(|r| r.error.is_none()))>
                                    {field(|r| r.error.clone().unwrap_or_default())}
                                </span>
                            </li>
                        }
                    }
                </For>
            </ul>
        </div>
    }
}
