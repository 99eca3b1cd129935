#!/usr/bin/env bash
# Installs what Conclave's commands need, skipping whatever is already there.
#   scripts/setup.sh serve   the wasm32 target, Trunk, wasm-bindgen-cli, wasm-opt
#   scripts/setup.sh test    all of the above, plus wasm-pack, Chromium and ChromeDriver,
#                            and playwright-core
# (scripts/fuzz.sh installs cargo-fuzz for itself, with need_cargo_fuzz.)
# Everything comes from the package registries (crates.io, npm, Debian); nothing else is
# downloaded, now or at run time. Source it to also get the PATH and environment it sets up.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION="0.21.14"        # 0.22 needs a newer rustc than this toolchain
WASM_PACK_VERSION="0.15.1"
CARGO_FUZZ_VERSION="0.13.2"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# The wasm-bindgen CLI must equal the wasm-bindgen crate in Cargo.lock, byte for byte.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

has_version() { # command, expected version substring
  command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | grep -qF "$2"
}

need_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

need_trunk() {
  if ! has_version trunk "$TRUNK_VERSION"; then
    log "installing trunk $TRUNK_VERSION (about 8 minutes on 2 cores)"
    cargo install --locked trunk --version "=$TRUNK_VERSION"
  fi
}

need_wasm_bindgen() {
  local v; v="$(wasm_bindgen_version)"
  if ! has_version wasm-bindgen "$v" || ! has_version wasm-bindgen-test-runner "$v"; then
    log "installing wasm-bindgen-cli $v (about 3 minutes)"
    # Its lockfile may name a version this registry lacks; then resolve afresh.
    cargo install --locked wasm-bindgen-cli --version "=$v" \
      || cargo install --force wasm-bindgen-cli --version "=$v"
  fi
}

need_wasm_pack() {
  if ! has_version wasm-pack "$WASM_PACK_VERSION"; then
    log "installing wasm-pack $WASM_PACK_VERSION (about 3 minutes)"
    cargo install --locked wasm-pack --version "=$WASM_PACK_VERSION"
  fi
}

# cargo-fuzz builds with the nightly toolchain (libFuzzer needs it); the project stays on stable.
has_nightly() { cargo +nightly --version >/dev/null 2>&1; }

need_cargo_fuzz() {
  if ! has_version cargo-fuzz "$CARGO_FUZZ_VERSION"; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about 1 minute)"
    cargo install --locked cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
  fi
}

need_node_tools() {
  # wasm-opt (binaryen 132: Debian's older one breaks the page), playwright-core, and the
  # failover benchmark's reference (broadcast-channel) with esbuild to bundle it, and axe-core
  # for the accessibility test.
  if [ ! -x "$ROOT/node_modules/.bin/wasm-opt" ] || [ ! -d "$ROOT/node_modules/playwright-core" ] \
    || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing node tools (binaryen, playwright-core, broadcast-channel, esbuild, axe-core) from npm"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

need_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing Debian's chromium and chromium-driver"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >/dev/null
  fi
}

# The environment every command runs in: local tools first, and no tool may fetch anything.
setup_env() {
  export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
  export TRUNK_OFFLINE=true TRUNK_SKIP_VERSION_CHECK=true
  export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
  export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
}

setup() {
  local what="${1:-test}"
  setup_env
  need_target
  need_node_tools
  need_wasm_bindgen
  need_trunk
  if [ "$what" = test ]; then
    need_wasm_pack
    need_chromium
  fi
  # Trunk runs cargo offline: fetch the crates first.
  (cd "$ROOT" && cargo fetch --locked >/dev/null)
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  setup "${1:-test}"
fi
