#!/usr/bin/env bash
# Checks a rendered unit: `systemd-analyze verify` must print nothing (it exits 0 on
# unknown keys and bad values, so any output counts as failure), and for a system unit the
# offline security exposure must be at most the threshold (tenths; 20 = 2.0).
#   tests/nix/check-unit.sh UNIT [THRESHOLD]
#   tests/nix/check-unit.sh --user UNIT...      (user units: verify only; the exposure
#                                                score means nothing without privileges)
set -euo pipefail
if [ "${1:-}" = --user ]; then
  shift
  # `--user verify` needs a runtime dir, even offline.
  XDG_RUNTIME_DIR=$(mktemp -d)
  export XDG_RUNTIME_DIR
  trap 'rm -rf "$XDG_RUNTIME_DIR"' EXIT
  for unit in "$@"; do
    out=$(systemd-analyze --user verify "$unit" 2>&1) || { echo "$out"; exit 1; }
    if [ -n "$out" ]; then
      echo "systemd-analyze --user verify $unit printed:"
      echo "$out"
      exit 1
    fi
  done
  exit 0
fi
unit=$1 threshold=${2:-20}
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify printed:"
  echo "$out"
  exit 1
fi
systemd-analyze security --offline=true --threshold="$threshold" "$unit" | tail -1
