//! The sessions workspace as the app shows it: the sidebar's rows, which session is open, the
//! messages a search leaves, what became of a request, and the requests panel's rows. Plain
//! functions of a [`View`] or a [`Snapshot`], tested without a page.

use conclave_web::{
    Breaker, Change, ItemId, Message, Op, Outcome, Refusal, RequestCounters, Session, Snapshot,
    Stage, TabId, View,
};

use super::CounterRow;

/// One session in the sidebar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Its id (the row's key and its `data-session-id`).
    pub id: ItemId,
    /// Its title.
    pub title: String,
    /// How many messages it holds.
    pub messages: usize,
}

/// The sidebar's rows, in the order the sessions were created.
#[must_use]
pub fn session_rows(view: &View) -> Vec<SessionRow> {
    view.sessions()
        .into_iter()
        .map(|s| SessionRow {
            id: s.id,
            title: s.title.clone(),
            messages: usize::try_from(s.count).unwrap_or(usize::MAX),
        })
        .collect()
}

/// Which session to open after the workspace changed: `wanted` (one this tab just created)
/// once it exists, else the `current` one while it exists, else the first (or none at all).
/// So a session deleted in another tab never leaves this one showing nothing while others
/// remain.
#[must_use]
pub fn choose_active(
    view: &View,
    current: Option<ItemId>,
    wanted: Option<ItemId>,
) -> Option<ItemId> {
    let exists = |id: &ItemId| view.session(*id).is_some();
    wanted
        .filter(exists)
        .or(current.filter(exists))
        .or_else(|| view.sessions().first().map(|s| s.id))
}

/// Checks a title as the leader will, so that an empty one is explained before anything is
/// sent: the trimmed title, or why it cannot be sent.
///
/// # Errors
/// What to tell the person, in a sentence.
pub fn check_title(title: &str) -> Result<String, String> {
    let title = title.trim();
    if title.is_empty() {
        return Err("Give the session a title first.".to_owned());
    }
    match (Op::Create {
        title: title.to_owned(),
    })
    .validate()
    {
        Ok(()) => Ok(title.to_owned()),
        Err(refusal) => Err(not_sent(&refusal)),
    }
}

/// What to say when a request is refused before it is even sent.
#[must_use]
pub fn not_sent(refusal: &Refusal) -> String {
    format!("Not sent: {refusal}.")
}

/// The messages of a session whose text contains `query`, ignoring case, oldest first; all of
/// them when the query is blank.
#[must_use]
pub fn search<'a>(messages: &'a [Message], query: &str) -> Vec<&'a Message> {
    let query = query.trim().to_lowercase();
    messages
        .iter()
        .filter(|m| query.is_empty() || m.text.to_lowercase().contains(&query))
        .collect()
}

/// Whether `changes` (one revision's) touch the workspace's outline: anything but a message
/// added to a session, which every tab hears at every write. Its readers (a session's title,
/// the questions, the recovered drafts, the imports) need not read the view again for those.
#[must_use]
pub fn outline_changed(changes: &[Change]) -> bool {
    changes
        .iter()
        .any(|change| !matches!(change, Change::Added { .. }))
}

/// "N of M messages": how many a search leaves.
#[must_use]
pub fn search_count(shown: usize, total: usize) -> String {
    format!("{shown} of {total} messages")
}

/// One message of the open session, as its list shows it. Built for every row at every
/// redraw, so it holds ids, not their spellings: those are written once, when a row is
/// first drawn ([`PostRow::by`], `to_string`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRow {
    /// The message's id (the row's key and its `data-message-id`).
    pub id: ItemId,
    /// Its author (`data-author`).
    pub author: TabId,
    /// Whether this tab wrote it.
    pub mine: bool,
    /// What was written (shown as text, never as markup).
    pub text: String,
}

impl PostRow {
    /// Its author, short: "you" for this tab, else the first 8 hex digits.
    #[must_use]
    pub fn by(&self) -> String {
        if self.mine {
            "you".to_owned()
        } else {
            self.author.short()
        }
    }
}

/// How many messages of `session` match `query`, and the rows of the latest `limit` of them,
/// oldest first (`me` is this tab, if known: its own read "you"), of those the tab holds
/// ([`to_read`] says which it lacks). Without a query nothing but those rows is looked at: a
/// session of tens of thousands of messages costs what its latest do, and counts them all.
#[must_use]
pub fn latest_post_rows(
    session: &Session,
    query: &str,
    me: Option<TabId>,
    limit: usize,
) -> (usize, Vec<PostRow>) {
    let (count, matched): (usize, Vec<&Message>) = if query.trim().is_empty() {
        let held = &session.messages;
        (
            usize::try_from(session.count).unwrap_or(usize::MAX),
            held[held.len().saturating_sub(limit)..].iter().collect(),
        )
    } else {
        let found = search(&session.messages, query);
        let from = found.len().saturating_sub(limit);
        (found.len(), found[from..].to_vec())
    };
    let rows = matched
        .into_iter()
        .map(|m| PostRow {
            id: m.id,
            author: m.author(),
            mine: Some(m.author()) == me,
            text: m.text.clone(),
        })
        .collect();
    (count, rows)
}

/// The places `from..to` of the messages of `session` to read from the store so that its list
/// can draw the latest `limit` of them (with a `query`, search them all), or none when the tab
/// holds them. While an import runs into the session (`importing`), the latest held will do
/// even if some later ones are not: the import's batches bring later ones a few times a
/// second.
#[must_use]
pub fn to_read(
    session: &Session,
    query: &str,
    limit: usize,
    importing: bool,
) -> Option<(u64, u64)> {
    let held = session.messages.len() as u64;
    // What is held from the end, if anything: a read stops where it begins.
    let to = if session.holds_latest() && held > 0 {
        session.from
    } else {
        session.count
    };
    if !query.trim().is_empty() {
        return (!session.holds_all()).then_some((0, to));
    }
    let wanted = session.count.min(limit as u64);
    let enough = held >= wanted && (session.holds_latest() || importing);
    (!enough).then_some((session.count - wanted, to))
}

/// What a request asks, in one word.
#[must_use]
pub fn op_label(op: &Op) -> &'static str {
    match op {
        Op::Create { .. } => "create",
        Op::Rename { .. } => "rename",
        Op::Delete { .. } => "delete",
        Op::Add { .. } => "add message",
        Op::AskDelete { .. } => "ask to delete",
        Op::Answer { .. } => "answer",
        // The core may learn new operations before the app learns to name them.
        _ => "other",
    }
}

/// How request `number` ended, if `ended` (this tab's latest ended requests) says.
#[must_use]
pub fn outcome_of(number: u64, ended: &[(u64, Outcome)]) -> Option<Outcome> {
    ended
        .iter()
        .rev()
        .find(|(n, _)| *n == number)
        .map(|(_, o)| *o)
}

/// Where the composer's last submit stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComposeStatus {
    /// Nothing was sent: why, in a sentence.
    Unsent(&'static str),
    /// Request `number` was made and has not ended.
    Sending(u64),
    /// It was applied.
    Saved,
    /// It was refused, at once or by the leader.
    Refused(Refusal),
}

impl ComposeStatus {
    /// The status right after making a request.
    #[must_use]
    pub fn made(result: Result<u64, Refusal>) -> Self {
        match result {
            Ok(number) => Self::Sending(number),
            Err(refusal) => Self::Refused(refusal),
        }
    }

    /// The status once `ended` is known: a request that ended is saved or refused; anything
    /// else stays as it is (so a status, once final, stays final).
    #[must_use]
    pub fn after(self, ended: &[(u64, Outcome)]) -> Self {
        match self {
            Self::Sending(number) => match outcome_of(number, ended) {
                Some(Outcome::Applied) => Self::Saved,
                Some(Outcome::Refused(refusal)) => Self::Refused(refusal),
                None => self,
            },
            other => other,
        }
    }

    /// What the status line says.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            Self::Unsent(why) => (*why).to_owned(),
            Self::Sending(_) => "Sending…".to_owned(),
            Self::Saved => "Saved.".to_owned(),
            Self::Refused(refusal) => format!("Not saved: {refusal}."),
        }
    }

    /// Whether it reports a failure.
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Unsent(_) | Self::Refused(_))
    }
}

/// This tab's request counters, one row each; `key` names the cell `requests-{key}`.
#[must_use]
pub fn request_rows(counters: &RequestCounters) -> Vec<CounterRow> {
    let row = |key, label, value| CounterRow { key, label, value };
    vec![
        row("made", "made", counters.made),
        row("applied", "applied", counters.applied),
        row("refused", "refused (expired included)", counters.refused),
        row("expired", "expired", counters.expired),
        row("retries", "sent again", counters.retries),
    ]
}

/// One request of this tab still waiting for its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRow {
    /// Its number.
    pub number: u64,
    /// What it asks ([`op_label`]).
    pub kind: &'static str,
    /// Where it stands ([`stage_label`]).
    pub stage: &'static str,
    /// Milliseconds since it was made, as of the snapshot.
    pub age_ms: u64,
}

/// The pending requests, oldest first (the snapshot's order).
#[must_use]
pub fn pending_rows(snapshot: &Snapshot) -> Vec<PendingRow> {
    snapshot
        .pending
        .iter()
        .map(|p| PendingRow {
            number: p.number,
            kind: op_label(&p.op),
            stage: stage_label(p.stage),
            age_ms: snapshot.now.since(p.made),
        })
        .collect()
}

/// Where a pending request stands, in words.
#[must_use]
pub fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Sent => "sent",
        Stage::Abandoning => "abandoning",
    }
}

/// Whether new requests go out (the retry policy's circuit breaker), in words.
#[must_use]
pub fn breaker_label(snapshot: &Snapshot) -> String {
    match snapshot.breaker {
        Breaker::Closed => "go out".to_owned(),
        Breaker::Open { until } => {
            let ms = until.since(snapshot.now);
            format!(
                "read-only: no leader answers (trying again in {}.{} s)",
                ms / 1_000,
                (ms % 1_000) / 100
            )
        }
        Breaker::HalfOpen => "one goes out to test the leader".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use conclave_web::{Millis, Pending};

    fn tab(b: u8) -> TabId {
        TabId::from_bytes([b; 16])
    }

    fn id(b: u8, number: u64) -> ItemId {
        ItemId {
            tab: tab(b),
            number,
        }
    }

    fn message(b: u8, number: u64, text: &str) -> Message {
        Message {
            id: id(b, number),
            text: text.to_owned(),
        }
    }

    fn session(number: u64, title: &str, created: u64, messages: Vec<Message>) -> Session {
        Session::new(id(1, number), title.to_owned(), created, messages)
    }

    #[test]
    fn the_sidebar_lists_sessions_as_created_with_their_message_counts() {
        let view = View::new(
            3,
            [
                session(9, "later", 2, vec![message(2, 1, "a"), message(2, 2, "b")]),
                session(4, "first", 1, Vec::new()),
            ],
        );
        let rows = session_rows(&view);
        let seen: Vec<(&str, usize)> = rows
            .iter()
            .map(|r| (r.title.as_str(), r.messages))
            .collect();
        assert_eq!(seen, [("first", 0), ("later", 2)]);
        assert_eq!(rows[0].id, id(1, 4));
    }

    #[test]
    fn only_messages_added_leave_the_outline_as_it_was() {
        let added = |number| Change::Added {
            session: id(1, 1),
            message: message(2, number, "hi"),
        };
        assert!(!outline_changed(&[]));
        assert!(!outline_changed(&[added(1), added(2)]));
        let renamed = Change::Renamed {
            id: id(1, 1),
            title: "new".to_owned(),
        };
        assert!(outline_changed(std::slice::from_ref(&renamed)));
        assert!(outline_changed(&[added(1), renamed, added(2)]));
        assert!(outline_changed(&[Change::Deleted { id: id(1, 1) }]));
    }

    #[test]
    fn the_open_session_moves_to_the_first_when_it_disappears() {
        let view = View::new(
            2,
            [
                session(1, "a", 1, Vec::new()),
                session(2, "b", 2, Vec::new()),
            ],
        );
        assert_eq!(choose_active(&view, Some(id(1, 2)), None), Some(id(1, 2)));
        assert_eq!(
            choose_active(&view, Some(id(1, 7)), None),
            Some(id(1, 1)),
            "deleted"
        );
        assert_eq!(
            choose_active(&view, None, None),
            Some(id(1, 1)),
            "first load"
        );
        assert_eq!(choose_active(&View::default(), Some(id(1, 1)), None), None);
    }

    #[test]
    fn a_session_this_tab_created_opens_once_it_exists() {
        let view = View::new(1, [session(1, "a", 1, Vec::new())]);
        assert_eq!(
            choose_active(&view, Some(id(1, 1)), Some(id(1, 5))),
            Some(id(1, 1)),
            "not applied yet: stay"
        );
        let later = View::new(
            2,
            [
                session(1, "a", 1, Vec::new()),
                session(5, "new", 2, Vec::new()),
            ],
        );
        assert_eq!(
            choose_active(&later, Some(id(1, 1)), Some(id(1, 5))),
            Some(id(1, 5))
        );
    }

    #[test]
    fn titles_are_trimmed_and_an_empty_one_is_explained_before_sending() {
        assert_eq!(check_title("  Notes "), Ok("Notes".to_owned()));
        assert_eq!(
            check_title("   "),
            Err("Give the session a title first.".to_owned())
        );
        let long = check_title(&"x".repeat(conclave_core::data::MAX_TITLE_BYTES + 1));
        assert_eq!(
            long,
            Err("Not sent: the title is longer than 200 bytes.".to_owned())
        );
    }

    #[test]
    fn search_ignores_case_and_keeps_the_order() {
        let messages = [
            message(1, 1, "Hello there"),
            message(1, 2, "nothing"),
            message(2, 3, "say HELLO"),
        ];
        let found: Vec<&str> = search(&messages, "hello")
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(found, ["Hello there", "say HELLO"]);
        assert_eq!(search(&messages, "  ").len(), 3, "a blank query keeps all");
        assert!(search(&messages, "absent").is_empty());
        assert_eq!(search_count(2, 3), "2 of 3 messages");
    }

    #[test]
    fn posts_name_their_author_short_and_this_tab_as_you() {
        let s = session(
            1,
            "s",
            1,
            vec![message(1, 2, "<b>mine</b>"), message(2, 3, "theirs")],
        );
        let (_, rows) = latest_post_rows(&s, "", Some(tab(1)), usize::MAX);
        assert_eq!(rows[0].by(), "you");
        assert_eq!(rows[0].text, "<b>mine</b>", "text is kept as written");
        assert_eq!(rows[1].by(), "02020202");
        assert_eq!(rows[1].author, tab(2));
        assert_eq!(rows[1].id, id(2, 3));
        assert_eq!(latest_post_rows(&s, "THEIR", None, usize::MAX).0, 1);
        let (count, latest) = latest_post_rows(&s, "", None, 1);
        assert_eq!((count, latest.len()), (s.messages.len(), 1));
        assert_eq!(latest[0].text, s.messages[s.messages.len() - 1].text);
    }

    #[test]
    fn a_list_reads_from_the_store_what_it_draws_and_lacks() {
        let numbered = |places: std::ops::Range<u64>| -> Vec<Message> {
            places.map(|n| message(2, n, &format!("m{n}"))).collect()
        };
        let mut s = session(1, "s", 1, numbered(0..10));
        assert_eq!(to_read(&s, "", 30, false), None, "every message held");
        assert_eq!(to_read(&s, "m3", 30, false), None);
        // Told of 100 by their size: the latest 30 are read; a search reads them all.
        s.skip(100);
        assert_eq!(to_read(&s, "", 30, false), Some((80, 110)));
        assert_eq!(to_read(&s, " m3 ", 30, false), Some((0, 110)));
        // While importing, the ten held will not do for thirty rows, but 30 would.
        assert_eq!(to_read(&s, "", 30, true), Some((80, 110)));
        assert!(s.fill(80, numbered(80..110)));
        assert_eq!(latest_post_rows(&s, "", None, 30).0, 110, "all are counted");
        assert_eq!(latest_post_rows(&s, "", None, 30).1.len(), 30);
        s.skip(5);
        assert_eq!(
            to_read(&s, "", 30, true),
            None,
            "the import's next whole batch brings them"
        );
        assert_eq!(to_read(&s, "", 30, false), Some((85, 115)));
        s.append(&numbered(115..117));
        // The latest two held: only what comes before them is read.
        assert_eq!(to_read(&s, "", 30, false), Some((87, 115)));
        assert_eq!(to_read(&s, "x", 30, false), Some((0, 115)));
    }

    #[test]
    fn every_op_has_a_label() {
        let s = id(1, 1);
        let ops = [
            Op::Create { title: "t".into() },
            Op::Rename {
                session: s,
                title: "t".into(),
            },
            Op::Delete { session: s },
            Op::Add {
                session: s,
                text: "x".into(),
            },
            Op::AskDelete { session: s },
            Op::Answer {
                question: s,
                confirm: true,
            },
        ];
        let labels: Vec<&str> = ops.iter().map(op_label).collect();
        assert_eq!(
            labels,
            [
                "create",
                "rename",
                "delete",
                "add message",
                "ask to delete",
                "answer"
            ]
        );
    }

    #[test]
    fn a_compose_status_follows_its_request_to_its_end_and_stays_there() {
        let sending = ComposeStatus::made(Ok(7));
        assert_eq!(sending.text(), "Sending…");
        assert!(!sending.is_error());
        let others = [
            (6, Outcome::Applied),
            (8, Outcome::Refused(Refusal::Expired)),
        ];
        assert_eq!(sending.clone().after(&others), ComposeStatus::Sending(7));
        let saved = sending.clone().after(&[(7, Outcome::Applied)]);
        assert_eq!(saved.text(), "Saved.");
        assert_eq!(
            saved.clone().after(&[]),
            saved,
            "final even once out of the window"
        );
        let refused = sending.after(&[(7, Outcome::Refused(Refusal::NoSuchSession))]);
        assert_eq!(refused.text(), "Not saved: the session no longer exists.");
        assert!(refused.is_error());
        let at_once = ComposeStatus::made(Err(Refusal::Busy));
        assert_eq!(
            at_once.text(),
            "Not saved: too many requests are waiting for the leader."
        );
    }

    #[test]
    fn the_requests_panel_shows_counters_and_pending_ages() {
        let counters = RequestCounters {
            made: 5,
            applied: 3,
            refused: 1,
            expired: 1,
            retries: 2,
        };
        let rows = request_rows(&counters);
        let keys: Vec<(&str, u64)> = rows.iter().map(|r| (r.key, r.value)).collect();
        assert_eq!(
            keys,
            [
                ("made", 5),
                ("applied", 3),
                ("refused", 1),
                ("expired", 1),
                ("retries", 2)
            ]
        );
        let pending = Pending {
            number: 4,
            op: Op::Delete { session: id(1, 1) },
            made: Millis(1_000),
            deadline: Millis(6_000),
            stage: Stage::Abandoning,
        };
        let snapshot = Snapshot {
            pending: vec![pending],
            ..super::super::tests::snapshot()
        };
        assert_eq!(breaker_label(&snapshot), "go out");
        let open = Snapshot {
            breaker: Breaker::Open {
                until: Millis(5_600),
            },
            ..snapshot.clone()
        };
        assert_eq!(
            breaker_label(&open),
            "read-only: no leader answers (trying again in 2.1 s)"
        );
        assert_eq!(
            pending_rows(&snapshot),
            [PendingRow {
                number: 4,
                kind: "delete",
                stage: "abandoning",
                age_ms: 2_500,
            }]
        );
    }
}
