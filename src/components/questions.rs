//! Questions asked of every tab ("Delete this session?"): each tab shows them until one tab
//! answers or the leader's timeout cancels them, and every tab says how each was resolved.

use conclave_web::{ItemId, Op, Outcome, Refusal, Resolution, ResolvedQuestion};
use leptos::prelude::*;

use crate::use_conclave::Workspace;

/// The pending questions, each with its answer buttons, and the latest resolutions.
///
/// Props: `workspace` (the questions and their sessions), `request` (sends an answer),
/// `ended` (this tab's ended requests, to tell "answered here" from "answered elsewhere"),
/// `resolved` (the questions resolved while this tab watched).
#[component]
pub fn Questions(
    workspace: Workspace,
    request: Callback<Op, Result<u64, Refusal>>,
    ended: Signal<Vec<(u64, Outcome)>>,
    resolved: Signal<Vec<ResolvedQuestion>>,
) -> impl IntoView {
    // This tab's answer to each question: the request's number, or why it was refused at once.
    let answers = RwSignal::new(Vec::<(ItemId, Result<u64, Refusal>)>::new());
    let answer = move |question: ItemId, confirm: bool| {
        let sent = request.run(Op::Answer { question, confirm });
        answers.update(|list| list.push((question, sent)));
    };
    // What became of this tab's answer to `question`, once known.
    let my_answer = move |question: ItemId| -> Option<String> {
        let sent = answers.with(|list| {
            list.iter()
                .rev()
                .find(|(q, _)| *q == question)
                .map(|(_, s)| *s)
        })?;
        Some(match sent {
            Err(reason) => reason.to_string(),
            Ok(number) => {
                match ended.with(|e| e.iter().find(|(n, _)| *n == number).map(|(_, o)| *o)) {
                    None => "Sending your answer…".to_owned(),
                    Some(Outcome::Applied) => "Your answer was the one applied.".to_owned(),
                    Some(Outcome::Refused(Refusal::AlreadyResolved)) => {
                        "Already answered, in another tab or by the timeout.".to_owned()
                    }
                    Some(Outcome::Refused(reason)) => reason.to_string(),
                }
            }
        })
    };
    let pending = Memo::new(move |_| {
        workspace.with_outline(|v| {
            v.questions()
                .iter()
                .map(|q| {
                    let title = v
                        .session(q.session)
                        .map(|s| s.title.clone())
                        .unwrap_or_default();
                    (q.id, title)
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <section class="questions" aria-live="polite" data-testid="questions">
            <For each=move || pending.get() key=|(id, _)| *id let:item>
                {
                    let (id, title) = item;
                    // A dialog is named by its question (an id has no space: "tab.number").
                    let label = format!("question-{id}");
                    let labelled_by = label.clone();
                    view! {
                        <div
                            class="question"
                            role="alertdialog"
                            aria-labelledby=labelled_by
                            data-testid="question"
                            data-question-id=id.to_string()
                        >
                            <p id=label>"Delete the session " <strong>{title}</strong> " and its messages?"</p>
                            <button type="button" class="danger" data-testid="answer-yes" on:click=move |_| answer(id, true)>
                                "Delete"
                            </button>
                            <button type="button" data-testid="answer-no" on:click=move |_| answer(id, false)>
                                "Keep"
                            </button>
                        </div>
                    }
                }
            </For>
            <ul class="resolutions">
                {move || {
                    resolved
                        .get()
                        .into_iter()
                        .rev()
                        .take(3)
                        .map(|r| {
                            let (kind, by) = match r.resolution {
                                Resolution::Confirmed { by } => ("confirmed", Some(by)),
                                Resolution::Cancelled { by } => ("cancelled", Some(by)),
                                Resolution::TimedOut => ("timed-out", None),
                            };
                            let said = match (kind, by) {
                                ("confirmed", Some(by)) => format!("“{}” deleted (confirmed in tab {}).", r.title, by.short()),
                                ("cancelled", Some(by)) => format!("“{}” kept (cancelled in tab {}).", r.title, by.short()),
                                _ => format!("“{}” kept: nobody answered in time.", r.title),
                            };
                            view! {
                                <li
                                    data-testid="resolution"
                                    data-question-id=r.question.to_string()
                                    data-resolution=kind
                                    data-by=by.map(|b| b.to_string()).unwrap_or_default()
                                >
                                    {said}
                                    " "
                                    <span class="mine" data-testid="answer-status">
                                        {my_answer(r.question).unwrap_or_default()}
                                    </span>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}
