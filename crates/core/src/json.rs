//! JSON pieces shared by every decoder of input from other tabs and from storage.
//!
//! Numbers must survive the trip through JavaScript exactly, and tab ids have one spelling;
//! these deserialisers enforce both and name what they refuse, so that each decoder can map the
//! failure to its own named rejection.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::ids::{TabId, MAX_SAFE_INTEGER};

/// The text a [`SafeU64`] puts at the start of its error, so that decoders can name the
/// problem "unsafe number" rather than "malformed".
pub(crate) const UNSAFE_NUMBER: &str = "unsafe number";

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
