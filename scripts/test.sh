#!/usr/bin/env bash
# Installs what is missing, then runs every check Conclave has, in order, and prints one closing
# summary line. Exits non-zero at the first failing step.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

started=$SECONDS
setup test
setup_secs=$((SECONDS - started))
cd "$ROOT"

# Keep the two cores busy but not oversubscribed.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# A run builds each crate once: incremental caches and debug info would only fill the disk (the
# debug test binaries of the browser tests are 30-90 MB each with it). Either can be set back.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}"

# What a run writes under target/ (measured on a clean clone), against the space left.
NEEDS_MIB=1700
free_mib=$(df -Pm "$ROOT" | awk 'NR == 2 { print $4 }')
printf 'disk: %s MiB free where target/ is written; a clean run writes about %s MiB\n' "$free_mib" "$NEEDS_MIB"
if [ "$free_mib" -lt "$NEEDS_MIB" ]; then
  printf '\033[1;33mwarning:\033[0m less disk is free than a clean run writes; it may fail with "No space left on device"\n' >&2
fi

declare -a done_steps=()
step() { # name, command...
  local name="$1"; shift
  local t=$SECONDS
  printf '\n\033[1;34m==> %s\033[0m\n' "$name"
  "$@"
  done_steps+=("$name $((SECONDS - t))s")
}

wasm_size() {
  local wasm; wasm=$(ls dist/*_bg.wasm)
  local raw gz
  raw=$(wc -c <"$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  printf 'release wasm: %s bytes raw, %s bytes gzip (%s KiB gzip)\n' "$raw" "$gz" $((gz / 1024))
  WASM_SUMMARY="wasm ${raw} B raw / ${gz} B gzip"
}

step "format" cargo fmt --all --check
step "clippy (host)" cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (wasm32)" cargo clippy --workspace --all-targets --locked --target wasm32-unknown-unknown -- -D warnings
step "docs (rustdoc; a broken intra-doc link is an error)" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked
step "host tests (core, release: units, doctests, properties, 10,000-seed simulation)" cargo test -p conclave-core --release --locked -- --nocapture
# A short run of every fuzz target (nightly; the host tests above already replayed their seeds
# and regressions on stable).
fuzz_short() {
  if ! has_nightly; then
    printf '\033[1;33mWARNING: no nightly toolchain: the fuzz targets did NOT run; only their stable replay (in the host tests) did\033[0m\n' >&2
    return 0
  fi
  bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
}
step "fuzz (every decoder, ${FUZZ_SECONDS:-15} s each, nightly)" fuzz_short
step "browser tests: driver (wasm-pack, headless Chromium)" wasm-pack test --headless --chrome crates/web
step "browser tests: app (wasm-pack, headless Chromium)" wasm-pack test --headless --chrome .
step "release build (trunk)" trunk build --release
step "release wasm size" wasm_size
step "multi-tab end-to-end (headless Chromium)" node --test --test-concurrency=1 tests/e2e/

total=$((SECONDS - started))
printf '\n'
for s in "${done_steps[@]}"; do printf '  ok  %s\n' "$s"; done
printf '\nconclave test: all %d steps passed in %ds (set-up %ds); %s\n' \
  "${#done_steps[@]}" "$total" "$setup_secs" "$WASM_SUMMARY"
