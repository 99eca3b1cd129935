#!/usr/bin/env bash
# Installs what is missing, builds the release app, and prints, in this machine's headless
# Chromium: first, in wasm, the cost of one authenticated sequenced 1 KiB message and the
# throughput of such messages against raw BroadcastChannel side by side (on a machine no
# earlier step has left busy); then the app's failover (leader's tab closed or crashed; 2, 5
# and 10 tabs; Web Locks and lease-only) beside the driver alone on a bare page and the
# reference library's, in the same harness;
# what the app costs a tab in steady state with 10 tabs open; then the platform's floor in the
# same run: raw Web Locks hand-over (tab close, renderer crash) and raw BroadcastChannel
# throughput; then backups, and a 20 MiB import (1 and 5 tabs, a leader crash) beside a plain
# single-tab import loop; last, 1,000 questions answered from several tabs at once (10 tabs, a
# leader crash every 100th). A benchmark, not a test: it prints figures and judges nothing.
#   bash scripts/bench.sh [trials]      (default 30 trials per configuration)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup test
cd "$ROOT"
trunk build --release >/dev/null
# The failover benchmark also runs Conclave's driver alone, on a page as bare as the reference's.
trunk build tests/bench/bare/index.html --release true --dist target/bench-bare >/dev/null
# The message benchmarks are wasm-bindgen tests marked #[ignore], so the test run skips them.
(cd crates/web && wasm-pack test --release --headless --chrome --test message_cost -- --include-ignored --nocapture) 2>&1 \
  | grep -E "^(one authenticated|throughput of)"
node tests/bench/failover.mjs "${1:-30}"
node tests/bench/writes.mjs "${1:-300}"
node tests/bench/write-trace.mjs
node tests/bench/task-trace.mjs
node tests/bench/thread-cost.mjs
node tests/bench/callbacks.mjs
node tests/bench/send.mjs
node tests/bench/steady.mjs 2
node tests/bench/platform.mjs "${1:-30}"
# Backups, in wasm (also #[ignore]d): the backup write beside a bare localStorage.setItem of the
# same text, and the reconciliation of 20 dead tabs' backups beside the same IndexedDB work bare;
# then, on the served app, 20 orphaned backups merged by a new leader beside a bare page's floor.
(cd crates/web && wasm-pack test --release --headless --chrome --test backup_cost -- --include-ignored --nocapture) 2>&1 \
  | grep -E "^backups:"
node tests/bench/backups.mjs
node tests/bench/imports.mjs
node tests/bench/questions.mjs 1000
