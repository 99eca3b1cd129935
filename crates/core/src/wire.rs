//! The envelope every tab sends, and its JSON codec.
//!
//! A message on the channel is one JSON string:
//!
//! ```json
//! {"v":6,"ch":"conclave","from":"<32 hex>","inc":0,"seq":7,"at":1764806400000,"term":4,"lead":"<32 hex>","msg":{"heartbeat":{"ttl":3000,"visible":true,"acting":false}}}
//! ```
//!
//! Decoding never panics and never trusts the sender: the length is checked before parsing, the
//! version and channel before the body, and every number must be an exact JavaScript integer.
//! Anything else is a [`Rejection`] with a name.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::data::{Answer, Change, Op, Outcome};
use crate::election::Term;
use crate::ids::{Incarnation, Seq, TabId, MAX_SAFE_INTEGER};
use crate::json::{unsafe_number_at, SafeU64};
use crate::rejection::Rejection;

/// The protocol version this build speaks. Messages of any other version are rejected.
/// Version 2 added the term to every envelope and the probe, alive and resign bodies; version 3
/// the send time (`at`); version 4 made a tab's requests travel together ([`Body::Requests`]);
/// version 5 told the tabs most of an import's batches by their size alone (`added`), several
/// commits in one message; version 6 sends a follower's requests on the leader's channel
/// ([`crate::Output::TransmitToLeader`]), where a leader of version 5 would not hear them.
pub const PROTOCOL_VERSION: u64 = 6;

/// The most requests one message carries: as many as a tab keeps outstanding.
pub const MAX_REQUESTS: usize = crate::data::MAX_PENDING;

/// One request for the leader: the sender's request `number`, to be applied within `budget_ms`
/// of its arrival or not at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The sender's request number.
    pub number: u64,
    /// How long the leader may take to apply it, in ms.
    pub budget_ms: u64,
    /// What it asks.
    pub op: Op,
}

/// The default upper bound on one message, in bytes, checked before parsing.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One message between tabs: who sent it, in which life, in which order, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sending tab.
    pub from: TabId,
    /// The sender's incarnation when it sent this.
    pub incarnation: Incarnation,
    /// The sender's sequence number within that incarnation, from 1.
    pub seq: Seq,
    /// When it was sealed: the sender's wall clock, in ms since the Unix epoch (the tabs of
    /// one machine read the same clock). Receivers judge its freshness by it.
    pub at: u64,
    /// The highest term the sender knows. When it names the sender as its leader, this is a
    /// *leader message*, fenced by the term.
    pub term: Term,
    /// What the message says.
    pub body: Body,
}

impl Envelope {
    /// Whether the sender claims to lead the term it carries.
    #[must_use]
    pub fn from_leader(&self) -> bool {
        self.term.leader() == Some(self.from)
    }

    /// Whether this is a *leader action*, fenced by its term: an app message sent by a tab
    /// that claims to lead. (Presence, probes and answers from a deposed leader are still
    /// heard; they carry no authority. Nor does a resignation below the receiver's term: it
    /// hands nothing on, and is heard as the goodbye it also is.)
    #[must_use]
    pub fn is_leader_action(&self) -> bool {
        self.from_leader() && (matches!(self.body, Body::App(_)) || self.body.is_leader_only())
    }
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// A tab has started (or come back) and asks everyone to answer.
    Hello(Beacon),
    /// The answer to a [`Body::Hello`]: "I am here too".
    Welcome(Beacon),
    /// A periodic "still here".
    Heartbeat(Beacon),
    /// The tab is going away (`pagehide`); forget it now.
    Bye,
    /// "Leader, are you there?" from a follower; from a leader after a stall, "is there a
    /// higher term?". Answered at once with [`Body::Alive`].
    Probe,
    /// The answer to a [`Body::Probe`], carrying the answerer's term.
    Alive,
    /// The leader stops leading its term (closing or freezing) and names who should take over;
    /// it is also the leader's goodbye (a resigning tab sends no [`Body::Bye`]).
    Resign {
        /// The peer that should take over at once, if the leader knows one.
        successor: Option<TabId>,
    },
    /// A message of the app's own, delivered to every other tab's app once, in order per
    /// sender, signed and sequenced like every other message.
    App(String),
    /// Requests for the leader, in the order the sender made them (at least one, at most
    /// [`MAX_REQUESTS`]): a tab's requests made in one turn travel together.
    Requests(Vec<Request>),
    /// The sender's requests up to `upto` that are not yet consumed are to be consumed as
    /// expired: their deadlines passed.
    Abandon {
        /// The highest number abandoned.
        upto: u64,
    },
    /// The leader committed these store revisions, in order: one, or (while an import runs)
    /// the batches it told by their size alone since it last sent, then the next.
    Committed(Vec<Committed>),
    /// The leader's answers to requests sent again that it had already consumed.
    Answers(Vec<Answer>),
}

/// One commit of the store, as the leader tells the tabs: its revision, the changes, and how
/// the requests in it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The store's revision after the commit.
    pub rev: u64,
    /// What changed, in order.
    pub changes: Vec<Change>,
    /// How each request consumed by the commit ended.
    pub answers: Vec<Answer>,
}

impl Body {
    /// Whether only a leader may send it: the store's commits and answers.
    #[must_use]
    pub fn is_leader_only(&self) -> bool {
        matches!(self, Body::Committed(_) | Body::Answers(_))
    }
}

/// What a presence message says about its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Beacon {
    /// For how long after this message receivers should keep the sender listed without hearing
    /// from it again, in milliseconds. Receivers clamp it to their own bounds.
    pub ttl_ms: u64,
    /// Whether the sender's page is visible (hidden pages have throttled timers).
    pub visible: bool,
    /// Whether the sender acts as leader of the term it carries (not merely minted it).
    pub acting: bool,
    /// From a leader that writes the store: the store's latest revision, so that a tab that
    /// missed a commit (frozen, cached, or the message lost) reads the store again.
    pub rev: Option<u64>,
}

/// Encodes and decodes envelopes for one channel.
#[derive(Clone, Debug)]
pub struct Codec {
    channel: String,
    max_bytes: usize,
}

impl Codec {
    /// A codec for `channel` that refuses messages longer than `max_bytes`.
    #[must_use]
    pub fn new(channel: impl Into<String>, max_bytes: usize) -> Self {
        Self {
            channel: channel.into(),
            max_bytes,
        }
    }

    /// The channel name this codec writes and accepts.
    #[must_use]
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The largest message this codec parses, in bytes.
    #[must_use]
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Encodes `envelope` as the JSON text to post on the channel.
    #[must_use]
    pub fn encode(&self, envelope: &Envelope) -> String {
        let msg = match &envelope.body {
            Body::Hello(b) => RawBody::Hello((*b).into()),
            Body::Welcome(b) => RawBody::Welcome((*b).into()),
            Body::Heartbeat(b) => RawBody::Heartbeat((*b).into()),
            Body::Bye => RawBody::Bye,
            Body::Probe => RawBody::Probe,
            Body::Alive => RawBody::Alive,
            Body::Resign { successor } => RawBody::Resign(RawResign {
                successor: successor.map(|id| id.to_string()),
            }),
            Body::App(data) => RawBody::App(Cow::Borrowed(data)),
            Body::Requests(requests) => RawBody::Requests(
                requests
                    .iter()
                    .map(|r| RawRequest {
                        number: SafeU64(r.number.min(MAX_SAFE_INTEGER)),
                        budget: SafeU64(r.budget_ms.min(MAX_SAFE_INTEGER)),
                        op: Cow::Borrowed(&r.op),
                    })
                    .collect(),
            ),
            Body::Abandon { upto } => RawBody::Abandon(RawAbandon {
                upto: SafeU64((*upto).min(MAX_SAFE_INTEGER)),
            }),
            Body::Committed(commits) => RawBody::Committed(
                commits
                    .iter()
                    .map(|c| RawCommitted {
                        rev: SafeU64(c.rev.min(MAX_SAFE_INTEGER)),
                        changes: Cow::Borrowed(&c.changes),
                        answers: c.answers.iter().map(RawAnswer::from).collect(),
                    })
                    .collect(),
            ),
            Body::Answers(answers) => {
                RawBody::Answers(answers.iter().map(RawAnswer::from).collect())
            }
        };
        let raw = RawEnvelope {
            v: SafeU64(PROTOCOL_VERSION),
            ch: Cow::Borrowed(&self.channel),
            from: Cow::Owned(envelope.from.to_string()),
            inc: SafeU64(u64::from(envelope.incarnation.0)),
            seq: SafeU64(envelope.seq.0.min(MAX_SAFE_INTEGER)),
            at: SafeU64(envelope.at.min(MAX_SAFE_INTEGER)),
            term: SafeU64(envelope.term.number().min(MAX_SAFE_INTEGER)),
            lead: Cow::Owned(
                envelope
                    .term
                    .leader()
                    .unwrap_or(Term::ZERO_LEADER)
                    .to_string(),
            ),
            msg,
        };
        // One allocation of about the right size: the header is under 256 bytes, and an app
        // message's text is copied nearly as is.
        let body_len = match &envelope.body {
            Body::App(data) => data.len() + data.len() / 8,
            Body::Committed(commits) => commits.iter().map(|c| c.changes.len() * 256).sum(),
            Body::Requests(requests) => requests.len() * 160,
            _ => 0,
        };
        let mut out = Vec::with_capacity(256 + body_len);
        // Serialising plain strings, bools and integers into a Vec cannot fail, and
        // serde_json writes only UTF-8.
        if serde_json::to_writer(&mut out, &raw).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Decodes one received text.
    ///
    /// # Errors
    /// The [`Rejection`] naming the first problem found, in this order: [`Rejection::Oversized`]
    /// (before any parsing), [`Rejection::Malformed`], [`Rejection::UnsafeNumber`],
    /// [`Rejection::WrongType`], [`Rejection::UnknownVersion`], [`Rejection::OtherChannel`],
    /// [`Rejection::TermOutOfRange`].
    pub fn decode(&self, text: &str) -> Result<Envelope, Rejection> {
        if text.len() > self.max_bytes {
            return Err(Rejection::Oversized);
        }
        // The version and channel decide how to read the rest, so they are checked first: a
        // message of another version or channel is rejected as such even if the rest does not
        // parse. Well-formed messages (nearly all) are parsed once; only a failure is parsed
        // again, for its header alone, to name the reason.
        let raw: RawEnvelope<'_> = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(err) => {
                let header: Header<'_> =
                    serde_json::from_str(text).map_err(|e| classify(&e, text))?;
                self.check_header(header.v.0, &header.ch)?;
                return Err(classify(&err, text));
            }
        };
        self.check_header(raw.v.0, &raw.ch)?;
        let from = raw.from.parse().map_err(|_| Rejection::WrongType)?;
        let incarnation = u32::try_from(raw.inc.0).map_err(|_| Rejection::UnsafeNumber)?;
        if raw.seq.0 == 0 {
            return Err(Rejection::WrongType);
        }
        let body = match raw.msg {
            RawBody::Hello(b) => Body::Hello(b.into()),
            RawBody::Welcome(b) => Body::Welcome(b.into()),
            RawBody::Heartbeat(b) => Body::Heartbeat(b.into()),
            RawBody::Bye => Body::Bye,
            RawBody::Probe => Body::Probe,
            RawBody::Alive => Body::Alive,
            RawBody::App(data) => Body::App(data.into_owned()),
            RawBody::Requests(requests) => {
                if requests.is_empty() || requests.len() > MAX_REQUESTS {
                    return Err(Rejection::WrongType);
                }
                Body::Requests(
                    requests
                        .into_iter()
                        .map(|r| Request {
                            number: r.number.0,
                            budget_ms: r.budget.0,
                            op: r.op.into_owned(),
                        })
                        .collect(),
                )
            }
            RawBody::Abandon(a) => Body::Abandon { upto: a.upto.0 },
            RawBody::Committed(commits) => Body::Committed(
                commits
                    .into_iter()
                    .map(|c| Committed {
                        rev: c.rev.0,
                        changes: c.changes.into_owned(),
                        answers: c.answers.into_iter().map(Answer::from).collect(),
                    })
                    .collect(),
            ),
            RawBody::Answers(answers) => {
                Body::Answers(answers.into_iter().map(Answer::from).collect())
            }
            RawBody::Resign(RawResign { successor }) => Body::Resign {
                successor: match successor {
                    Some(id) => Some(id.parse().map_err(|_| Rejection::WrongType)?),
                    None => None,
                },
            },
        };
        let lead: TabId = raw.lead.parse().map_err(|_| Rejection::WrongType)?;
        let term = Term::new(raw.term.0, lead);
        // Number 0 is "no term", which has exactly one spelling.
        if (raw.term.0 == 0) != (term == Term::ZERO) {
            return Err(Rejection::WrongType);
        }
        if !term.is_in_range() {
            return Err(Rejection::TermOutOfRange);
        }
        Ok(Envelope {
            from,
            incarnation: Incarnation(incarnation),
            seq: Seq(raw.seq.0),
            at: raw.at.0,
            term,
            body,
        })
    }
}

impl Codec {
    fn check_header(&self, version: u64, channel: &str) -> Result<(), Rejection> {
        if version != PROTOCOL_VERSION {
            return Err(Rejection::UnknownVersion);
        }
        if channel != self.channel {
            return Err(Rejection::OtherChannel);
        }
        Ok(())
    }
}

/// Maps serde_json's error reading `text` to the rejection it stands for.
fn classify(err: &serde_json::Error, text: &str) -> Rejection {
    use serde_json::error::Category;
    match err.classify() {
        // A literal beyond f64 (1e400) is a syntax error to serde_json; one above 2^53 − 1 is
        // refused by [`SafeU64`]: either way, the number is at the error.
        Category::Syntax | Category::Data if unsafe_number_at(text, err) => Rejection::UnsafeNumber,
        Category::Syntax | Category::Eof | Category::Io => Rejection::Malformed,
        Category::Data => Rejection::WrongType,
    }
}

/// Only the fields that decide whether the rest can be read at all.
#[derive(Deserialize)]
struct Header<'a> {
    v: SafeU64,
    // Every other field is skipped here (serde ignores unknown fields unless told otherwise).
    #[serde(borrow)]
    ch: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    v: SafeU64,
    #[serde(borrow)]
    ch: Cow<'a, str>,
    #[serde(borrow)]
    from: Cow<'a, str>,
    inc: SafeU64,
    seq: SafeU64,
    at: SafeU64,
    term: SafeU64,
    #[serde(borrow)]
    lead: Cow<'a, str>,
    #[serde(borrow)]
    msg: RawBody<'a>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawBody<'a> {
    Hello(RawBeacon),
    Welcome(RawBeacon),
    Heartbeat(RawBeacon),
    Bye,
    Probe,
    Alive,
    Resign(RawResign),
    App(#[serde(borrow)] Cow<'a, str>),
    Requests(Vec<RawRequest<'a>>),
    Abandon(RawAbandon),
    Committed(Vec<RawCommitted<'a>>),
    Answers(Vec<RawAnswer>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest<'a> {
    number: SafeU64,
    budget: SafeU64,
    op: Cow<'a, Op>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbandon {
    upto: SafeU64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommitted<'a> {
    rev: SafeU64,
    changes: Cow<'a, [Change]>,
    answers: Vec<RawAnswer>,
}

/// An answer with its number read as a JavaScript-safe integer.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    tab: TabId,
    number: SafeU64,
    outcome: Outcome,
}

impl From<&Answer> for RawAnswer {
    fn from(a: &Answer) -> Self {
        Self {
            tab: a.tab,
            number: SafeU64(a.number.min(MAX_SAFE_INTEGER)),
            outcome: a.outcome,
        }
    }
}

impl From<RawAnswer> for Answer {
    fn from(a: RawAnswer) -> Self {
        Self {
            tab: a.tab,
            number: a.number.0,
            outcome: a.outcome,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResign {
    successor: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBeacon {
    ttl: SafeU64,
    visible: bool,
    acting: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rev: Option<SafeU64>,
}

impl From<Beacon> for RawBeacon {
    fn from(b: Beacon) -> Self {
        Self {
            ttl: SafeU64(b.ttl_ms.min(MAX_SAFE_INTEGER)),
            visible: b.visible,
            acting: b.acting,
            rev: b.rev.map(|r| SafeU64(r.min(MAX_SAFE_INTEGER))),
        }
    }
}

impl From<RawBeacon> for Beacon {
    fn from(b: RawBeacon) -> Self {
        Self {
            ttl_ms: b.ttl.0,
            visible: b.visible,
            acting: b.acting,
            rev: b.rev.map(|r| r.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> Codec {
        Codec::new("conclave", 1024)
    }

    fn id(n: u8) -> TabId {
        TabId::from_bytes([n; 16])
    }

    fn sample(body: Body) -> Envelope {
        Envelope {
            from: id(7),
            incarnation: Incarnation(2),
            seq: Seq(41),
            at: 1_764_806_400_000,
            term: Term::new(4, id(9)),
            body,
        }
    }

    fn request(number: u64, op: Op) -> Request {
        Request {
            number,
            budget_ms: 5_000,
            op,
        }
    }

    #[test]
    fn every_body_round_trips() {
        let beacon = Beacon {
            ttl_ms: 3_000,
            visible: false,
            acting: true,
            rev: Some(12),
        };
        for body in [
            Body::Hello(beacon),
            Body::Welcome(beacon),
            Body::Heartbeat(beacon),
            Body::Bye,
            Body::Probe,
            Body::Alive,
            Body::Resign { successor: None },
            Body::Resign {
                successor: Some(id(3)),
            },
            Body::App("a \"quoted\" line\nand ünïcode".to_owned()),
            Body::Requests(vec![
                request(
                    1,
                    Op::Create {
                        title: "Plans".to_owned(),
                    },
                ),
                request(
                    2,
                    Op::Delete {
                        session: crate::data::ItemId {
                            tab: id(7),
                            number: 1,
                        },
                    },
                ),
            ]),
        ] {
            let envelope = sample(body);
            let text = codec().encode(&envelope);
            assert_eq!(codec().decode(&text), Ok(envelope), "{text}");
        }
    }

    #[test]
    fn encoding_is_the_documented_shape() {
        let text = codec().encode(&sample(Body::Heartbeat(Beacon {
            ttl_ms: 3000,
            visible: true,
            acting: false,
            rev: None,
        })));
        assert_eq!(
            text,
            format!(
                r#"{{"v":6,"ch":"conclave","from":"{}","inc":2,"seq":41,"at":1764806400000,"term":4,"lead":"{}","msg":{{"heartbeat":{{"ttl":3000,"visible":true,"acting":false}}}}}}"#,
                id(7),
                id(9)
            )
        );
    }

    /// A valid message with one field's JSON replaced.
    fn with(field: &str, value: &str) -> String {
        let good = codec().encode(&sample(Body::Bye));
        let parsed: serde_json::Value = serde_json::from_str(&good).unwrap_or_default();
        let old = serde_json::to_string(&parsed[field]).unwrap_or_default();
        good.replacen(
            &format!("\"{field}\":{old}"),
            &format!("\"{field}\":{value}"),
            1,
        )
    }

    #[test]
    fn every_bad_input_is_rejected_by_name() {
        let cases: Vec<(String, Rejection)> = vec![
            ("x".repeat(1025), Rejection::Oversized),
            (String::new(), Rejection::Malformed),
            ("not json".into(), Rejection::Malformed),
            ("[1,2,3]".into(), Rejection::WrongType),
            ("\"a string\"".into(), Rejection::WrongType),
            ("{\"v\":1".into(), Rejection::Malformed),
            ("{}".into(), Rejection::WrongType),
            (with("v", "NaN"), Rejection::Malformed),
            (with("v", "1"), Rejection::UnknownVersion),
            (with("v", "2"), Rejection::UnknownVersion),
            (with("v", "3"), Rejection::UnknownVersion),
            (with("v", "4"), Rejection::UnknownVersion),
            (with("v", "5"), Rejection::UnknownVersion),
            (with("v", "7"), Rejection::UnknownVersion),
            (with("at", "-1"), Rejection::WrongType),
            (with("at", "9007199254740992"), Rejection::UnsafeNumber),
            (with("term", "-1"), Rejection::WrongType),
            (with("term", "0"), Rejection::WrongType),
            (with("term", "9007199254740992"), Rejection::UnsafeNumber),
            (with("term", "9007199254740991"), Rejection::TermOutOfRange),
            (with("term", "1125899906842625"), Rejection::TermOutOfRange),
            (with("lead", "\"nobody\""), Rejection::WrongType),
            (
                with("msg", "{\"resign\":{\"successor\":\"x\"}}"),
                Rejection::WrongType,
            ),
            (with("v", "\"2\""), Rejection::WrongType),
            (with("ch", "\"other-app\""), Rejection::OtherChannel),
            (with("ch", "7"), Rejection::WrongType),
            (with("from", "\"tab-1\""), Rejection::WrongType),
            (with("from", "null"), Rejection::WrongType),
            (with("seq", "0"), Rejection::WrongType),
            (with("seq", "-1"), Rejection::WrongType),
            (with("seq", "1.5"), Rejection::WrongType),
            (with("seq", "9007199254740992"), Rejection::UnsafeNumber),
            (with("seq", "18446744073709551616"), Rejection::UnsafeNumber),
            (with("seq", "1e300"), Rejection::UnsafeNumber),
            (with("seq", "1e400"), Rejection::UnsafeNumber),
            (with("seq", "Infinity"), Rejection::Malformed),
            (with("inc", "4294967296"), Rejection::UnsafeNumber),
            (with("msg", "\"shout\""), Rejection::WrongType),
            (with("msg", "{\"hello\":{\"ttl\":1}}"), Rejection::WrongType),
            (
                with(
                    "msg",
                    "{\"hello\":{\"ttl\":1,\"visible\":true,\"acting\":false,\"x\":1}}",
                ),
                Rejection::WrongType,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(codec().decode(&text), Err(expected), "{text}");
        }
    }

    #[test]
    fn requests_come_one_to_thirty_two_a_message() {
        let wide = Codec::new("conclave", DEFAULT_MAX_MESSAGE_BYTES);
        let batch = |n: u64| {
            Body::Requests(
                (1..=n)
                    .map(|number| request(number, Op::Create { title: "t".into() }))
                    .collect(),
            )
        };
        let most = sample(batch(MAX_REQUESTS as u64));
        assert_eq!(wide.decode(&wide.encode(&most)), Ok(most));
        for body in [batch(0), batch(MAX_REQUESTS as u64 + 1)] {
            let text = wide.encode(&sample(body));
            assert_eq!(wide.decode(&text), Err(Rejection::WrongType), "{text}");
        }
    }

    #[test]
    fn an_unknown_field_is_a_wrong_type() {
        let good = codec().encode(&sample(Body::Bye));
        let v = format!("{{\"v\":{PROTOCOL_VERSION},");
        let text = good.replacen(&v, &format!("{v}\"extra\":0,"), 1);
        assert_ne!(text, good);
        assert_eq!(codec().decode(&text), Err(Rejection::WrongType));
    }

    #[test]
    fn the_largest_safe_integer_is_accepted() {
        let text = with("seq", "9007199254740991");
        let decoded = codec().decode(&text).map(|e| e.seq);
        assert_eq!(decoded, Ok(Seq(MAX_SAFE_INTEGER)));
        // A whole float inside the range is the same number to JavaScript.
        assert_eq!(
            codec().decode(&with("seq", "5.0")).map(|e| e.seq),
            Ok(Seq(5))
        );
    }
}
