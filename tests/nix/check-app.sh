#!/usr/bin/env bash
# Checks the program behind `nix run .#gateway` (nix/app.nix, built around the real binary):
# `APP --port P` must start the gateway listening on P (arguments pass through), and write
# nothing outside its state dir (~/.clawdbot), neither in HOME nor in the working directory.
#   tests/nix/check-app.sh APP
set -uo pipefail
app=$1
t=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$t"
}
trap cleanup EXIT
mkdir -p "$t/home" "$t/cwd"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$t/cwd" && exec env -i HOME="$t/home" PATH=/usr/bin:/bin "$app" --port "$port" >"$t/log" 2>&1) &
pid=$!
up=
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$up" ]; then
  echo "the gateway did not listen on 127.0.0.1:$port"
  tail -20 "$t/log"
  exit 1
fi
kill "$pid" && wait "$pid" 2>/dev/null
pid=
outside=$(cd "$t" && find home cwd -mindepth 1 | grep -v -e '^home/\.clawdbot$' -e '^home/\.clawdbot/')
if [ -n "$outside" ]; then
  echo "written outside the state dir:"
  echo "$outside"
  exit 1
fi
[ -n "$(ls -A "$t/home/.clawdbot")" ] || { echo "nothing in the state dir"; exit 1; }
echo "ok: listened on $port; wrote only under ~/.clawdbot"
