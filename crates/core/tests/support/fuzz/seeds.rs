//! The seed corpus, written by the real encoders: envelopes of every body kind, what real
//! tabs post to each other while they work, the backups a tab writes, import files, a store a
//! leader wrote, and ids. Fuzzing starts from these, so that its first mutations are already
//! deep in each decoder. `tests/fuzz_regressions.rs` writes them (an ignored test) to
//! `fuzz/seeds/<target>/`, and checks that they still are what the encoders write.

use std::collections::{BTreeMap, VecDeque};

use conclave_core::data::store::{Image, LedgerRecord, SessionRecord, TaskRecord};
use conclave_core::data::{
    backup_key, Answer, Backup, Change, Cursor, Draft, Format, ItemId, JsonState, Ledger, Message,
    Op, Outcome, Question, Refusal, Resolution, Task, TaskState,
};
use conclave_core::reconcile::{self, RawBackup};
use conclave_core::wire::{Beacon, Body, Codec, Committed, Request, DEFAULT_MAX_MESSAGE_BYTES};
use conclave_core::{Key, Lifecycle, Received, Seq, Term, VClock};
use serde_json::json;

use super::page::Page;
use super::tab::{run_line, ENGINE_MS, ME, OTHER, STAGE, TASK};
use super::{CHANNEL, KEY};

/// A seed: its file name, and its bytes.
pub type Seed = (String, Vec<u8>);

/// Every target's seeds, by target name.
pub fn all() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("envelope", envelopes()),
        ("engine", scripts()),
        ("backup", backups()),
        ("reconcile", reconcile_backups()),
        ("import", files()),
        ("store", stores()),
        ("ids", ids()),
    ]
}

fn seed(name: &str, bytes: impl Into<Vec<u8>>) -> Seed {
    (name.to_owned(), bytes.into())
}

fn item(number: u64) -> ItemId {
    ItemId { tab: OTHER, number }
}

/// One operation of each kind.
fn ops() -> Vec<(&'static str, Op)> {
    vec![
        (
            "create",
            Op::Create {
                title: "Plans".into(),
            },
        ),
        (
            "rename",
            Op::Rename {
                session: item(1),
                title: "Plans, again".into(),
            },
        ),
        ("delete", Op::Delete { session: item(1) }),
        (
            "add",
            Op::Add {
                session: item(1),
                text: "a \"quoted\" line\nand ünïcode 😀".into(),
            },
        ),
        ("ask-delete", Op::AskDelete { session: item(1) }),
        (
            "answer",
            Op::Answer {
                question: item(4),
                confirm: true,
            },
        ),
        (
            "dismiss",
            Op::Dismiss {
                session: item(1),
                from: ME,
            },
        ),
        (
            "import",
            Op::Import {
                session: item(1),
                stage: STAGE.into(),
                name: "notes.md".into(),
                format: Format::Lines,
                chunks: 1,
                bytes: 120,
            },
        ),
        ("cancel", Op::Cancel { task: item(7) }),
    ]
}

/// One change of each kind.
fn changes() -> Vec<Change> {
    let task = Task {
        id: item(7),
        session: item(1),
        name: "notes.json".into(),
        format: Format::Json,
        stage: STAGE.into(),
        chunks: 2,
        bytes: 70_000,
        chunks_done: 0,
        records: 0,
        state: TaskState::Running,
    };
    let message = |number, text: &str| Message {
        id: item(number),
        text: text.into(),
    };
    vec![
        Change::Created {
            id: item(1),
            title: "Plans".into(),
        },
        Change::Renamed {
            id: item(1),
            title: "Plans, again".into(),
        },
        Change::Added {
            session: item(1),
            message: message(3, "hello"),
        },
        Change::Asked {
            question: Question {
                id: item(4),
                session: item(1),
            },
        },
        Change::Resolved {
            id: item(4),
            session: item(1),
            resolution: Resolution::Cancelled { by: ME },
        },
        Change::DraftRecovered {
            draft: Draft {
                session: item(1),
                from: OTHER,
                text: "half a thought".into(),
            },
        },
        Change::DraftDismissed {
            session: item(1),
            from: OTHER,
        },
        Change::TaskStarted { task },
        Change::Imported {
            task: item(7),
            messages: vec![message(8, "{\"n\":1}"), message(9, "[2]")],
            added: 2,
            chunks_done: 1,
            state: TaskState::Failed {
                record: 3,
                reason: "a record is not valid JSON".into(),
            },
        },
        Change::TaskEnded {
            task: item(7),
            state: TaskState::Cancelled { by: ME },
        },
        Change::Deleted { id: item(1) },
    ]
}

fn answers() -> Vec<Answer> {
    vec![
        Answer {
            tab: OTHER,
            number: 3,
            outcome: Outcome::Applied,
        },
        Answer {
            tab: ME,
            number: 9,
            outcome: Outcome::Refused(Refusal::NoSuchSession),
        },
    ]
}

/// `envelope`: one envelope of every body kind, from another tab, as the codec writes them.
fn envelopes() -> Vec<Seed> {
    let beacon = Beacon {
        ttl_ms: 3_000,
        visible: true,
        acting: true,
        rev: Some(12),
    };
    let mut bodies = vec![
        ("hello".to_owned(), Body::Hello(beacon)),
        (
            "welcome".to_owned(),
            Body::Welcome(Beacon {
                rev: None,
                ..beacon
            }),
        ),
        (
            "heartbeat".to_owned(),
            Body::Heartbeat(Beacon {
                visible: false,
                acting: false,
                ..beacon
            }),
        ),
        ("bye".to_owned(), Body::Bye),
        ("probe".to_owned(), Body::Probe),
        ("alive".to_owned(), Body::Alive),
        ("resign".to_owned(), Body::Resign { successor: None }),
        (
            "resign-to".to_owned(),
            Body::Resign {
                successor: Some(ME),
            },
        ),
        (
            "app".to_owned(),
            Body::App("{\"kind\":\"cursor\",\"x\":1.5,\"note\":\"ünï\\n\"}".into()),
        ),
        ("abandon".to_owned(), Body::Abandon { upto: 4 }),
        (
            "committed".to_owned(),
            Body::Committed(vec![
                Committed {
                    rev: 8,
                    changes: changes(),
                    answers: answers(),
                },
                Committed {
                    rev: 9,
                    changes: Vec::new(),
                    answers: Vec::new(),
                },
            ]),
        ),
        ("answers".to_owned(), Body::Answers(answers())),
    ];
    let requests: Vec<Request> = (1..)
        .zip(ops())
        .map(|(number, (_, op))| Request {
            number,
            budget_ms: 10_000,
            op,
        })
        .collect();
    for (request, (name, _)) in requests.iter().zip(ops()) {
        bodies.push((
            format!("request-{name}"),
            Body::Requests(vec![request.clone()]),
        ));
    }
    // Every kind of request in one message, as a tab's requests of one turn travel.
    bodies.push(("requests".to_owned(), Body::Requests(requests)));
    // A real envelope's header (what a tab that just opened says first), each body in turn.
    let codec = Codec::new(CHANNEL, DEFAULT_MAX_MESSAGE_BYTES);
    let opened = Page::open(OTHER, None, false, Image::default());
    let hello = opened.posts.first().expect("a tab greets as it opens");
    let mut envelope = codec.decode(hello).expect("a tab's greeting decodes");
    envelope.term = Term::new(3, OTHER);
    (1..)
        .zip(bodies)
        .map(|(seq, (name, body))| {
            envelope.seq = Seq(seq);
            envelope.body = body;
            seed(&name, codec.encode(&envelope))
        })
        .collect()
}

/// How much time passes between two exchanges of the tabs' posts, in ms.
const STEP_MS: u64 = 250;

/// Two tabs at work: the one the `engine` check runs ([`ME`]) and another ([`OTHER`]). What
/// happens to the first is written as the script that makes it happen, and carried out by
/// the check's own interpreter ([`run_line`]): the script replays what was recorded.
struct Pair {
    me: Page,
    other: Page,
    script: Vec<u8>,
    budget: u64,
}

impl Pair {
    /// `mode` as the script's first line says it, and the other tab's page.
    fn new(mode: &str, me: Page, other: Page) -> Self {
        let mut pair = Self {
            me,
            other,
            script: format!("{mode}\n").into_bytes(),
            budget: ENGINE_MS,
        };
        pair.exchange();
        pair
    }

    /// Writes `line` into the script, and carries it out on this tab.
    fn command(&mut self, line: &str) {
        self.script.extend_from_slice(line.as_bytes());
        self.script.push(b'\n');
        run_line(&mut self.me, line.as_bytes(), &mut self.budget);
    }

    /// Delivers what each tab posted to the other until both are quiet; what the other tab
    /// posts goes into the script, its tag left for the check to add again.
    fn exchange(&mut self) {
        loop {
            let heard: Vec<(bool, String)> = std::mem::take(&mut self.other.to_heir)
                .into_iter()
                .map(|text| (true, text))
                .chain(
                    std::mem::take(&mut self.other.posts)
                        .into_iter()
                        .map(|text| (false, text)),
                )
                .collect();
            let said = std::mem::take(&mut self.me.posts);
            self.me.to_heir.clear();
            if heard.is_empty() && said.is_empty() {
                return;
            }
            for (to_heir, text) in heard {
                match text.rsplit_once('#') {
                    Some((payload, _)) if to_heir => self.command(&format!("h {payload}")),
                    Some((payload, _)) => self.command(&format!("s {payload}")),
                    None => self.command(&format!("r {text}")),
                }
            }
            for text in said {
                self.other.receive(Received::Text(&text), false);
            }
        }
    }

    /// `ms` pass for both tabs, in steps short enough that each hears the other in time.
    fn pass(&mut self, ms: u64) {
        let mut left = ms;
        while left > 0 {
            let step = left.min(STEP_MS);
            left -= step;
            self.command(&format!("t {step}"));
            self.other.run_for(step);
            self.exchange();
        }
    }

    /// The other tab's app asks for `op`.
    fn request(&mut self, op: Op) {
        let now = self.other.now;
        let _ = self.other.tab.handle_request(now, op);
        self.other.settle();
        self.exchange();
        self.pass(50);
    }
}

/// `engine`: what another tab sends while it leads, while this tab leads, and while neither
/// holds the key yet.
fn scripts() -> Vec<Seed> {
    vec![
        seed("follower-of-a-working-leader", following()),
        seed("leader-serving-another-tab", leading()),
        seed("bootstrap-without-key", bootstrapping()),
    ]
}

/// The other tab leads and works; this one follows, then takes over when it closes.
fn following() -> Vec<u8> {
    let other = Page::leading(OTHER, Image::default(), BTreeMap::new());
    let me = Page::open(ME, Some(KEY), false, Image::default());
    let mut pair = Pair::new("follower", me, other);
    pair.pass(1_000);
    pair.request(Op::Create {
        title: "Plans".into(),
    });
    pair.request(Op::Add {
        session: item(1),
        text: "hello".into(),
    });
    let now = pair.other.now;
    let _ = pair
        .other
        .tab
        .handle_broadcast(now, "{\"kind\":\"typing\"}");
    pair.other.settle();
    pair.request(Op::AskDelete { session: item(1) });
    pair.pass(1_000);
    pair.other.lifecycle(Lifecycle::Closing);
    pair.exchange();
    pair.command("g");
    pair.pass(1_000);
    pair.script
}

/// This tab leads; the other asks it for work, an import among it.
fn leading() -> Vec<u8> {
    let me = Page::leading(ME, Image::default(), BTreeMap::new());
    let other = Page::open(OTHER, Some(KEY), false, Image::default());
    let mut pair = Pair::new("leader", me, other);
    pair.pass(1_000);
    pair.request(Op::Create {
        title: "Notes".into(),
    });
    // One line: a script's line ends at a newline.
    let file = "[{\"n\":1}, {\"n\":2,\"s\":\"a ] b\"}, 3]";
    pair.command(&format!("f {STAGE} 0 {file}"));
    pair.request(Op::Import {
        session: item(1),
        stage: STAGE.into(),
        name: "notes.json".into(),
        format: Format::Json,
        chunks: 1,
        bytes: file.len() as u64,
    });
    pair.request(Op::Rename {
        session: item(1),
        title: "Notes, imported".into(),
    });
    pair.pass(2_000);
    pair.script
}

/// Neither tab holds the key: greetings go unsigned, until the key is written.
fn bootstrapping() -> Vec<u8> {
    let me = Page::open(ME, None, true, Image::default());
    let other = Page::open(OTHER, None, false, Image::default());
    let mut pair = Pair::new("nokey", me, other);
    pair.pass(1_000);
    pair.command("k");
    pair.script
}

/// `backup`: what a tab writes to its backup key, and a backup of every kind of request.
fn backups() -> Vec<Seed> {
    // A tab whose leader is gone: its requests stay pending, its draft unsent.
    let mut page = Page::open(OTHER, Some(KEY), false, Image::default());
    let now = page.now;
    let _ = page.tab.handle_request(
        now,
        Op::Add {
            session: item(1),
            text: "sent, not yet stored".into(),
        },
    );
    page.tab.handle_draft(item(1), "half a thought");
    page.settle();
    let written: Vec<Seed> = page
        .local
        .iter()
        .filter(|(key, _)| key.starts_with("conclave:backup:"))
        .map(|(key, text)| seed("written-by-a-tab", format!("{key}\n{text}")))
        .collect();
    assert_eq!(written.len(), 1, "the tab wrote its backup");
    let mut clock = VClock::new();
    clock.raise(OTHER, 12);
    let every = Backup {
        tab: OTHER,
        clock,
        requests: (3..).zip(ops().into_iter().map(|(_, op)| op)).collect(),
        drafts: BTreeMap::from([(item(1), "drafted".into()), (item(2), "ünï 😀".into())]),
    };
    let key = backup_key(CHANNEL, OTHER);
    let mut seeds = written;
    seeds.push(seed("every-request", format!("{key}\n{}", every.encode())));
    seeds
}

/// `reconcile`: a backup of format 1 with every kind of operation.
fn reconcile_backups() -> Vec<Seed> {
    let mut clock = VClock::new();
    clock.tick(OTHER);
    let created = clock.clone();
    clock.tick(OTHER);
    let renamed = clock.clone();
    clock.raise(ME, 4);
    let backup = reconcile::Backup {
        tab: OTHER,
        clock,
        ops: vec![
            reconcile::Op::CreateSession {
                session: "s1".into(),
                title: "Plans".into(),
                clock: created,
            },
            reconcile::Op::AddMessage {
                session: "s1".into(),
                message: reconcile::Message {
                    id: "m1".into(),
                    author: OTHER,
                    text: "hello".into(),
                },
            },
            reconcile::Op::RenameSession {
                session: "s1".into(),
                title: "Plans, again".into(),
                clock: renamed,
            },
        ],
    };
    let raw = RawBackup {
        key: backup.key(),
        text: backup.encode(),
    };
    vec![seed("every-op", format!("{}\n{}", raw.key, raw.text))]
}

/// `import`: files of both formats, cut small, good and bad.
fn files() -> Vec<Seed> {
    let file = |name: &str, json: bool, sizes: &[u8], body: &[u8]| {
        let mut bytes = vec![u8::from(json), (sizes.len() - 1) as u8];
        bytes.extend_from_slice(sizes);
        bytes.extend_from_slice(body);
        seed(name, bytes)
    };
    let long = format!("short\n{}\nafter\n", "x".repeat(5_000));
    vec![
        file(
            "lines",
            false,
            &[2, 0, 6],
            "first line\r\n\n  second  \nthird, with é and 😀\nlast without newline".as_bytes(),
        ),
        file(
            "json",
            true,
            &[4, 1],
            br#" [ {"ts":"2024-01-01","track":"a, \"b\" ]"}, 12, "x}", [1,[2]], null ,true] "#,
        ),
        file(
            "json-bad-record",
            true,
            &[4],
            br#"[{"a":1},{"b":},{"c":3}]"#,
        ),
        file("json-truncated", true, &[3], br#"[{"a":1},{"b":2"#),
        file("json-not-an-array", true, &[3], br#"{"not": "an array"}"#),
        file("json-after-the-array", true, &[5], b"[1, 2] 3"),
        file("lines-not-utf8", false, &[2], b"ok\n\xff\xfe\nlater\n"),
        file("lines-too-long", false, &[255, 99], long.as_bytes()),
        file("empty", false, &[0], b""),
    ]
}

/// `store`: a store a leader wrote while it worked, with an import half done.
fn stores() -> Vec<Seed> {
    let mut page = Page::leading(ME, Image::default(), BTreeMap::new());
    let mut ask = |op| {
        let now = page.now;
        let _ = page.tab.handle_request(now, op);
        page.settle();
        page.run_for(100);
    };
    let session = ItemId { tab: ME, number: 1 };
    ask(Op::Create {
        title: "Plans".into(),
    });
    ask(Op::Add {
        session,
        text: "hello".into(),
    });
    ask(Op::AskDelete { session });
    let mut image = page.image;
    // An import a leader left half done: two records of its second chunk in, a record's
    // start carried into it.
    image.tasks.push(TaskRecord {
        task: Task {
            id: TASK,
            session,
            name: "notes.json".into(),
            format: Format::Json,
            stage: STAGE.into(),
            chunks: 3,
            bytes: 140_000,
            chunks_done: 1,
            records: 5,
            state: TaskState::Running,
        },
        cursor: Cursor {
            chunk: 1,
            skip: 2,
            carry: b"{\"n\":".to_vec(),
            json: JsonState::Inside,
            records: 5,
        },
    });
    image.drafts.push(Draft {
        session,
        from: OTHER,
        text: "half a thought".into(),
    });
    image.ledgers.push(LedgerRecord {
        tab: OTHER,
        ledger: Ledger {
            number: 4,
            recent: VecDeque::from([(4, Outcome::Refused(Refusal::Busy))]),
        },
    });
    image.sessions.push(SessionRecord {
        id: item(9),
        title: "another".into(),
        created: 2,
    });
    let store = json!({
        "rev": image.rev,
        "sessions": image.sessions,
        "messages": image.messages,
        "ledgers": image.ledgers,
        "questions": image.questions,
        "drafts": image.drafts,
        "tasks": image.tasks,
        "staged": { STAGE: ["{\"n\":5}, {\"n\":6}, {\"n\":7}, {\"n\":", "8}, {\"n\":9}, ", "10]"] },
    });
    vec![seed("written-by-a-leader", store.to_string())]
}

/// `ids`: one of each.
fn ids() -> Vec<Seed> {
    vec![
        seed("tab", OTHER.to_string()),
        seed("item", item(42).to_string()),
        seed("key", Key::from_bytes([0xa7; 32]).to_hex()),
        seed("backup-key", backup_key(CHANNEL, OTHER)),
    ]
}
