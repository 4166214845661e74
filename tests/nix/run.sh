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
# Tracked and new (not ignored) files: a new file is checked before it is committed.
mapfile -t nixfiles < <(git ls-files --cached --others --exclude-standard '*.nix')

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
step "checks.x86_64-linux.vm exists (the NixOS VM test), not on other systems" flake_is checks 'c: c.x86_64-linux ? vm && !(c.aarch64-linux ? vm)'
# The VM test cannot run here (no KVM, no nixpkgs): its test script must at least be valid
# Python, and the node must import our module with a secret outside the store.
vm_script_ok() {
  local stub='{ pkgs.testers.runNixOSTest = a: a; nixosModule = "our-module"; }'
  local script node
  script=$(nix-instantiate --eval --strict --json -E "(import ./nix/vm-test.nix $stub).testScript" |
    python3 -c 'import json, sys; print(json.load(sys.stdin))') || return 1
  python3 -c 'import sys; compile(sys.argv[1], "testScript", "exec")' "$script" || return 1
  for want in wait_for_unit '"systemctl reload clawdbot-gateway"' switch-to-configuration paired_ids sessions.list; do
    grep -qF -- "$want" <<<"$script" || { echo "testScript lacks $want"; return 1; }
  done
  node=$(nix-instantiate --eval --strict --json -E "let n = (import ./nix/vm-test.nix $stub).nodes.machine { }; in { inherit (n) imports; secret = n.services.clawdbot.secrets.gateway-token; }") || return 1
  [ "$node" = '{"imports":["our-module"],"secret":"/run/keys/clawdbot-token"}' ] || { echo "node: $node"; return 1; }
}
step "nix/vm-test.nix: its test script compiles as Python, the node imports the module" vm_script_ok

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
  template_ok() { local u; u=$(build templateUnit) && tests/nix/check-unit.sh "$u" 20; }
  step "templates/nixos: its unit builds (check-config on its settings), verify clean, exposure <= 2.0" template_ok
  instance_ok() { local u; u=$(build instanceUnit) && tests/nix/check-unit.sh "$u" 20; }
  step "NixOS instance unit (with documents ExecStartPre): verify clean, exposure <= 2.0" instance_ok
  dynamic_ok() { local u; u=$(build dynamicUserUnit) && tests/nix/check-unit.sh "$u" 20; }
  step "NixOS DynamicUser unit: verify clean, exposure <= 2.0" dynamic_ok
  # `clawdbot config ...` reads the config it is bound to; `config set` is refused (Nix mode).
  cli_ok() {
    local d top fam
    d=$(build cli) || return 1
    top=$("$d/bin/clawdbot" config get gateway.port) && fam=$("$d/bin/clawdbot-family" config get gateway.port) || return 1
    [ "$top" = 18789 ] && [ "$fam" = 18790 ] || { echo "ports: clawdbot=$top clawdbot-family=$fam"; return 1; }
    "$d/bin/clawdbot-family" config path | grep -q -- '-clawdbot-family-config.json$' || { echo "config path not the instance's"; return 1; }
    if "$d/bin/clawdbot" config set gateway.port 1 >/dev/null 2>&1; then echo "config set was not refused"; return 1; fi
  }
  step "NixOS admin CLI: clawdbot / clawdbot-<name> talk to their own gateway's config" cli_ok
  nixos_documents_ok() {
    local t s rc
    t=$(mktemp -d)
    s=$(nix-build --option substituters '' --no-out-link "${lib[@]}" --argstr workspace "$t/ws" tests/nix/nixos-tests.nix -A artifacts.documents) &&
      tests/nix/check-documents.sh "$s" "$t/ws"
    rc=$?
    rm -rf "$t"
    return $rc
  }
  step "NixOS ExecStartPre copies workspace documents (run against a temp dir)" nixos_documents_ok
  app_ok() { local a; a=$(build app) && tests/nix/check-app.sh "$a"; }
  step "nix run .#gateway -- --port P: the app starts the gateway on P, writes only its state dir" app_ok
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
  fails_with() { # fails_with ARTIFACT TEXT: building it fails, naming TEXT
    local out
    if out=$(build "$1" 2>&1); then
      echo "$1 built; the check did not run"
      return 1
    fi
    grep -F -- "$2" <<<"$out" >/dev/null || { echo "$out" | tail -20; return 1; }
  }
  step "NixOS: cron.jobs pass the build-time check" build goodCronJob
  step "NixOS: a bad cron.jobs schedule fails the build naming the job" fails_with badCronJob 'cron.jobs.morning.schedule:'
  step "NixOS: a configFile of the configuration is checked at build time" fails_with badConfigFile 'gateway.prot: unknown key "prot"'
  step "NixOS: checkConfigFile = false builds it unchecked (runtime-only includes)" build uncheckedConfigFile
  if [ -f "$inputs/home-manager/modules/default.nix" ]; then
    hm=("${lib[@]}" --argstr homeManager "$inputs/home-manager")
    step "Home Manager module in HM's real module set, linux + darwin (tests/nix/hm-tests.nix)" tests/nix/run-cases.sh tests/nix/hm-tests.nix "${hm[@]}"
    hm_build() { nix-build --option substituters '' --no-out-link "${hm[@]}" --argstr gatewayBin "$bin" "$@" tests/nix/hm-tests.nix; }
    hm_units_ok() { local d; d=$(hm_build -A artifacts.units) && tests/nix/check-unit.sh --user "$d"/*.service; }
    step "HM user units (top level + instance): systemd-analyze --user verify clean" hm_units_ok
    hm_template_ok() { local d; d=$(hm_build -A artifacts.templateUnit) && tests/nix/check-unit.sh --user "$d"/*.service; }
    step "templates/default: its unit builds (check-config on its settings), --user verify clean" hm_template_ok
    hm_plists_ok() { local d; d=$(hm_build -A artifacts.plists) && python3 tests/nix/check_launchd_plist.py "$d"/*.plist; }
    step "HM launchd plists (top level + instance): plistlib + keys and types" hm_plists_ok
    hm_cli_ok() {
      local d port
      d=$(hm_build -A artifacts.cli) && port=$("$d/bin/clawdbot-work" config get gateway.port) || return 1
      [ "$port" = 18790 ] || { echo "clawdbot-work sees port $port, want 18790"; return 1; }
    }
    step "HM clawdbot-<name> command talks to its instance's config" hm_cli_ok
    hm_documents_ok() {
      local t s rc
      t=$(mktemp -d)
      s=$(hm_build -A artifacts.activation --argstr workspace "$t/clawd") &&
        tests/nix/check-documents.sh "$s" "$t/clawd"
      rc=$?
      rm -rf "$t"
      return $rc
    }
    step "HM activation copies workspace documents (run against a temp dir)" hm_documents_ok
    step "docs/nix-options.md matches the modules' option declarations" env NIX_INPUTS="$inputs" bash tests/nix/options-doc.sh --check
  else
    skip "Home Manager module (no $inputs/home-manager)"
  fi
  if [ -d "$inputs/crane/lib" ]; then
    # The tracked files go through a file: with the fuzz corpora the list is too long for
    # one argument.
    tracked=$(mktemp)
    git ls-files >"$tracked"
    step "crane source filter keeps what the build reads" tests/nix/run-cases.sh tests/nix/crane-tests.nix "${lib[@]}" --argstr crane "$inputs/crane" --arg tracked "builtins.readFile $tracked"
    rm -f "$tracked"
  else
    skip "crane source filter (no $inputs/crane)"
  fi
else
  skip "tier B: module evaluation (no $inputs; see ../shared/nix/tools/export-inputs.sh)"
fi

echo
echo "nix: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
