#!/usr/bin/env bash
# Runs a documents-copy script (Home Manager's activation step or the NixOS ExecStartPre)
# against a real directory and checks what it leaves there:
#   tests/nix/check-documents.sh SCRIPT WORKSPACE
# The script was generated for WORKSPACE with the documents of tests/nix/*-tests.nix:
# AGENTS.md (tests/nix/fixtures/AGENTS.md), SOUL.md ("Be kind."), notes/USER.md ("Alice."),
# and for the state dir WORKSPACE-state with the skills `weather` (fixtures/skills/weather)
# and `notes` (a package), which it links into WORKSPACE-state/skills.
set -euo pipefail
script=$1 ws=$2
fixtures=$(cd "$(dirname "$0")/fixtures" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
want=$(mktemp -d)
trap 'rm -rf "$want"' EXIT

# Before: an old symlink (as older Nix setups left), a stale copy, an unmanaged file.
# Skills: a link into the store that is no longer declared (a previous generation's), the
# user's own skill (a real directory), and the user's link to a skill outside the store.
skills=$ws-state/skills
mkdir -p "$skills/mine" "$ws"
echo "my skill" >"$skills/mine/SKILL.md"
ln -s /nix/store/00000000000000000000000000000000-old-skill "$skills/old"
ln -s "$fixtures" "$skills/linked-by-me"
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

# Skills: each declared one is a link into the store holding its SKILL.md.
for n in weather notes; do
  [ -L "$skills/$n" ] || fail "skill $n is not linked"
  case "$(readlink "$skills/$n")" in /nix/store/*) ;; *) fail "skill $n does not point into the store" ;; esac
  [ -f "$skills/$n/SKILL.md" ] || fail "skill $n has no SKILL.md"
done
grep -q "name: weather" "$skills/weather/SKILL.md" || fail "weather links to the wrong directory"
grep -q "name: notes" "$skills/notes/SKILL.md" || fail "notes links to the wrong directory"
if [ -e "$skills/old" ] || [ -L "$skills/old" ]; then fail "the undeclared store link was kept"; fi
[ "$(cat "$skills/mine/SKILL.md")" = "my skill" ] || fail "the user's own skill was touched"
[ -L "$skills/linked-by-me" ] || fail "the user's own link (outside the store) was removed"
# A real directory with a declared name is never replaced (the script says so).
rm "$skills/notes"
mkdir "$skills/notes"
echo "hand-made" >"$skills/notes/SKILL.md"
err=$("$script" 2>&1 >/dev/null) || fail "the script failed on a hand-made skill directory"
grep -q "not a link made by Nix" <<<"$err" || fail "no warning for the hand-made directory: $err"
[ "$(cat "$skills/notes/SKILL.md")" = hand-made ] || fail "a hand-made skill directory was replaced"
echo "ok: documents copied as regular 0600 files, idempotent, edits reverted, others kept; skills linked, stale links dropped, the user's own kept"
