//! Emergency backups as the app shows them: the warning when a draft is not protected, and the
//! leader's list of the backups it found. Plain functions of a [`Snapshot`] and a [`View`].

use conclave_web::{BackupFailure, Found, Snapshot, Verdict, View};

/// One backup the leader found, as the panel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundRow {
    /// Its key (the row's key).
    pub key: String,
    /// The tab it belongs to, shortened, or "—" for a key that names none.
    pub tab: String,
    /// What became of it, in words.
    pub what: String,
}

/// The rows of the leader's latest reading of the backups.
#[must_use]
pub fn found_rows(found: &[Found]) -> Vec<FoundRow> {
    found
        .iter()
        .map(|f| FoundRow {
            key: f.key.clone(),
            tab: f.tab.map_or_else(|| "—".to_owned(), |t| t.short()),
            what: verdict_text(&f.verdict),
        })
        .collect()
}

/// What became of a backup, in words.
#[must_use]
pub fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Applied { requests, drafts } => {
            format!("recovered: {requests} requests applied, {drafts} drafts offered")
        }
        Verdict::Stored => "already stored; deleted".to_owned(),
        Verdict::Live => "its tab is open; left to it".to_owned(),
        Verdict::Skipped(reason) => format!("skipped ({reason}); kept"),
        // The core may learn new verdicts before the app learns to name them.
        _ => "other".to_owned(),
    }
}

/// The warning to show when this tab's drafts are not all protected by its backup: why, and
/// the titles of the sessions whose draft is not.
#[must_use]
pub fn backup_warning(snapshot: &Snapshot, view: &View) -> Option<String> {
    let failure = snapshot.backup.failure?;
    let why = match failure {
        BackupFailure::TooLarge => "the drafts are too large to back up",
        BackupFailure::Refused => "the browser refused to store the backup (storage full?)",
        _ => "the backup could not be written",
    };
    let titles: Vec<String> = snapshot
        .backup
        .unprotected
        .iter()
        .map(|id| {
            view.session(*id)
                .map_or_else(|| id.to_string(), |s| format!("“{}”", s.title))
        })
        .collect();
    Some(if titles.is_empty() {
        format!("{why}; the previous backup is kept.")
    } else {
        format!(
            "{why}: the draft in {} is not protected if this tab closes; the previous backup is kept.",
            titles.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use conclave_web::{BackupRejection, BackupStatus, Change, ItemId, TabId};

    use super::*;

    #[test]
    fn each_verdict_reads_as_what_became_of_the_backup() {
        let tab = TabId::from_bytes([7; 16]);
        let rows = found_rows(&[
            Found {
                key: "conclave:backup:x".into(),
                tab: None,
                verdict: Verdict::Skipped(BackupRejection::ForeignKey),
            },
            Found {
                key: format!("conclave:backup:{tab}"),
                tab: Some(tab),
                verdict: Verdict::Applied {
                    requests: 2,
                    drafts: 1,
                },
            },
        ]);
        assert_eq!(rows[0].tab, "—");
        assert!(rows[0].what.starts_with("skipped"), "{}", rows[0].what);
        assert_eq!(rows[1].tab, tab.short());
        assert_eq!(
            rows[1].what,
            "recovered: 2 requests applied, 1 drafts offered"
        );
    }

    #[test]
    fn the_warning_names_the_sessions_whose_draft_is_not_protected() {
        let mut snapshot = super::super::tests::snapshot();
        let mut view = View::default();
        assert_eq!(backup_warning(&snapshot, &view), None);
        let id = ItemId {
            tab: TabId::from_bytes([2; 16]),
            number: 1,
        };
        view.apply(
            1,
            &[Change::Created {
                id,
                title: "Plans".into(),
            }],
        );
        snapshot.backup = BackupStatus {
            failure: Some(BackupFailure::Refused),
            unprotected: vec![id],
            ..BackupStatus::default()
        };
        let warning = backup_warning(&snapshot, &view).unwrap_or_default();
        assert!(warning.contains("“Plans”"), "{warning}");
        assert!(warning.contains("storage full"), "{warning}");
    }
}
