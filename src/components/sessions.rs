//! The sessions sidebar: every session of the workspace, live across tabs, and the forms that
//! create, rename and delete them.

use conclave_web::{ItemId, Op, Refusal, TabId};
use leptos::html;
use leptos::prelude::*;

use crate::use_conclave::Workspace;
use crate::view_model::{self, SessionRow};

/// The workspace's sessions in the order they were created: switch to one, create one, rename
/// one inline, delete one (after an inline "Delete? Yes / No").
#[component]
pub fn SessionsSidebar(
    /// The workspace as of the latest revision this tab applied.
    workspace: Workspace,
    /// The open session (owned by the app). Set here when a person switches, and moved here
    /// when it disappears: to the first session, or none.
    active: RwSignal<Option<ItemId>>,
    /// Makes a request of the leader: its number, or why it is refused at once.
    request: Callback<Op, Result<u64, Refusal>>,
    /// This tab's id, once known: a session this tab creates opens as soon as it exists.
    #[prop(optional, into)]
    me: Signal<Option<TabId>>,
) -> impl IntoView {
    let rows = Memo::new(move |_| workspace.with(view_model::session_rows));
    // A session this tab asked to create: its id is the request's, (this tab, number).
    let wanted = RwSignal::new(None::<ItemId>);
    // Whatever changed (the workspace, a switch, a creation), keep the open session one that
    // exists. Setting only on a difference ends the loop this effect's own writes start.
    Effect::new(move |_| {
        let (current, want) = (active.get(), wanted.get());
        let next = workspace.with_outline(|view| view_model::choose_active(view, current, want));
        if next != current {
            active.set(next);
        }
        if want.is_some() && next == want {
            wanted.set(None);
        }
    });
    let ui = Ui {
        active,
        request,
        renaming: RwSignal::new(None),
        status: RwSignal::new(String::new()),
        tries: RwSignal::new(0),
    };
    let title = RwSignal::new(String::new());
    let create = move |ev: leptos::ev::SubmitEvent| {
        // Never navigate: the page's policy (`form-action 'none'`) forbids it anyway.
        ev.prevent_default();
        ui.tries.update(|n| *n += 1);
        let checked = view_model::check_title(&title.get_untracked());
        let said = checked.and_then(|title| {
            let number = request
                .run(Op::Create { title })
                .map_err(|r| view_model::not_sent(&r))?;
            if let Some(tab) = me.get_untracked() {
                wanted.set(Some(ItemId { tab, number }));
            }
            Ok(())
        });
        if said.is_ok() {
            title.set(String::new());
        }
        ui.status.set(said.err().unwrap_or_default());
    };
    view! {
        <nav class="card sidebar" aria-labelledby="sessions-title">
            <h2 id="sessions-title">
                "Sessions " <span class="count" data-testid="session-count">{move || rows.with(Vec::len)}</span>
            </h2>
            <form class="new-session" on:submit=create>
                <label for="new-session-title">"New session"</label>
                <div class="inline">
                    <input
                        id="new-session-title"
                        type="text"
                        autocomplete="off"
                        placeholder="Title"
                        data-testid="new-session-title"
                        prop:value=move || title.get()
                        on:input=move |ev| title.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="new-session">"Create"</button>
                </div>
            </form>
            <p
                class="status error"
                data-testid="sessions-status"
                data-tries=move || ui.tries.get().to_string()
                role="status"
            >
                {move || ui.status.get()}
            </p>
            <ul class="sessions" data-testid="sessions">
                <For each=move || rows.get() key=|row: &SessionRow| row.id let:row>
                    <SessionLine rows id=row.id ui />
                </For>
            </ul>
            <p class="empty" hidden=move || rows.with(|r| !r.is_empty())>"No session yet."</p>
        </nav>
    }
}

/// What every line shares: the open session, the request callback, which line is being
/// renamed (one at a time), and the sidebar's status line.
#[derive(Clone, Copy)]
struct Ui {
    active: RwSignal<Option<ItemId>>,
    request: Callback<Op, Result<u64, Refusal>>,
    renaming: RwSignal<Option<ItemId>>,
    status: RwSignal<String>,
    tries: RwSignal<u32>,
}

impl Ui {
    /// Makes `op`; says why if it is refused at once.
    fn send(self, op: Op) -> bool {
        self.tries.update(|n| *n += 1);
        let result = self.request.run(op);
        self.status.set(
            result
                .err()
                .map(|r| view_model::not_sent(&r))
                .unwrap_or_default(),
        );
        result.is_ok()
    }
}

/// The line of session `id`, kept up to date from `rows`.
#[component]
fn SessionLine(rows: Memo<Vec<SessionRow>>, id: ItemId, ui: Ui) -> impl IntoView {
    let row = Memo::new(move |_| rows.with(|rows| rows.iter().find(|r| r.id == id).cloned()));
    let title = move || row.with(|r| r.as_ref().map(|r| r.title.clone()).unwrap_or_default());
    let count = move || row.with(|r| r.as_ref().map_or(0, |r| r.messages));
    let current = Memo::new(move |_| ui.active.get() == Some(id));
    let aria_current = move || current.get().then_some("true");
    let renaming = Memo::new(move |_| ui.renaming.get() == Some(id));
    let rename_button = NodeRef::<html::Button>::new();
    // Back to the button that opened an inline form, once it is shown again (next frame).
    let refocus = move |to: NodeRef<html::Button>| {
        request_animation_frame(move || {
            // The line may be gone by the frame (the session deleted from another tab).
            if let Some(button) = to.try_get_untracked().flatten() {
                let _ = button.focus();
            }
        });
    };
    let draft = RwSignal::new(String::new());
    let start_rename = move |_| {
        draft.set(title());
        ui.renaming.set(Some(id));
    };
    let end_rename = move || {
        ui.renaming.set(None);
        refocus(rename_button);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match view_model::check_title(&draft.get_untracked()) {
            Err(why) => {
                ui.tries.update(|n| *n += 1);
                ui.status.set(why);
            }
            // Unchanged: nothing to ask the leader.
            Ok(new) if new == title() => end_rename(),
            Ok(new) => {
                if ui.send(Op::Rename {
                    session: id,
                    title: new,
                }) {
                    end_rename();
                }
            }
        }
    };
    view! {
        <li data-testid="session" data-session-id=id.to_string() class="session" aria-current=aria_current>
            <Show
                when=move || renaming.get()
                fallback=move || view! {
                    <button
                        type="button"
                        class="switch"
                        data-testid="switch-session"
                        aria-current=aria_current
                        on:click=move |_| ui.active.set(Some(id))
                    >
                        <span class="title">{title}</span>
                        <span class="count" data-testid="session-messages">{count}</span>
                        <span class="visually-hidden">" messages"</span>
                    </button>
                }
            >
                <form class="rename inline" on:submit=save>
                    <input
                        type="text"
                        autocomplete="off"
                        aria-label="New title"
                        data-testid="rename-input"
                        node_ref={
                            let input = NodeRef::<html::Input>::new();
                            input.on_load(|input| {
                                let _ = input.focus();
                                input.select();
                            });
                            input
                        }
                        prop:value=move || draft.get()
                        on:input=move |ev| draft.set(event_target_value(&ev))
                        on:keydown=move |ev| {
                            if ev.key() == "Escape" {
                                ev.prevent_default();
                                end_rename();
                            }
                        }
                    />
                    <button type="submit" data-testid="rename-save">"Save"</button>
                    <button type="button" data-testid="rename-cancel" on:click=move |_| end_rename()>
                        "Cancel"
                    </button>
                </form>
            </Show>
            <div class="actions" hidden=move || renaming.get()>
                <button type="button" data-testid="rename-session" node_ref=rename_button on:click=start_rename>
                    "Rename"
                </button>
                <button
                    type="button"
                    data-testid="delete-session"
                    // Asks every tab: the first answer from any of them wins (see Questions).
                    on:click=move |_| {
                        ui.renaming.set(None);
                        ui.send(Op::AskDelete { session: id });
                    }
                >
                    "Delete…"
                </button>
            </div>
        </li>
    }
}
