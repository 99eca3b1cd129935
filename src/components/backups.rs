//! Emergency backups: a banner when a draft is not protected, and the panel's account of this
//! tab's backup and of the backups the leader found.

use conclave_web::Snapshot;
use leptos::prelude::*;

use crate::use_conclave::Workspace;
use crate::view_model::{self, FoundRow};

/// Says, in the workspace, which drafts this tab's backup does not protect, and why.
#[component]
pub fn BackupBanner(
    /// The driver's latest snapshot (`None` before it starts or in safe mode).
    snapshot: Signal<Option<Snapshot>>,
    /// The workspace, for the sessions' titles.
    workspace: Workspace,
) -> impl IntoView {
    let warning = Memo::new(move |_| {
        snapshot.with(|s| {
            let s = s.as_ref()?;
            workspace.with_outline(|view| view_model::backup_warning(s, view))
        })
    });
    view! {
        <Show when=move || warning.with(Option::is_some)>
            <div class="banner" role="alert" data-testid="backup-warning">
                <strong>"Not backed up: "</strong>
                <span>{move || warning.get().unwrap_or_default()}</span>
            </div>
        </Show>
    }
}

/// This tab's backup (writes, size, failure) and the backups the leader found at its latest
/// reading, with what became of each.
#[component]
pub fn BackupsPanel(
    /// The driver's latest snapshot (`None` before it starts or in safe mode).
    snapshot: Signal<Option<Snapshot>>,
) -> impl IntoView {
    let status = Memo::new(move |_| snapshot.with(|s| s.as_ref().map(|s| s.backup.clone())));
    let found = Memo::new(move |_| {
        snapshot.with(|s| {
            s.as_ref()
                .map(|s| view_model::found_rows(&s.backups_found))
                .unwrap_or_default()
        })
    });
    view! {
        <section class="card wide" aria-labelledby="backups-title">
            <h2 id="backups-title">"Backups"</h2>
            <dl class="facts">
                <dt>"This tab's backup"</dt>
                <dd data-testid="backup-bytes">
                    {move || status.with(|s| s.as_ref().map_or_else(|| "—".to_owned(), |s| {
                        if s.bytes == 0 { "none (nothing to protect)".to_owned() } else { format!("{} bytes", s.bytes) }
                    }))}
                </dd>
                <dt>"Written"</dt>
                <dd data-testid="backup-writes">
                    {move || status.with(|s| s.as_ref().map_or_else(|| "—".to_owned(), |s| s.writes.to_string()))}
                </dd>
                <dt>"Last failure"</dt>
                <dd data-testid="backup-failure">
                    {move || status.with(|s| {
                        s.as_ref()
                            .and_then(|s| s.failure)
                            .map_or_else(|| "none".to_owned(), |f| f.to_string())
                    })}
                </dd>
            </dl>
            // Hidden while empty: headers over no cell say nothing (the line below says it).
            <table class="table" data-testid="backups-found" hidden=move || found.with(Vec::is_empty)>
                <caption>"Found by the leader at its latest reading"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Tab"</th>
                        <th scope="col">"What became of it"</th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || found.get() key=|row: &FoundRow| (row.key.clone(), row.what.clone()) let:row>
                        <tr data-testid="backup-found" data-key=row.key.clone()>
                            <td data-label="Tab"><code title=row.key.clone()>{row.tab}</code></td>
                            <td data-label="What became of it">{row.what}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            <p class="empty" hidden=move || found.with(|f| !f.is_empty())>"None found (or this tab does not lead)."</p>
        </section>
    }
}
