#!/usr/bin/env bash
# Fuzzes every decoder of what reaches a tab from another tab or from storage (the targets of
# fuzz/, cargo-fuzz and libFuzzer, on the nightly toolchain), each for the same time, and prints
# per target its executions, executions per second and crashes, then one closing summary line.
# Exits non-zero if any target crashed (a panic, an overflow, a timeout of 10 s on one input, or
# more than 2 GiB of memory), after naming the input that did it. A target with an open finding
# (an input in fuzz/findings/<target>/ that the core still fails) is skipped, loudly: it would
# stop there at once.
#   bash scripts/fuzz.sh [seconds-per-target [target...]]      (default 60 s, every target)
# On a shared machine, run it as `nice -n 19 bash scripts/fuzz.sh 600`.
#
# Each target starts from the committed seeds (fuzz/seeds/<target>/, written by the real
# encoders) and the working corpus an earlier run left (fuzz/corpus/<target>/, not committed).
# The build keeps debug assertions and overflow checks but no sanitizer: the core forbids unsafe
# code, so AddressSanitizer would only watch the dependencies' unsafe code, at 3 to 8 times the
# cost of each execution (FUZZ_SANITIZER=address brings it back).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_env
if ! has_nightly; then
  printf '\033[1;31merror:\033[0m no nightly toolchain (`rustup toolchain list`): libFuzzer needs one\n' >&2
  exit 1
fi
need_cargo_fuzz
cd "$ROOT/fuzz"

seconds="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
logs="$ROOT/fuzz/target/logs"
mkdir -p "$logs"

# The lock file is committed: fail on a stale one rather than resolve afresh.
if ! { cargo +nightly fetch --locked && cargo +nightly fuzz build --sanitizer "$sanitizer"; } \
  >"$logs/build.log" 2>&1; then
  cat "$logs/build.log" >&2
  exit 1
fi

started=$SECONDS
total_runs=0
total_crashes=0
targets=0
declare -a crashed=() skipped=()
printf '%-10s %14s %10s %8s\n' target executions exec/s crashes
all=$(cargo +nightly fuzz list)
chosen=("${@:2}")
for target in "${chosen[@]}"; do
  if ! grep -qx "$target" <<<"$all"; then
    printf '\033[1;31merror:\033[0m no fuzz target %s (there are: %s)\n' "$target" "$(echo $all)" >&2
    exit 1
  fi
done
[ "${#chosen[@]}" -gt 0 ] || read -r -d '' -a chosen <<<"$all" || true
for target in "${chosen[@]}"; do
  if compgen -G "findings/$target/*" >/dev/null; then
    printf '%-10s %14s %10s %8s\n' "$target" - - skipped
    skipped+=("$target: open finding $(ls -d findings/"$target"/* | tr '\n' ' ')")
    continue
  fi
  targets=$((targets + 1))
  mkdir -p "corpus/$target"
  log="$logs/$target.log"
  status=0
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  # The final statistics; a run stopped by a crash has none, so count to its last status line.
  runs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
  if [ -z "$runs" ]; then
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  runs="${runs:-0}"
  rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | sed 's/Test unit written to //')
    crashed+=("$target: ${artifact:-see $log}")
  fi
  total_runs=$((total_runs + runs))
  total_crashes=$((total_crashes + crashes))
  printf '%-10s %14s %10s %8d\n' "$target" "$runs" "${rate:-?}" "$crashes"
done

for s in "${skipped[@]}"; do
  printf '\033[1;33mskipped\033[0m %s(fix the core, then move it to fuzz/regressions/)\n' "$s" >&2
done
for c in "${crashed[@]}"; do
  printf '\033[1;31mcrash\033[0m %s\n' "$c" >&2
done
if [ "$total_crashes" -gt 0 ]; then
  printf 'replay one with `cargo +nightly fuzz run -s %s <target> <file>` in fuzz/; keep it as\n' "$sanitizer" >&2
  printf 'fuzz/regressions/<target>/<what it shows>, replayed on stable by crates/core/tests/fuzz_regressions.rs\n' >&2
fi
printf '\nconclave fuzz: %d targets, %d executions, %d crashes in %ds (%ss each, sanitizer %s)%s\n' \
  "$targets" "$total_runs" "$total_crashes" $((SECONDS - started)) "$seconds" "$sanitizer" \
  "${skipped:+; ${#skipped[@]} skipped with an open finding}"
[ "$total_crashes" -eq 0 ]
