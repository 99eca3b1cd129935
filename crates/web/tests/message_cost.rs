//! A benchmark, not a test: it prints figures and asserts nothing about speed. Ignored by the
//! test run; `bash scripts/bench.sh` runs it in headless Chromium with `--include-ignored`.
//!
//! - the cost of one authenticated, sequenced 1 KiB message in wasm: encode + MAC on the
//!   sender, verify + decode + sequence + deliver on the receiver (p50 over batches);
//! - the throughput of such messages over a real BroadcastChannel, as a ratio to raw strings of
//!   the same size on a channel in the same page, measured side by side, alternating.
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use conclave_core::{Config, Engine, Event, Key, Millis, Output, Received, TabId};
use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{BroadcastChannel, MessageEvent};

wasm_bindgen_test_configure!(run_in_browser);

const BODY: usize = 1024;
const BATCH: u32 = 100;
const BATCHES: usize = 200;
const STREAM: u32 = 3_000;

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

fn engine(n: u8, channel: &str) -> Engine {
    let config = Config {
        channel: channel.to_owned(),
        ..Config::default()
    };
    Engine::new(
        config,
        TabId::from_bytes([n; 16]),
        Millis(0),
        true,
        Some(Key::from_bytes([3; 32])),
    )
}

fn drain(engine: &mut Engine) -> u32 {
    let mut delivered = 0;
    while let Some(output) = engine.poll_output() {
        delivered += u32::from(matches!(output, Output::Event(Event::Message { .. })));
    }
    delivered
}

/// The first text `engine` posts now; the rest of what it says is dropped.
fn post(engine: &mut Engine) -> String {
    std::iter::from_fn(|| engine.poll_output())
        .find_map(|output| match output {
            Output::Transmit(text) => Some(text),
            _ => None,
        })
        .unwrap_or_default()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print(line: &str) {
    web_sys::console::log_1(&JsValue::from_str(line));
}

#[wasm_bindgen_test]
#[ignore = "a benchmark: run by scripts/bench.sh"]
fn one_message_costs() {
    let (mut a, mut b) = (engine(1, "cost"), engine(2, "cost"));
    let body = "x".repeat(BODY);
    while a.poll_output().is_some() {}
    let mut per_message = Vec::new();
    for batch in 0..=BATCHES {
        let start = now_ms();
        for _ in 0..BATCH {
            a.handle_broadcast(Millis(1), &body).expect("fits");
            while let Some(output) = a.poll_output() {
                if let Output::Transmit(text) = output {
                    b.handle_message(Millis(1), Received::Text(&text));
                }
            }
        }
        let delivered = drain(&mut b);
        assert_eq!(delivered, BATCH, "every message delivered");
        // The first batch warms up; it is not counted.
        if batch > 0 {
            per_message.push((now_ms() - start) * 1_000.0 / f64::from(BATCH));
        }
    }
    let p50 = median(&mut per_message);
    print(&format!(
        "one authenticated, sequenced {BODY}-byte message in wasm (encode + HMAC-SHA-256 + verify + decode + sequence + deliver, no channel): p50 {p50:.1} µs ({BATCHES} batches of {BATCH})"
    ));
}

/// Posts `STREAM` texts made by `make` on one channel and times their arrival on another.
async fn stream(
    name: &str,
    mut make: impl FnMut() -> String,
    mut receive: impl FnMut(&str) -> u32 + 'static,
) -> f64 {
    let sender = BroadcastChannel::new(name).expect("a channel");
    let receiver = BroadcastChannel::new(name).expect("a channel");
    let count = Rc::new(Cell::new(0u32));
    let seen = Rc::clone(&count);
    let done_at = Rc::new(Cell::new(0.0));
    let done = Rc::clone(&done_at);
    let _listener = gloo_events::EventListener::new(&receiver, "message", move |event| {
        use wasm_bindgen::JsCast as _;
        let text = event
            .dyn_ref::<MessageEvent>()
            .and_then(|e| e.data().as_string())
            .unwrap_or_default();
        seen.set(seen.get() + receive(&text));
        if seen.get() == STREAM {
            done.set(now_ms());
        }
    });
    // Making each text (for ours: encoding and signing it) is part of the cost, so it is timed.
    let start = now_ms();
    for _ in 0..STREAM {
        sender
            .post_message(&JsValue::from_str(&make()))
            .expect("posting works");
    }
    for _ in 0..2_000 {
        if count.get() == STREAM {
            break;
        }
        TimeoutFuture::new(5).await;
    }
    assert_eq!(count.get(), STREAM, "every message arrived");
    sender.close();
    receiver.close();
    f64::from(STREAM) / ((done_at.get() - start) / 1_000.0)
}

#[wasm_bindgen_test]
#[ignore = "a benchmark: run by scripts/bench.sh"]
async fn throughput_against_raw_broadcast_channel() {
    let body = "x".repeat(BODY);
    let (mut raw_rates, mut ours_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..5 {
        let raw = stream(&format!("raw-{run}"), || body.clone(), |_| 1).await;
        let channel = format!("ours-{run}");
        let mut a = engine(1, &channel);
        let mut b = engine(2, &channel);
        while a.poll_output().is_some() {}
        let ours = stream(
            &channel,
            || {
                a.handle_broadcast(Millis(1), &body).expect("fits");
                post(&mut a)
            },
            move |text| {
                b.handle_message(Millis(1), Received::Text(text));
                drain(&mut b)
            },
        )
        .await;
        raw_rates.push(raw);
        ours_rates.push(ours);
        ratios.push(ours / raw);
    }
    let (raw, ours, ratio) = (
        median(&mut raw_rates),
        median(&mut ours_rates),
        median(&mut ratios),
    );
    print(&format!(
        "throughput of {BODY}-byte messages over a real BroadcastChannel, {STREAM} per run, 5 runs alternating: raw {raw:.0}/s, authenticated + sequenced {ours:.0}/s, ratio {ratio:.2} (median)"
    ));
}
