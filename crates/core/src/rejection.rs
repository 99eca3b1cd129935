//! Named reasons for dropping input from another tab.
//!
//! Bad input from another tab is neither a panic nor an `Err` the app must handle: it is dropped
//! and counted under one of these names, and the counts are shown in the coordination panel.

use std::fmt;

/// Why a message received from the channel was dropped before it reached the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// The channel delivered something other than a string (an object, a number, a blob...).
    NotText,
    /// The message is longer than the configured maximum; it was not parsed.
    Oversized,
    /// The bytes are not JSON, or not a JSON object.
    Malformed,
    /// The JSON is well formed but a field is missing, unknown, or of the wrong type.
    WrongType,
    /// A number is outside what JavaScript holds exactly (above 2^53 − 1, or not finite).
    UnsafeNumber,
    /// The term's number is above [`crate::Term::MAX_NUMBER`]: no tab mints one, so it is
    /// corrupt (or forged), and believing it would carry every tab's terms past what the wire
    /// format holds.
    TermOutOfRange,
    /// The message speaks another protocol version (a stale or newer build of the app).
    UnknownVersion,
    /// The message belongs to another channel name (another app on the same origin).
    OtherChannel,
    /// The message claims to come from this tab itself: an id collision or a forgery.
    OwnId,
    /// The message comes from an earlier incarnation of a tab that has since restarted.
    StaleIncarnation,
    /// The message is unsigned, and this tab's bootstrap window is closed (it holds the key,
    /// or 5 seconds have passed since it started).
    Unsigned,
    /// The message is unsigned and inside the bootstrap window, but of a kind that is never
    /// accepted unsigned (only the greeting is).
    UnsignedKind,
    /// The tag does not verify under this tab's key (tampered, or signed with another key).
    BadTag,
    /// The tag is hex of the wrong length.
    TagLength,
    /// The message is signed but this tab holds no key yet, so it cannot be checked.
    NoKey,
    /// A leader message (its term names its sender as leader) from a term lower than the
    /// highest this tab knows: the sender was deposed and has not heard yet (fencing).
    StaleTerm,
    /// Sent before this tab could have heard it: its send time is further back than this tab
    /// has been listening (a genuine message replayed after its time, to a tab that was not
    /// there to hear it).
    SentBeforeStart,
    /// Older than any honest delay: sent more than [`crate::Config::max_age_ms`] ago.
    TooOld,
    /// A message only a leader may send (a store commit, answers to requests) from a tab that
    /// does not claim to lead the term it carries.
    NotLeader,
}

impl Rejection {
    /// Every reason, in display order.
    pub const ALL: [Rejection; 19] = [
        Rejection::NotText,
        Rejection::Oversized,
        Rejection::Malformed,
        Rejection::WrongType,
        Rejection::UnsafeNumber,
        Rejection::TermOutOfRange,
        Rejection::UnknownVersion,
        Rejection::OtherChannel,
        Rejection::OwnId,
        Rejection::StaleIncarnation,
        Rejection::Unsigned,
        Rejection::UnsignedKind,
        Rejection::BadTag,
        Rejection::TagLength,
        Rejection::NoKey,
        Rejection::StaleTerm,
        Rejection::SentBeforeStart,
        Rejection::TooOld,
        Rejection::NotLeader,
    ];

    /// A stable, kebab-case name, used in the app and in tests.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Rejection::NotText => "not-text",
            Rejection::Oversized => "oversized",
            Rejection::Malformed => "malformed",
            Rejection::WrongType => "wrong-type",
            Rejection::UnsafeNumber => "unsafe-number",
            Rejection::TermOutOfRange => "term-out-of-range",
            Rejection::UnknownVersion => "unknown-version",
            Rejection::OtherChannel => "other-channel",
            Rejection::OwnId => "own-id",
            Rejection::StaleIncarnation => "stale-incarnation",
            Rejection::Unsigned => "unsigned",
            Rejection::UnsignedKind => "unsigned-kind",
            Rejection::BadTag => "bad-tag",
            Rejection::TagLength => "tag-length",
            Rejection::NoKey => "no-key",
            Rejection::StaleTerm => "stale-term",
            Rejection::SentBeforeStart => "sent-before-start",
            Rejection::TooOld => "too-old",
            Rejection::NotLeader => "not-leader",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_once_in_index_order() {
        for (i, reason) in Rejection::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason}");
        }
        let mut names: Vec<_> = Rejection::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
    }
}
