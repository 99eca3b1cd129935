//! Conclave's driver alone, on a page that shows nothing. The failover benchmark runs it beside
//! the reference library, whose page is as bare: a crashed renderer is let go of later the more
//! memory its page holds, so comparing the two libraries takes pages of like weight (the app's
//! own page is measured as well). The benchmark's, never part of the app.
//!
//! What the benchmark reads is kept in attributes of the root element, written only when one of
//! them changes: `data-tab-id`, `data-role` (`leader` only while the tab may act as one),
//! `data-leader` (the id of the tab it follows) and `data-peers` (how many other tabs it lists);
//! `data-error` says why the driver did not start.

use std::cell::RefCell;

use conclave_web::{Config, Driver, Mode, Role, Snapshot};
use web_sys::Element;

fn main() {
    console_error_panic_hook::set_once();
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(root) = window.document().and_then(|d| d.document_element()) else {
        return;
    };
    // The benchmark asks for the lease-only election with exactly this query.
    let mode = if window.location().search().ok().as_deref() == Some("?election=lease") {
        Mode::Lease
    } else {
        Mode::WebLocks
    };
    let config = Config {
        mode,
        ..Config::default()
    };
    let shown = RefCell::new([String::new(), String::new(), String::new(), String::new()]);
    let publish = {
        let root = root.clone();
        move |snapshot: Snapshot| {
            let next = attributes(&snapshot);
            let mut shown = shown.borrow_mut();
            if *shown != next {
                write(&root, &next);
                *shown = next;
            }
        }
    };
    match Driver::start(config, publish) {
        // The driver takes part for as long as the page lives.
        Ok(driver) => std::mem::forget(driver),
        Err(error) => {
            let _ = root.set_attribute("data-error", &error.to_string());
        }
    }
}

const NAMES: [&str; 4] = ["data-tab-id", "data-role", "data-leader", "data-peers"];

fn attributes(snapshot: &Snapshot) -> [String; 4] {
    let role = match snapshot.role {
        Role::Leader if snapshot.is_leader => "leader",
        Role::Leader => "verifying",
        Role::Candidate => "candidate",
        Role::Follower => "follower",
    };
    [
        snapshot.id.to_string(),
        role.to_owned(),
        snapshot.leader.map(|l| l.to_string()).unwrap_or_default(),
        snapshot.peers.len().to_string(),
    ]
}

fn write(root: &Element, values: &[String; 4]) {
    for (name, value) in NAMES.iter().zip(values) {
        let _ = root.set_attribute(name, value);
    }
}
