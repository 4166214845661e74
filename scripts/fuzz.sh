#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/) for a bounded time each.
#   scripts/fuzz.sh                 # every target, 30 s each (what CI runs)
#   scripts/fuzz.sh 1800 sse frame  # 30 minutes each for two targets
# A target first replays its whole committed corpus (fuzz/corpus/<target>, the
# regression inputs), then fuzzes; new interesting inputs are added to the corpus and a
# crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
# CLAWDBOT_FUZZ_SEED fixes libFuzzer's random seed (CI sets it, so that a run there
# repeats what was run here); unset, every run explores anew.
# Needs cargo-fuzz (installed here from crates.io when missing). libFuzzer's flags need
# a nightly compiler; RUSTC_BOOTSTRAP=1 lets the machine's one stable toolchain take them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs="${1:-30}"
shift || true
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked --quiet cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
flags=(-O --debug-assertions)
cargo fuzz build "${flags[@]}"
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  printf '\n-- fuzz %s: %ss --\n' "$t" "$secs"
  log="$(mktemp)"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory blow-ups fail.
  if ! cargo fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -seed="${CLAWDBOT_FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz target $t failed (input in fuzz/artifacts/$t/)" >&2
    rm -f "$log"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$log" | tail -2 || true
  rm -f "$log"
done
