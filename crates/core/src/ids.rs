//! Newtypes for identities, counters and time.
//!
//! Every value here crosses the JavaScript boundary as JSON, so every number is kept within
//! [`MAX_SAFE_INTEGER`] (2^53 − 1) on the wire, and the 128-bit tab id travels as 32 hex digits.

use std::fmt;
use std::str::FromStr;

/// The largest integer a JavaScript number holds exactly: 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A tab's identity: 128 random bits from the platform's secure random source.
///
/// The core never creates one: the driver draws the bits and hands them in, so the core stays
/// free of randomness. Shown and sent as 32 lowercase hex digits.
///
/// # Examples
/// ```
/// use conclave_core::TabId;
/// let id = TabId::from_bytes([0xab; 16]);
/// assert_eq!(id.to_string(), "ab".repeat(16));
/// assert_eq!(id.to_string().parse::<TabId>(), Ok(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TabId(u128);

impl TabId {
    /// Builds an id from 16 random bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(u128::from_be_bytes(bytes))
    }

    /// The 16 bytes it was built from ([`TabId::from_bytes`]).
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The low 64 bits: random like the rest, to seed per-tab jitter.
    #[must_use]
    pub const fn low_bits(self) -> u64 {
        #[allow(clippy::cast_possible_truncation)]
        let low = self.0 as u64;
        low
    }

    /// The first 8 hex digits, enough to tell tabs apart on screen.
    #[must_use]
    pub fn short(self) -> String {
        let full = self.to_string();
        full[..8].to_owned()
    }
}

impl TabId {
    /// The 32 lowercase hex digits, without going through the formatting machinery (ids are
    /// written into every message).
    fn hex(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        crate::hex::encode_into(&self.0.to_be_bytes(), &mut out);
        out
    }
}

impl fmt::Display for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // Only ASCII hex digits were written.
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl fmt::Debug for TabId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TabId({self})")
    }
}

/// Why a string is not a [`TabId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a tab id is 32 lowercase hex digits")]
pub struct ParseTabIdError;

impl FromStr for TabId {
    type Err = ParseTabIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Exactly one spelling per id, so that two spellings can never name two "different" tabs.
        let mut bytes = [0u8; 16];
        if crate::hex::decode_into(s, &mut bytes) {
            Ok(Self::from_bytes(bytes))
        } else {
            Err(ParseTabIdError)
        }
    }
}

impl serde::Serialize for TabId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        serializer.serialize_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl<'de> serde::Deserialize<'de> for TabId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <crate::json::HexId as serde::Deserialize>::deserialize(deserializer).map(|id| id.0)
    }
}

/// Which life of a tab this is: it grows when the page is restored from the back/forward cache
/// or resumes from a freeze, so that peers can tell a returning tab from its earlier self.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Incarnation(pub u32);

impl Incarnation {
    /// The next incarnation (saturating: a tab would need 4 billion restores to reach the top).
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A per-sender, per-incarnation message sequence number; the first message is 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A point on one tab's own monotonic clock, in milliseconds.
///
/// Instants of two tabs are never compared: ages are always measured on the receiver's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// This instant moved `ms` milliseconds later (saturating).
    #[must_use]
    pub const fn plus(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, or 0 if `earlier` is later.
    #[must_use]
    pub const fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_id_round_trips_through_its_hex_form() {
        let id = TabId::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(id.to_string(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(id.to_string().parse::<TabId>(), Ok(id));
        assert_eq!(id.short(), "01020304");
    }

    #[test]
    fn tab_id_rejects_every_non_canonical_spelling() {
        for bad in [
            "",
            "0102",
            "0102030405060708090A0B0C0D0E0F10",
            "+102030405060708090a0b0c0d0e0f10",
            "0102030405060708090a0b0c0d0e0f1g",
            "0102030405060708090a0b0c0d0e0f100",
            "é102030405060708090a0b0c0d0e0f1",
        ] {
            assert_eq!(bad.parse::<TabId>(), Err(ParseTabIdError), "{bad:?}");
        }
    }

    #[test]
    fn millis_arithmetic_saturates() {
        assert_eq!(Millis(u64::MAX).plus(5), Millis(u64::MAX));
        assert_eq!(Millis(3).since(Millis(10)), 0);
        assert_eq!(Millis(10).since(Millis(3)), 7);
    }
}
