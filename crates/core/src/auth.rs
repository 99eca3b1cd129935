//! Message authentication: HMAC-SHA-256 over the exact bytes sent.
//!
//! A signed message is the JSON payload, a `#`, and 64 lowercase hex digits of the tag:
//!
//! ```text
//! {"v":1,"ch":"conclave","from":"…","inc":0,"seq":7,"msg":{…}}#3f9a…(64 hex)
//! ```
//!
//! The tag covers every byte of the payload — protocol version, channel, sender, incarnation,
//! seq and kind — so changing any of them breaks it. An unsigned message is the bare payload
//! (it ends with `}`). Verification is constant-time (`hmac`'s `verify_slice`).
//!
//! Whether an *unsigned* message may pass is the engine's decision (the bootstrap window); this
//! module only tells signed from unsigned and checks tags.

use std::fmt;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::hex;
use crate::rejection::Rejection;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The number of hex digits in a tag (32 bytes).
const TAG_HEX_LEN: usize = 64;

/// The shared secret of every tab of one app: 32 random bytes, drawn by the driver.
///
/// Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// A key from 32 bytes drawn from a secure random source.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key as 64 lowercase hex digits (how the driver stores it).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Reads a key written by [`Key::to_hex`]; `None` for anything else.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_into(text, &mut bytes).then_some(Self(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes a key of any length: this cannot fail.
        match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(…)")
    }
}

/// A received text, split into its payload and whether it carried a valid tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Opened<'a> {
    /// The tag verified under this tab's key.
    Signed(&'a str),
    /// No tag at all.
    Unsigned(&'a str),
}

/// Appends the tag of `payload` under `key`; leaves it bare without a key.
///
/// # Examples
/// ```
/// use conclave_core::{auth, Key};
/// let signed = auth::seal("{}".to_owned(), Some(&Key::from_bytes([1; 32])));
/// assert!(signed.starts_with("{}#") && signed.len() == 2 + 1 + 64);
/// assert_eq!(auth::seal("{}".to_owned(), None), "{}");
/// ```
#[must_use]
pub fn seal(mut payload: String, key: Option<&Key>) -> String {
    if let Some(key) = key {
        let mut mac = key.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        payload.push('#');
        payload.push_str(&hex::encode(&tag));
    }
    payload
}

/// Splits `text` into payload and tag, and checks the tag under `key`.
///
/// # Errors
/// [`Rejection::BadTag`] for a tag that is not hex or does not verify,
/// [`Rejection::TagLength`] for a hex tag of the wrong length, [`Rejection::NoKey`] for a signed
/// message while this tab holds no key.
pub(crate) fn open<'a>(text: &'a str, key: Option<&Key>) -> Result<Opened<'a>, Rejection> {
    // JSON objects end with `}`: a text that does not is signed (or garbage).
    if text.ends_with('}') {
        return Ok(Opened::Unsigned(text));
    }
    let Some((payload, tag)) = text.rsplit_once('#') else {
        // Not an object and no tag: let the decoder name what it is.
        return Ok(Opened::Unsigned(text));
    };
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Rejection::BadTag);
    }
    if tag.len() != TAG_HEX_LEN {
        return Err(Rejection::TagLength);
    }
    let Some(key) = key else {
        return Err(Rejection::NoKey);
    };
    let mut bytes = [0u8; TAG_HEX_LEN / 2];
    if !hex::decode_into(tag, &mut bytes) {
        return Err(Rejection::BadTag);
    }
    let mut mac = key.mac();
    mac.update(payload.as_bytes());
    mac.verify_slice(&bytes)
        .map(|()| Opened::Signed(payload))
        .map_err(|_| Rejection::BadTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str = r#"{"v":1,"seq":1}"#;

    fn key(n: u8) -> Key {
        Key::from_bytes([n; 32])
    }

    #[test]
    fn a_sealed_payload_opens_under_the_same_key_only() {
        let sealed = seal(PAYLOAD.to_owned(), Some(&key(1)));
        assert_eq!(sealed.len(), PAYLOAD.len() + 1 + TAG_HEX_LEN);
        assert_eq!(open(&sealed, Some(&key(1))), Ok(Opened::Signed(PAYLOAD)));
        assert_eq!(open(&sealed, Some(&key(2))), Err(Rejection::BadTag));
        assert_eq!(open(&sealed, None), Err(Rejection::NoKey));
    }

    #[test]
    fn every_byte_of_the_payload_is_covered() {
        let sealed = seal(PAYLOAD.to_owned(), Some(&key(1)));
        for i in 0..PAYLOAD.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] ^= 0x01;
            let tampered = String::from_utf8(bytes).unwrap_or_default();
            assert_eq!(
                open(&tampered, Some(&key(1))),
                Err(Rejection::BadTag),
                "byte {i}"
            );
        }
    }

    #[test]
    fn malformed_tags_are_named() {
        let k = Some(&key(1));
        let sealed = seal(PAYLOAD.to_owned(), k);
        let short = &sealed[..sealed.len() - 2];
        assert_eq!(open(short, k), Err(Rejection::TagLength));
        assert_eq!(open(&format!("{sealed}00"), k), Err(Rejection::TagLength));
        assert_eq!(open(&format!("{PAYLOAD}#"), k), Err(Rejection::BadTag));
        assert_eq!(
            open(&format!("{PAYLOAD}#{}", "z".repeat(64)), k),
            Err(Rejection::BadTag)
        );
        assert_eq!(
            open(&format!("{PAYLOAD}#{}", "A".repeat(64)), k),
            Err(Rejection::BadTag)
        );
        assert_eq!(open(PAYLOAD, k), Ok(Opened::Unsigned(PAYLOAD)));
    }

    #[test]
    fn keys_round_trip_through_hex_and_hide_in_debug() {
        let k = Key::from_bytes(core::array::from_fn(|i| i as u8));
        assert_eq!(Key::from_hex(&k.to_hex()), Some(k.clone()));
        assert_eq!(Key::from_hex("00"), None);
        assert_eq!(Key::from_hex(&"G".repeat(64)), None);
        assert_eq!(format!("{k:?}"), "Key(…)");
    }
}
