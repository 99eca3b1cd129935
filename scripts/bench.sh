#!/usr/bin/env bash
# Installs what is missing, builds the release app, and prints the platform's floor in this
# machine's headless Chromium: raw Web Locks hand-over (tab close, renderer crash) and raw
# BroadcastChannel throughput. A benchmark, not a test: it prints figures and judges nothing.
#   bash scripts/bench.sh [trials]      (default 30 trials per hand-over kind)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup test
cd "$ROOT"
trunk build --release >/dev/null
node tests/bench/platform.mjs "${1:-30}"
