#!/usr/bin/env bash
# The Nix test suite. Tier A runs everywhere (Debian's nix-bin, nixfmt_rs and deadnix
# from crates.io); tier B runs when checkouts of nixpkgs.lib, home-manager and crane are
# laid out by tools/export-inputs.sh (default /tmp/nix-inputs) and prints skips otherwise.
# Closes with "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
inputs=${NIX_INPUTS:-/tmp/nix-inputs}
pass=0 fail=0 skip=0
step() { # step NAME COMMAND...
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    echo "ok   $name"
    pass=$((pass + 1))
  else
    echo "FAIL $name"
    sed 's/^/  /' <<<"$out" | tail -25
    fail=$((fail + 1))
  fi
}
skip() { echo "skip $1"; skip=$((skip + 1)); }
nix_=(nix --extra-experimental-features 'nix-command flakes' --offline)
mapfile -t nixfiles < <(git ls-files '*.nix')

# --- tier A ---
parse_all() { for f in "${nixfiles[@]}"; do nix-instantiate --parse "$f" >/dev/null || return 1; done; }
step "every .nix file parses (${#nixfiles[@]} files)" parse_all
step "nixfmt --check" nixfmt --check "${nixfiles[@]}"
step "deadnix --fail" deadnix --fail "${nixfiles[@]}"
step "builtins-only helpers (tests/nix/lib-tests.nix)" tests/nix/run-cases.sh tests/nix/lib-tests.nix
step "flake.lock lint" python3 tests/nix/check_flake_lock.py flake.lock flake.nix
step "flake.lock consistent with flake.nix (offline metadata)" "${nix_[@]}" flake metadata --no-update-lock-file --json .
flake_is() { # flake_is ATTR NIX-FUNCTION-BODY
  local got
  got=$("${nix_[@]}" eval --no-update-lock-file --json ".#$1" --apply "$2") && [ "$got" = "true" ]
}
step "nixosModules.{clawdbot,default} are modules" flake_is nixosModules 'm: builtins.isFunction m.clawdbot && builtins.isFunction m.default'
step "homeManagerModules.{clawdbot,default} are modules" flake_is homeManagerModules 'm: builtins.isFunction m.clawdbot && builtins.isFunction m.default'
step "darwinModules add the HM module" flake_is darwinModules.default 'm: builtins.length m.home-manager.sharedModules == 1'
step "overlays.default is an overlay" flake_is overlays.default 'o: builtins.isFunction o'
step "templates evaluate" flake_is templates 't: builtins.all (n: builtins.pathExists (t.${n}.path + "/flake.nix") && builtins.isString t.${n}.description) [ "default" "nixos" ]'
step "lib helpers are exported" flake_is lib 'l: l.isPublicBind "lan"'

# --- tier B ---
if [ -d "$inputs/nixpkgs-lib/lib" ]; then
  lib=(--arg lib "import $inputs/nixpkgs-lib/lib")
  step "NixOS module (tests/nix/nixos-tests.nix)" tests/nix/run-cases.sh tests/nix/nixos-tests.nix "${lib[@]}"
  # Artifacts are built with the real gateway binary, so the build-time config check runs.
  bin="${CLAWDBOT_BIN:-}"
  if [ -z "$bin" ]; then
    cargo build --locked --quiet && bin="$PWD/target/debug/clawdbot"
  fi
  build() { nix-build --option substituters '' --no-out-link "${lib[@]}" --argstr gatewayBin "$bin" tests/nix/nixos-tests.nix -A "artifacts.$1"; }
  unit_ok() { local u; u=$(build unit) && tests/nix/check-unit.sh "$u" 20; }
  step "NixOS unit: systemd-analyze verify clean, security exposure <= 2.0" unit_ok
  step "NixOS: a valid config passes the build-time check-config" build goodConfig
  bad_fails() {
    local out
    if out=$(build badConfig 2>&1); then
      echo "a config with gateway.prot built; the check did not run"
      return 1
    fi
    grep -F 'gateway.prot: unknown key "prot" (did you mean "port"?)' <<<"$out" >/dev/null || { echo "$out" | tail -20; return 1; }
  }
  step "NixOS: an invalid config fails the build with the key path" bad_fails
  if [ -d "$inputs/crane/lib" ]; then
    step "crane source filter keeps what the build reads" tests/nix/run-cases.sh tests/nix/crane-tests.nix "${lib[@]}" --argstr crane "$inputs/crane" --argstr tracked "$(git ls-files)"
  else
    skip "crane source filter (no $inputs/crane)"
  fi
else
  skip "tier B: module evaluation (no $inputs; see ../shared/nix/tools/export-inputs.sh)"
fi

echo
echo "nix: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
