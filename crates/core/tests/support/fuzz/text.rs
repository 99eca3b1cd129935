//! The decoders that read one text: the envelope codec, the two backup parsers and the ids.
//! Each has one spelling for what it accepts, so the property is the same for all: whatever
//! it reads, written back by its own encoder, reads back as the same value.

use conclave_core::data::{backup_key, key_tab, Backup, ItemId};
use conclave_core::reconcile::{parse_backup, RawBackup, Store};
use conclave_core::wire::{Codec, DEFAULT_MAX_MESSAGE_BYTES};
use conclave_core::{Key, TabId};

use super::{key_and_text, utf8, CHANNEL};

/// `envelope` — input: a text received on the channel, once its tag (if any) is checked, as
/// [`Codec::decode`] reads it. An envelope it accepts encodes to a text that decodes to the
/// same envelope.
pub fn envelope(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let codec = Codec::new(CHANNEL, DEFAULT_MAX_MESSAGE_BYTES);
    let Ok(envelope) = codec.decode(text) else {
        return;
    };
    let written = codec.encode(&envelope);
    assert_eq!(
        codec.decode(&written).as_ref(),
        Ok(&envelope),
        "read {text:?}, wrote {written:?}"
    );
}

/// `backup` — input: a `localStorage` key, a newline, and the text stored under it, as the
/// leader reads every backup key ([`Backup::parse`]). A backup it accepts is stored under the
/// one key its tab writes, and its encoding reads back as the same backup.
pub fn backup(data: &[u8]) {
    let Some((key, text)) = key_and_text(data) else {
        return;
    };
    let Ok(backup) = Backup::parse(CHANNEL, key, text) else {
        return;
    };
    assert_eq!(key, backup_key(CHANNEL, backup.tab), "{text:?}");
    let written = backup.encode();
    assert_eq!(
        Backup::parse(CHANNEL, key, &written).as_ref(),
        Ok(&backup),
        "read {text:?}, wrote {written:?}"
    );
}

/// `reconcile` — input: a `localStorage` key, a newline, and the text stored under it, as
/// [`conclave_core::reconcile::reconcile`] reads the backups of format 1 ([`parse_backup`]). A
/// backup it accepts round-trips as in [`backup`]; and whatever the text, folding it into a
/// store a second time changes nothing.
pub fn reconcile(data: &[u8]) {
    let Some((key, text)) = key_and_text(data) else {
        return;
    };
    if let Ok(backup) = parse_backup(key, text) {
        assert_eq!(key, backup.key(), "{text:?}");
        let written = backup.encode();
        assert_eq!(
            parse_backup(key, &written).as_ref(),
            Ok(&backup),
            "read {text:?}, wrote {written:?}"
        );
    }
    let raw = [RawBackup {
        key: key.to_owned(),
        text: text.to_owned(),
    }];
    let once = conclave_core::reconcile::reconcile(&Store::default(), &raw);
    let twice = conclave_core::reconcile::reconcile(&once.store, &raw);
    assert_eq!(twice.store, once.store, "folding {text:?} again");
}

/// `ids` — input: a text read as each kind of id a tab reads from another tab or from
/// storage: a tab id, an item id, the shared key as stored, a backup key. Each has exactly one
/// spelling, so whatever parses writes back as the very same text.
pub fn ids(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if let Ok(id) = text.parse::<TabId>() {
        assert_eq!(id.to_string(), text);
    }
    if let Ok(id) = text.parse::<ItemId>() {
        assert_eq!(id.to_string(), text);
    }
    if let Some(key) = Key::from_hex(text) {
        assert_eq!(key.to_hex(), text);
    }
    if let Some(tab) = key_tab(CHANNEL, text) {
        assert_eq!(backup_key(CHANNEL, tab), text);
    }
}
