#!/usr/bin/env bash
# Prints docs/nix-options.md, generated from the modules' option declarations (tier B:
# needs the nixpkgs.lib and home-manager checkouts, default /tmp/nix-inputs):
#   bash tests/nix/options-doc.sh > docs/nix-options.md      # regenerate
#   bash tests/nix/options-doc.sh --check                     # fail if the file is stale
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
inputs=${NIX_INPUTS:-/tmp/nix-inputs}
generate() {
  nix-instantiate --eval --strict --json --option substituters '' \
    --arg lib "import $inputs/nixpkgs-lib/lib" --argstr homeManager "$inputs/home-manager" \
    tests/nix/options-doc.nix | python3 tests/nix/options_doc.py
}
if [ "${1:-}" = --check ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  generate >"$fresh"
  if ! diff -u docs/nix-options.md "$fresh" >"$fresh.diff"; then
    head -40 "$fresh.diff"
    rm -f "$fresh.diff"
    echo "docs/nix-options.md is out of date; regenerate it with:"
    echo "  bash tests/nix/options-doc.sh > docs/nix-options.md"
    exit 1
  fi
  rm -f "$fresh.diff"
else
  generate
fi
