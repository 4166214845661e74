#!/usr/bin/env bash
# The Clawdbot gateway (Rust) with Docker Compose, in one command. Guide: docs/deploy.md.
#
#   ./docker-setup.sh             build the image, write .env, onboard, start the gateway
#   ./docker-setup.sh --dry-run   show what it would do; never calls docker
#
# A run, in order:
#   1. settings come from the environment, else the existing .env, else the defaults below;
#      the gateway token is $CLAWDBOT_GATEWAY_TOKEN, else the one in .env, else 64 new hex
#      characters (it is never printed)
#   2. .env next to this script is written (mode 0600; lines it does not manage are kept),
#      and docker-compose.extra.yml when CLAWDBOT_EXTRA_MOUNTS or CLAWDBOT_HOME_VOLUME is
#      set (removed again when neither is)
#   3. the config and workspace directories are created (owned by uid 1000 when run as root)
#   4. docker build, with CLAWDBOT_DOCKER_APT_PACKAGES as a build argument (skipped with
#      CLAWDBOT_DOCKER_BUILD=0: the image CLAWDBOT_IMAGE must exist, e.g. `docker load`ed)
#   5. onboarding in the CLI container, unless the config already exists
#   6. docker compose up -d clawdbot-gateway, then the URL and next steps are printed
# Running it again keeps the token and the settings. A docker-compose.override.yml next to
# this script is used too, as plain `docker compose` would.
#
# --dry-run writes the files a run would write into $CLAWDBOT_DRY_RUN_DIR (default
# ./docker-setup.dry-run), prints them with secrets redacted, prints the commands, and
# changes nothing else: no docker, no directories, nothing next to this script.
#
# Settings (environment or .env):
#   CLAWDBOT_IMAGE                image tag (clawdbot:local)
#   CLAWDBOT_GATEWAY_TOKEN        gateway token (generated)
#   CLAWDBOT_GATEWAY_BIND         lan | loopback | auto | tailnet | custom (lan)
#   CLAWDBOT_GATEWAY_PORT         host port, published on 127.0.0.1 (18789)
#   CLAWDBOT_CONFIG_DIR           host directory for /home/node/.clawdbot ($HOME/.clawdbot)
#   CLAWDBOT_WORKSPACE_DIR        host directory for /home/node/clawd ($HOME/clawd)
#   CLAWDBOT_EXTRA_MOUNTS         extra bind mounts: host:container[:ro|rw],... (none)
#   CLAWDBOT_HOME_VOLUME          a named volume for all of /home/node (none)
#   CLAWDBOT_DOCKER_APT_PACKAGES  apt packages baked into the image, space-separated (none)
#   CLAWDBOT_DOCKER_BUILD         1: build the image; 0: use the existing CLAWDBOT_IMAGE (1)
set -euo pipefail

die() {
  printf 'docker-setup.sh: %s\n' "$*" >&2
  exit 1
}
warn() { printf 'warning: %s\n' "$*" >&2; }

usage() {
  sed -n '2,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

DRY_RUN=0
for arg in "$@"; do
  case $arg in
    --dry-run) DRY_RUN=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "$ROOT_DIR/docker-compose.yml" ] || die "docker-compose.yml not found next to this script ($ROOT_DIR)"

if [ "$DRY_RUN" -eq 1 ]; then
  OUT_DIR="${CLAWDBOT_DRY_RUN_DIR:-$PWD/docker-setup.dry-run}"
  mkdir -p "$OUT_DIR"
  OUT_DIR="$(cd "$OUT_DIR" && pwd)"
else
  OUT_DIR="$ROOT_DIR"
fi
ENV_FILE="$OUT_DIR/.env"
EXTRA_FILE="$OUT_DIR/docker-compose.extra.yml"

TMP_FILE=""
cleanup() { if [ -n "$TMP_FILE" ]; then rm -f "$TMP_FILE"; fi; }
trap cleanup EXIT

# --- settings ------------------------------------------------------------------------------

# The .env a run starts from: the one being written, else (dry run) the real one.
SOURCE_ENV=""
if [ -f "$ENV_FILE" ]; then
  SOURCE_ENV="$ENV_FILE"
elif [ -f "$ROOT_DIR/.env" ]; then
  SOURCE_ENV="$ROOT_DIR/.env"
fi

# dotenv_get KEY: the value of KEY in $SOURCE_ENV (quotes removed); status 1 when absent.
dotenv_get() {
  local line value="" found=1
  [ -n "$SOURCE_ENV" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%$'\r'}"
    case $line in
      "$1="*)
        value="${line#*=}"
        found=0
        ;;
    esac
  done <"$SOURCE_ENV"
  [ "$found" -eq 0 ] || return 1
  case $value in
    \'*\') value="${value:1:${#value}-2}" ;;
    \"*\") value="${value:1:${#value}-2}" ;;
  esac
  printf '%s' "$value"
}

# setting KEY DEFAULT [empty-ok]: the environment (when set; when non-empty unless
# empty-ok), else .env, else DEFAULT.
setting() {
  local key=$1 default=$2 empty_ok=${3:-}
  if [ -n "${!key+set}" ] && { [ -n "${!key}" ] || [ -n "$empty_ok" ]; }; then
    printf '%s' "${!key}"
  elif dotenv_get "$key" >/dev/null && { [ -n "$(dotenv_get "$key")" ] || [ -n "$empty_ok" ]; }; then
    dotenv_get "$key"
  else
    printf '%s' "$default"
  fi
}

# An absolute path: ~ expanded, relative paths taken from the current directory.
abs_path() {
  local p=$1
  case $p in
    \~) p="$HOME" ;;
    \~/*) p="$HOME/${p#\~/}" ;;
  esac
  case $p in
    /*) ;;
    *) p="$PWD/${p#./}" ;;
  esac
  printf '%s' "${p%/}"
}

IMAGE="$(setting CLAWDBOT_IMAGE clawdbot:local)"
BIND="$(setting CLAWDBOT_GATEWAY_BIND lan)"
PORT="$(setting CLAWDBOT_GATEWAY_PORT 18789)"
CONFIG_DIR="$(abs_path "$(setting CLAWDBOT_CONFIG_DIR "$HOME/.clawdbot")")"
WORKSPACE_DIR="$(abs_path "$(setting CLAWDBOT_WORKSPACE_DIR "$HOME/clawd")")"
EXTRA_MOUNTS="$(setting CLAWDBOT_EXTRA_MOUNTS "" empty-ok)"
HOME_VOLUME="$(setting CLAWDBOT_HOME_VOLUME "" empty-ok)"
APT_PACKAGES="$(setting CLAWDBOT_DOCKER_APT_PACKAGES "" empty-ok)"
DO_BUILD="${CLAWDBOT_DOCKER_BUILD:-1}"

if [ -n "${CLAWDBOT_GATEWAY_TOKEN:-}" ]; then
  TOKEN="$CLAWDBOT_GATEWAY_TOKEN"
  TOKEN_SOURCE="from the environment"
elif TOKEN="$(dotenv_get CLAWDBOT_GATEWAY_TOKEN)" && [ -n "$TOKEN" ]; then
  TOKEN_SOURCE="kept from $SOURCE_ENV"
else
  TOKEN="$(od -An -v -N32 -tx1 /dev/urandom | tr -d ' \n')"
  [[ $TOKEN =~ ^[0-9a-f]{64}$ ]] || die "could not generate a token from /dev/urandom"
  TOKEN_SOURCE="generated"
fi

# --- validation ----------------------------------------------------------------------------

[[ $IMAGE =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || die "CLAWDBOT_IMAGE is not an image reference: $IMAGE"
case $BIND in
  lan | auto | tailnet | custom) ;;
  loopback) warn "CLAWDBOT_GATEWAY_BIND=loopback: inside a container the published port will not answer; use lan" ;;
  *) die "CLAWDBOT_GATEWAY_BIND must be lan, loopback, auto, tailnet or custom (got: $BIND)" ;;
esac
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  die "CLAWDBOT_GATEWAY_PORT must be a port number (got: $PORT)"
fi
case $DO_BUILD in
  0 | 1) ;;
  *) die "CLAWDBOT_DOCKER_BUILD must be 1 (build) or 0 (use the existing image; got: $DO_BUILD)" ;;
esac
case $TOKEN in
  *[[:space:]\'\"]*) die "CLAWDBOT_GATEWAY_TOKEN must not contain spaces or quotes" ;;
esac
if [ "${#TOKEN}" -lt 32 ]; then
  warn "CLAWDBOT_GATEWAY_TOKEN is short (${#TOKEN} characters); unset it to get 64 generated hex characters"
fi
for dir in "$CONFIG_DIR" "$WORKSPACE_DIR"; do
  case $dir in
    *[\'\"\$]* | *[[:cntrl:]]*) die "directory paths must not contain quotes, \$ or control characters: $dir" ;;
  esac
done
if [ -n "$HOME_VOLUME" ] && ! [[ $HOME_VOLUME =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]]; then
  die "CLAWDBOT_HOME_VOLUME must be a named volume (letters, digits, _ . -), not a path: $HOME_VOLUME (bind mounts go in CLAWDBOT_EXTRA_MOUNTS)"
fi
read -r -a apt_list <<<"$APT_PACKAGES"
for pkg in ${apt_list[@]+"${apt_list[@]}"}; do
  [[ $pkg =~ ^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+~:_-]+)?$ ]] || die "CLAWDBOT_DOCKER_APT_PACKAGES: not an apt package name: $pkg"
done
APT_PACKAGES="${apt_list[*]+"${apt_list[*]}"}"

# CLAWDBOT_EXTRA_MOUNTS: host:container[:mode], comma-separated.
MOUNTS=()
IFS=',' read -r -a mount_specs <<<"$EXTRA_MOUNTS"
for spec in ${mount_specs[@]+"${mount_specs[@]}"}; do
  spec="${spec#"${spec%%[![:space:]]*}"}"
  spec="${spec%"${spec##*[![:space:]]}"}"
  [ -n "$spec" ] || continue
  case $spec in
    *[\"\\]* | *[[:cntrl:]]*) die "CLAWDBOT_EXTRA_MOUNTS: quotes, backslashes and control characters are not allowed: $spec" ;;
  esac
  rest="$spec"
  mode=""
  case ${rest##*:} in
    ro | rw | z | Z | cached | delegated | consistent)
      mode="${rest##*:}"
      rest="${rest%:*}"
      ;;
  esac
  [[ $rest == *:* ]] || die "CLAWDBOT_EXTRA_MOUNTS: expected host:container[:ro|rw], got: $spec"
  container="${rest##*:}"
  host="${rest%:*}"
  [ -n "$host" ] || die "CLAWDBOT_EXTRA_MOUNTS: empty host path in: $spec"
  [[ $container == /* ]] || die "CLAWDBOT_EXTRA_MOUNTS: the container path must be absolute in: $spec"
  host="$(abs_path "$host")"
  # $ is literal in a path; compose would interpolate it.
  MOUNTS+=("${host//\$/\$\$}:$container${mode:+:$mode}")
done

if [ "$DRY_RUN" -eq 0 ]; then
  command -v docker >/dev/null 2>&1 || die "docker not found: install Docker Engine (or Docker Desktop) with the compose plugin"
  if ! docker compose version >/dev/null 2>&1; then
    if command -v docker-compose >/dev/null 2>&1; then
      die "only docker-compose (Compose v1) was found; this script needs Compose v2 (\`docker compose\`): install the compose plugin"
    fi
    die "Docker Compose v2 is not available (try: docker compose version)"
  fi
fi

# --- files -----------------------------------------------------------------------------------

# A value as .env holds it: bare when plain, else in single quotes (literal for compose).
env_value() {
  if [[ $1 =~ ^[A-Za-z0-9_./:@+,=-]*$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "$1"
  fi
}

MANAGED_KEYS=(CLAWDBOT_IMAGE CLAWDBOT_GATEWAY_TOKEN CLAWDBOT_GATEWAY_BIND CLAWDBOT_GATEWAY_PORT
  CLAWDBOT_CONFIG_DIR CLAWDBOT_WORKSPACE_DIR CLAWDBOT_EXTRA_MOUNTS CLAWDBOT_HOME_VOLUME
  CLAWDBOT_DOCKER_APT_PACKAGES)
managed_value() {
  case $1 in
    CLAWDBOT_IMAGE) env_value "$IMAGE" ;;
    CLAWDBOT_GATEWAY_TOKEN) env_value "$TOKEN" ;;
    CLAWDBOT_GATEWAY_BIND) env_value "$BIND" ;;
    CLAWDBOT_GATEWAY_PORT) env_value "$PORT" ;;
    CLAWDBOT_CONFIG_DIR) env_value "$CONFIG_DIR" ;;
    CLAWDBOT_WORKSPACE_DIR) env_value "$WORKSPACE_DIR" ;;
    CLAWDBOT_EXTRA_MOUNTS) env_value "$EXTRA_MOUNTS" ;;
    CLAWDBOT_HOME_VOLUME) env_value "$HOME_VOLUME" ;;
    CLAWDBOT_DOCKER_APT_PACKAGES) env_value "$APT_PACKAGES" ;;
  esac
}

# Writes .env atomically with mode 0600: managed keys updated in place, other lines kept.
write_env() {
  local line key written=" "
  TMP_FILE="$(umask 077 && mktemp "$OUT_DIR/.env.XXXXXX")"
  {
    if [ -n "$SOURCE_ENV" ]; then
      while IFS= read -r line || [ -n "$line" ]; do
        key="${line%%=*}"
        if [[ $line == *=* ]] && [[ " ${MANAGED_KEYS[*]} " == *" $key "* ]]; then
          if [[ $written != *" $key "* ]]; then
            printf '%s=%s\n' "$key" "$(managed_value "$key")"
            written+="$key "
          fi
        else
          printf '%s\n' "$line"
        fi
      done <"$SOURCE_ENV"
    else
      printf '%s\n' "# Written by docker-setup.sh for docker compose. Keep it private (mode 0600)." \
        "# Other lines you add here are kept when the script runs again."
    fi
    for key in "${MANAGED_KEYS[@]}"; do
      if [[ $written != *" $key "* ]]; then
        printf '%s=%s\n' "$key" "$(managed_value "$key")"
      fi
    done
  } >"$TMP_FILE"
  chmod 600 "$TMP_FILE"
  mv -f "$TMP_FILE" "$ENV_FILE"
  TMP_FILE=""
}

write_extra() {
  local service mount
  {
    printf '%s\n' "# Generated by docker-setup.sh from CLAWDBOT_EXTRA_MOUNTS and CLAWDBOT_HOME_VOLUME." \
      "# Do not edit: change those variables and run ./docker-setup.sh again." \
      "services:"
    for service in clawdbot-gateway clawdbot-cli; do
      printf '  %s:\n    volumes:\n' "$service"
      if [ -n "$HOME_VOLUME" ]; then
        printf '      - "%s:/home/node"\n' "$HOME_VOLUME"
      fi
      for mount in ${MOUNTS[@]+"${MOUNTS[@]}"}; do
        printf '      - "%s"\n' "$mount"
      done
    done
    if [ -n "$HOME_VOLUME" ]; then
      # name: the volume is called exactly that, not <project>_<name>.
      printf 'volumes:\n  %s:\n    name: %s\n' "$HOME_VOLUME" "$HOME_VOLUME"
    fi
  } >"$EXTRA_FILE"
}

write_env
COMPOSE=(docker compose -f "$ROOT_DIR/docker-compose.yml")
HINT="docker compose"
if [ -n "$HOME_VOLUME" ] || [ "${#MOUNTS[@]}" -gt 0 ]; then
  write_extra
  COMPOSE+=(-f "$ROOT_DIR/docker-compose.extra.yml")
  HINT="docker compose -f docker-compose.yml -f docker-compose.extra.yml"
elif [ -f "$EXTRA_FILE" ]; then
  rm -f "$EXTRA_FILE"
fi
# With -f, compose no longer reads docker-compose.override.yml by itself.
if [ -f "$ROOT_DIR/docker-compose.override.yml" ]; then
  COMPOSE+=(-f "$ROOT_DIR/docker-compose.override.yml")
  if [ "$HINT" != "docker compose" ]; then HINT="$HINT -f docker-compose.override.yml"; fi
fi
# No terminal (CI, cloud-init, a pipe): `compose run` without a pseudo-TTY.
RUN_TTY=()
[ -t 0 ] || RUN_TTY=(-T)

# --- commands --------------------------------------------------------------------------------

# Prints a command (shell-quoted) and runs it, unless this is a dry run.
run() {
  local quoted=() a
  for a in "$@"; do quoted+=("$(printf '%q' "$a")"); done
  printf '+ %s\n' "${quoted[*]}"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

if [ "$DRY_RUN" -eq 1 ]; then
  echo "Dry run: nothing is run. The files a run would write are in $OUT_DIR:"
  for f in "$ENV_FILE" "$EXTRA_FILE"; do
    [ -f "$f" ] || continue
    printf -- '--- %s\n' "$f"
    # Secrets are redacted: the token and any *TOKEN*/*KEY*/*SECRET*/*PASSWORD* line.
    while IFS= read -r line || [ -n "$line" ]; do
      key="${line%%=*}"
      if [[ $line == *=* ]] && [[ $key =~ (TOKEN|KEY|SECRET|PASSWORD|COOKIE)$ ]]; then
        value="${line#*=}"
        printf '%s=<redacted: %s characters>\n' "$key" "${#value}"
      else
        printf '%s\n' "$line"
      fi
    done <"$f"
  done
  echo "---"
fi

echo "==> Settings: image $IMAGE, bind $BIND, port 127.0.0.1:$PORT, token $TOKEN_SOURCE (CLAWDBOT_GATEWAY_TOKEN in $ENV_FILE)"

echo "==> Config and workspace directories"
run mkdir -p "$CONFIG_DIR" "$WORKSPACE_DIR"
run chmod 700 "$CONFIG_DIR"
if [ "$(id -u)" -eq 0 ]; then
  # The container runs as uid 1000 (the guide's Hetzner step).
  run chown -R 1000:1000 "$CONFIG_DIR" "$WORKSPACE_DIR"
elif [ "$(id -u)" -ne 1000 ] && [ "$(uname -s)" = Linux ]; then
  warn "the container runs as uid 1000 and you are uid $(id -u): if it cannot write $CONFIG_DIR, run: sudo chown -R 1000:1000 $CONFIG_DIR $WORKSPACE_DIR"
fi

if [ "$DO_BUILD" -eq 1 ]; then
  echo "==> Building the image $IMAGE"
  run docker build --build-arg "CLAWDBOT_DOCKER_APT_PACKAGES=$APT_PACKAGES" \
    -t "$IMAGE" -f "$ROOT_DIR/Dockerfile" "$ROOT_DIR"
else
  echo "==> Using the existing image $IMAGE (CLAWDBOT_DOCKER_BUILD=0)"
  run docker image inspect --format '{{.Id}}' "$IMAGE"
fi

export CLAWDBOT_IMAGE="$IMAGE" CLAWDBOT_GATEWAY_TOKEN="$TOKEN" CLAWDBOT_GATEWAY_BIND="$BIND" \
  CLAWDBOT_GATEWAY_PORT="$PORT" CLAWDBOT_CONFIG_DIR="$CONFIG_DIR" \
  CLAWDBOT_WORKSPACE_DIR="$WORKSPACE_DIR" CLAWDBOT_EXTRA_MOUNTS="$EXTRA_MOUNTS" \
  CLAWDBOT_HOME_VOLUME="$HOME_VOLUME" CLAWDBOT_DOCKER_APT_PACKAGES="$APT_PACKAGES"

echo "==> Onboarding"
if [ -f "$CONFIG_DIR/clawdbot.json" ]; then
  echo "$CONFIG_DIR/clawdbot.json exists: onboarding skipped (to run it again: $HINT run --rm clawdbot-cli onboard)"
else
  run "${COMPOSE[@]}" run --rm ${RUN_TTY[@]+"${RUN_TTY[@]}"} clawdbot-cli onboard --non-interactive --gateway-bind "$BIND" --gateway-port 18789
fi

echo "==> Starting the gateway"
run "${COMPOSE[@]}" up -d clawdbot-gateway

cat <<EOF

Gateway: http://127.0.0.1:$PORT/
  link with the token:  $HINT run --rm clawdbot-cli dashboard
  check:                $HINT exec clawdbot-gateway clawdbot health
                        curl -fsS http://127.0.0.1:$PORT/healthz
  logs:                 $HINT logs -f clawdbot-gateway
Config: $CONFIG_DIR   Workspace: $WORKSPACE_DIR
Token: CLAWDBOT_GATEWAY_TOKEN in $ENV_FILE (not shown)

Next (run from $ROOT_DIR):
  model key:  add ANTHROPIC_API_KEY=... (or OPENAI_API_KEY=...) to .env, then: $HINT up -d clawdbot-gateway
              or interactively: $HINT run --rm clawdbot-cli onboard
  Telegram:   $HINT run --rm clawdbot-cli channels add --channel telegram --token <bot-token>
EOF
