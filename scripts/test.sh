#!/usr/bin/env bash
# The whole test suite, installing what it needs first. Run from anywhere:
#   ./scripts/test.sh
# Needs: a Rust toolchain (cargo), and npm for the reference client when the shared
# reference scripts sit beside the checkout (../shared/reference, as on CI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s ==\n' "$*"; }

# The original clawdbot CLI (npm 2026.1.24-3) is the compatibility acceptance test.
ref_setup="../shared/reference/setup.sh"
if [ -f "$ref_setup" ]; then
  step "reference client: original clawdbot CLI (npm)"
  log="${TMPDIR:-/tmp}/clawdbot-reference-setup.log"
  if ! bash "$ref_setup" >"$log" 2>&1; then
    tail -30 "$log"
    echo "reference client install failed (log: $log)" >&2
    exit 1
  fi
  tail -3 "$log"
  export CLAWDBOT_REQUIRE_REFERENCE=1
else
  echo "note: $ref_setup not found; the compatibility test will be skipped"
fi

step "format"
cargo fmt --check

step "lint"
cargo clippy --locked --all-targets -- -D warnings

step "tests"
# lib, binary and integration tests (benches are run by `cargo bench`, see BENCHMARKS.md).
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
cargo test --locked --lib --bins --tests 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i - 1)} END {print s + 0}' "$out")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i - 1)} END {print s + 0}' "$out")
echo
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
