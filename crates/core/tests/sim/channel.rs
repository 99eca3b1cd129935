//! The broadcast channel between the simulated tabs: what each tab posts is recorded (and
//! checked: only what it sent, passed on unchanged), then queued for every other tab with
//! the seed's loss, duplication, delay and reordering; and the replaying adversary's posts.

use super::*;

impl Sim {
    /// Records and posts what tab `i` sent.
    pub(super) fn sent(&mut self, i: usize, text: &str, on: Channel) -> Result<(), Violation> {
        text.hash(&mut self.hasher);
        self.record_sent(i, text)?;
        self.post(i, text, on);
        Ok(())
    }

    /// Posts tab `i`'s `text` on channel `on`, whose listeners are the tabs listening there
    /// now (not the sender's own page): every tab on the app's channel; the heir's and the
    /// leader's channels only while a tab listens there (and it must still listen when the
    /// text arrives).
    pub(super) fn post(&mut self, i: usize, text: &str, on: Channel) {
        for j in 0..self.tabs.len() {
            let listens = match on {
                Channel::App => true,
                Channel::Heir => self.tabs[j].listens_as_heir(),
                Channel::Leader => self.tabs[j].listens_as_leader(),
            };
            if j == i || self.tabs[j].state == State::Gone || !listens {
                continue;
            }
            if !self.healing && self.rng.chance(self.profile.loss_per_mille) {
                continue;
            }
            let copies = if !self.healing && self.rng.chance(self.profile.dup_per_mille) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut at = self.now + self.rng.range(0, self.profile.max_delay_ms);
                if !self.profile.reorder {
                    let last = self.fifo.entry((i, j)).or_insert(0);
                    at = at.max(*last);
                    *last = at;
                }
                let text = text.to_owned();
                let input = match on {
                    Channel::App => Input::Text(text),
                    Channel::Heir => Input::ToHeir(text),
                    Channel::Leader => Input::ToLeader(text),
                };
                self.push(at, j, input);
            }
        }
    }

    pub(super) fn push(&mut self, at: u64, to: usize, input: Input) {
        self.order += 1;
        self.inputs.insert(self.order, input);
        self.queue.push(Reverse((at, 0, self.order, to)));
    }

    pub(super) fn record_sent(&mut self, i: usize, text: &str) -> Result<(), Violation> {
        let payload = text.rsplit_once('#').map_or(text, |(payload, _)| payload);
        let value: serde_json::Value = serde_json::from_str(payload)
            .map_err(|e| self.violation(format!("tab {i} sent unparsable text {text}: {e}")))?;
        let me = self.tabs[i].engine.id();
        let from = value["from"].as_str().and_then(|f| f.parse::<TabId>().ok());
        let key = (
            from.unwrap_or(me),
            Incarnation(value["inc"].as_u64().unwrap_or(u64::MAX) as u32),
            value["seq"].as_u64().unwrap_or(0),
        );
        // An app message from the leader of its term (a resignation carries no authority:
        // below the receiver's term it is heard as a goodbye).
        let leader_action =
            value["lead"].as_str() == Some(&key.0.to_string()) && value["msg"].get("app").is_some();
        if key.0 != me {
            // Passed on from the heir's channel: only what was sent, unchanged.
            if self.sent.get(&key) != Some(&leader_action) {
                return Err(self.violation(format!("tab {i} passed on {text}, never sent")));
            }
            return Ok(());
        }
        self.replayer.sent(key, self.now, text);
        self.watch_sent(key, &value["msg"]);
        if self.sent.insert(key, leader_action).is_some() {
            return Err(self.violation(format!("tab {i} reused (incarnation, seq) {key:?}")));
        }
        Ok(())
    }

    /// The adversary posts a recorded message again, to every tab.
    pub(super) fn replay(&mut self) -> Result<(), Violation> {
        let departed: Vec<TabId> = self
            .tabs
            .iter()
            .filter(|t| t.state == State::Gone)
            .map(|t| t.engine.id())
            .collect();
        if let Some(text) = self.replayer.pick(self.now, &departed) {
            self.log(|| format!("replay {}", &text[..text.len().min(120)]));
            self.post(usize::MAX, &text, Channel::App);
        }
        Ok(())
    }
}
