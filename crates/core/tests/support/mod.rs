//! What the core's tests share: one drain of an engine's outputs, sorted by kind, and the
//! scenario harness, [`tabs::Tabs`].
#![allow(dead_code, unreachable_pub)]

pub mod tabs;

use conclave_core::{Engine, Event, Output};

/// Everything one drain of [`Engine::poll_output`] handed out, sorted by kind, each kind in the
/// order it came.
#[derive(Debug, Default)]
pub struct Drained {
    /// Texts for the channel.
    pub posts: Vec<String>,
    /// Texts for the heir's channel.
    pub to_heir: Vec<String>,
    /// Texts for the leader's channel.
    pub to_leader: Vec<String>,
    /// News for the app.
    pub events: Vec<Event>,
    /// Everything else (storage, locks, the durable store), unanswered.
    pub other: Vec<Output>,
}

impl Drained {
    /// Keeps `output` if it is a post or an event; hands anything else back.
    pub fn keep(&mut self, output: Output) -> Option<Output> {
        match output {
            Output::Transmit(text) => self.posts.push(text),
            Output::TransmitToHeir(text) => self.to_heir.push(text),
            Output::TransmitToLeader(text) => self.to_leader.push(text),
            Output::Event(event) => self.events.push(event),
            other => return Some(other),
        }
        None
    }
}

/// Drains `engine` until it has nothing more to say. Nothing is answered: a test that needs
/// storage or locks answered runs them itself.
pub fn drain(engine: &mut Engine) -> Drained {
    let mut drained = Drained::default();
    while let Some(output) = engine.poll_output() {
        if let Some(other) = drained.keep(output) {
            drained.other.push(other);
        }
    }
    drained
}

/// The texts `engine` posts on the channel now; the rest of what it says is dropped.
pub fn posts(engine: &mut Engine) -> Vec<String> {
    drain(engine).posts
}

/// The first text `engine` posts now, or an empty text; the rest of what it says is dropped.
pub fn post(engine: &mut Engine) -> String {
    posts(engine).into_iter().next().unwrap_or_default()
}

/// The events `engine` has for the app now; the rest of what it says is dropped.
pub fn events(engine: &mut Engine) -> Vec<Event> {
    drain(engine).events
}
