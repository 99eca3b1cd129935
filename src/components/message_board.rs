//! The app's own messages: send one to every other tab, and read what the others sent.

use conclave_web::SendError;
use leptos::prelude::*;

use crate::use_conclave::AppMessage;
use crate::view_model;

/// A form that broadcasts its text to every other tab, what the send came to, and the
/// messages the other tabs broadcast, newest first.
///
/// Props: `messages` (the latest received, oldest first), `broadcast` (sends one).
#[component]
pub fn MessageBoard(
    messages: Signal<Vec<AppMessage>>,
    broadcast: Callback<String, Result<(), SendError>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    // The last send's outcome: `Ok` with what to say on success, `Err` with why it failed.
    let status = RwSignal::new(None::<Result<String, String>>);
    // How many sends were tried (the status's `data-tries`: a reader can tell two identical
    // outcomes apart).
    let tries = RwSignal::new(0u32);
    let send = move |ev: leptos::ev::SubmitEvent| {
        // Never navigate: the page's policy (`form-action 'none'`) forbids it anyway.
        ev.prevent_default();
        tries.update(|n| *n += 1);
        let data = text.get_untracked();
        if data.trim().is_empty() {
            status.set(Some(Err("Type a message first.".to_owned())));
            return;
        }
        let result = broadcast.run(data);
        let said = view_model::send_status(&result);
        status.set(Some(match result {
            Ok(()) => {
                text.set(String::new());
                Ok(said)
            }
            Err(_) => Err(said),
        }));
    };
    let rows = Memo::new(move |_| messages.with(|m| view_model::message_rows(m)));
    view! {
        <section class="card wide" aria-labelledby="board-title">
            <h2 id="board-title">"App messages"</h2>
            <form class="send" on:submit=send>
                <label for="board-text">"Message"</label>
                <input
                    id="board-text"
                    type="text"
                    autocomplete="off"
                    data-testid="board-text"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                />
                <button type="submit" data-testid="board-send">"Send to the other tabs"</button>
            </form>
            <p
                class="status"
                data-testid="board-status"
                data-tries=move || tries.get().to_string()
                class:error=move || status.with(|s| matches!(s, Some(Err(_))))
                role="status"
            >
                {move || status.with(|s| match s {
                    Some(Ok(said) | Err(said)) => said.clone(),
                    None => String::new(),
                })}
            </p>
            <ol class="messages" data-testid="board-messages">
                {move || {
                    rows.get()
                        .into_iter()
                        .map(|row| {
                            let title = row.from.clone();
                            view! {
                                <li data-testid="board-message" data-from=row.from>
                                    <code title=title>{row.short}</code>
                                    " "
                                    <span class="data">{row.data}</span>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
            <p class="empty" hidden=move || rows.with(|r| !r.is_empty())>
                "No message from another tab yet."
            </p>
        </section>
    }
}
