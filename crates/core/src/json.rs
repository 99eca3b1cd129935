//! JSON pieces shared by every decoder of input from other tabs and from storage.
//!
//! Numbers must survive the trip through JavaScript exactly, and tab ids have one spelling;
//! these deserialisers enforce both and name what they refuse, so that each decoder can map the
//! failure to its own named rejection.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::ids::{TabId, MAX_SAFE_INTEGER};

/// The text a [`SafeU64`] puts at the start of its error, for people reading it; decoders name
/// the problem from the input itself ([`unsafe_number_at`]).
pub(crate) const UNSAFE_NUMBER: &str = "unsafe number";

/// Whether serde_json's `err`, reading `text`, is about a number that JavaScript does not hold
/// exactly: the error is reported on the last character of a number literal (serde_json puts
/// both a literal beyond f64, `1e400`, and a value a deserialiser refused there), and that
/// literal's magnitude is above 2^53 − 1 or not finite. Judged from the input, never from the
/// error's wording, which may change with serde_json.
pub(crate) fn unsafe_number_at(text: &str, err: &serde_json::Error) -> bool {
    number_at(text, err.line(), err.column()).is_some_and(|literal| {
        // Digits alone: compare exactly (no float rounding near 2^53).
        if literal.bytes().all(|b| b.is_ascii_digit()) {
            return literal.len() > 16
                || !literal.parse::<u64>().is_ok_and(|n| n <= MAX_SAFE_INTEGER);
        }
        // Rust's float parser takes every JSON number literal; beyond f64 it gives infinity.
        literal
            .trim_start_matches('-')
            .parse::<f64>()
            .is_ok_and(|v| !v.is_finite() || v > MAX_SAFE_INTEGER as f64)
    })
}

/// The number literal (sign dropped) whose last character is at 1-based `line` and `column`
/// (in bytes) of `text`, if one is there.
fn number_at(text: &str, line: usize, column: usize) -> Option<&str> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let end = line_start.checked_add(column)?.checked_sub(1)?;
    let bytes = text.as_bytes();
    let in_literal = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if !bytes.get(end)?.is_ascii_digit() || bytes.get(end + 1).is_some_and(|&b| in_literal(b)) {
        return None;
    }
    let start = (0..=end)
        .rev()
        .take_while(|&i| in_literal(bytes[i]))
        .last()?;
    // A literal stands after a structural character or white space, never inside a word.
    let after = start.checked_sub(1).map(|i| bytes[i]);
    if !after.is_none_or(|b| matches!(b, b':' | b',' | b'[' | b' ' | b'\t' | b'\n' | b'\r')) {
        return None;
    }
    let literal = text.get(start..=end)?.trim_start_matches('-');
    literal.bytes().next()?.is_ascii_digit().then_some(literal)
}

/// A tab id read from its 32-hex form (as a map key or a string field).
pub(crate) struct HexId(pub(crate) TabId);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = HexId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tab id of 32 lowercase hex digits")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<HexId, E> {
                s.parse()
                    .map(HexId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
            }
        }

        deserializer.deserialize_str(IdVisitor)
    }
}

/// A non-negative integer that a JavaScript number holds exactly (at most 2^53 − 1).
///
/// Larger integers and non-finite or too-large floats fail with [`UNSAFE_NUMBER`]; negative
/// and fractional numbers fail as wrong types; whole floats (`5.0`) are the same number to
/// JavaScript and are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct SafeU64(pub(crate) u64);

impl<'de> Deserialize<'de> for SafeU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl Visitor<'_> for CountVisitor {
            type Value = SafeU64;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer no larger than 2^53 - 1")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SafeU64, E> {
                if v > MAX_SAFE_INTEGER {
                    return Err(E::custom(format_args!("{UNSAFE_NUMBER}: {v}")));
                }
                Ok(SafeU64(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SafeU64, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SafeU64, E> {
                if !v.is_finite() || v.abs() > MAX_SAFE_INTEGER as f64 {
                    Err(E::custom(format_args!("{UNSAFE_NUMBER}: {v}")))
                } else if v < 0.0 || v.fract() != 0.0 {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                } else {
                    // Exact: the value is finite, whole, non-negative and below 2^53.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Ok(SafeU64(v as u64))
                }
            }
        }

        deserializer.deserialize_any(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // read only to fail
    struct Sample {
        n: SafeU64,
        s: String,
    }

    /// Whether reading `text` as a [`Sample`] fails on an unsafe number.
    fn unsafe_at(text: &str) -> bool {
        let err = serde_json::from_str::<Sample>(text).expect_err(text);
        unsafe_number_at(text, &err)
    }

    #[test]
    fn an_unsafe_number_is_found_where_the_error_is_whatever_the_message_says() {
        for text in [
            r#"{"n":1e400,"s":""}"#,
            r#"{"n":-1e400,"s":""}"#,
            r#"{"n":9007199254740992,"s":""}"#,
            r#"{"n":123456789012345678901234567890,"s":""}"#,
            r#"{"n":1e300,"s":""}"#,
            "{\"s\":\"\",\n  \"n\": 9007199254740993}",
        ] {
            assert!(unsafe_at(text), "{text}");
        }
        for text in [
            r#"{"n":-1,"s":""}"#,
            r#"{"n":1.5,"s":""}"#,
            r#"{"n":"9007199254740993","s":""}"#,
            r#"{"n":1,"s":"\uD800"}"#,
            r#"{"n":1,"s":"" } 9007199254740993"#,
            r#"{"n":1}"#,
            r#"{"n":1,"s":"x1e400"x}"#,
        ] {
            assert!(!unsafe_at(text), "{text}");
        }
    }
}
