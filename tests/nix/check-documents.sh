#!/usr/bin/env bash
# Runs a documents-copy script (Home Manager's activation step or the NixOS ExecStartPre)
# against a real directory and checks what it leaves there:
#   tests/nix/check-documents.sh SCRIPT WORKSPACE
# The script was generated for WORKSPACE with the documents of tests/nix/*-tests.nix:
# AGENTS.md (tests/nix/fixtures/AGENTS.md), SOUL.md ("Be kind."), notes/USER.md ("Alice.").
set -euo pipefail
script=$1 ws=$2
fixtures=$(cd "$(dirname "$0")/fixtures" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
want=$(mktemp -d)
trap 'rm -rf "$want"' EXIT

# Before: an old symlink (as older Nix setups left), a stale copy, an unmanaged file.
mkdir -p "$ws"
ln -s "$fixtures/AGENTS.md" "$ws/AGENTS.md"
echo "old soul" >"$ws/SOUL.md"
echo "mine" >"$ws/scratch.md"

"$script"

expect() { # expect NAME CONTENT-FILE
  local f=$ws/$1
  [ -f "$f" ] && [ ! -L "$f" ] || fail "$1 is not a regular file"
  cmp -s "$f" "$2" || fail "$1 has the wrong content: $(head -c 200 "$f")"
  [ "$(stat -c %a "$f")" = 600 ] || fail "$1 has mode $(stat -c %a "$f"), want 600"
  [ "$(stat -c %u "$f")" = "$(id -u)" ] || fail "$1 is not owned by the user that ran the copy"
}
printf 'Be kind.\n' >"$want/soul"
printf 'Alice.\n' >"$want/user"
expect AGENTS.md "$fixtures/AGENTS.md"
expect SOUL.md "$want/soul"
expect notes/USER.md "$want/user"
[ "$(cat "$ws/scratch.md")" = mine ] || fail "an undeclared file was changed"

# Again: identical files are left alone (same inode, no rewrite).
before=$(stat -c %i "$ws/SOUL.md")
"$script"
[ "$(stat -c %i "$ws/SOUL.md")" = "$before" ] || fail "an unchanged document was rewritten"

# The agent (or the user) edits a declared document: the next run restores it, and the
# copy stays writable for the service user.
echo "edited" >>"$ws/SOUL.md"
"$script"
expect SOUL.md "$want/soul"
echo "ok: documents copied as regular 0600 files, idempotent, edits reverted, others kept"
