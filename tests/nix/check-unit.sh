#!/usr/bin/env bash
# Checks a rendered system unit: `systemd-analyze verify` must print nothing (it exits 0
# on unknown keys and bad values, so any output counts as failure), and the offline
# security exposure must be at most the threshold (tenths; 20 = 2.0).
#   tests/nix/check-unit.sh UNIT [THRESHOLD]
set -euo pipefail
unit=$1 threshold=${2:-20}
out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "systemd-analyze verify printed:"
  echo "$out"
  exit 1
fi
systemd-analyze security --offline=true --threshold="$threshold" "$unit" | tail -1
