#!/usr/bin/env bash
# Runs the `cases` of one Nix test file, each in its own evaluation:
#   tests/nix/run-cases.sh FILE [--arg NAME EXPR | --argstr NAME STR ...]
# A case is { actual; expected; } (compared with ==) or { actual; expectedError = "text"; }
# (evaluating `actual` must fail with a message containing the text).
# The --arg values reach the test file's function (Nix auto-calls the expression).
# Prints ok/FAIL per case and a closing "N passed, N failed" line.
set -uo pipefail
file=$(realpath "$1")
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
err=$tmp/err
n=0
# run BODY [args]: evaluates BODY with `cases` in scope. Nix 2.8 auto-calls a *file*'s
# function with the --arg values (not an -E expression), hence one small file per query.
# --read-write-mode lets a case read a generated file back (builtins.readFile of a
# derivation's output builds it; the stand-in derivations build offline).
run() {
  n=$((n + 1))
  printf '{ ... }@args: let cases = (import %s args).cases; in %s\n' "$file" "$1" >"$tmp/q$n.nix"
  shift
  nix-instantiate --eval --strict --json --read-write-mode --option substituters '' --arg __runner true "$@" "$tmp/q$n.nix"
}
mapfile -t cases < <(run 'builtins.attrNames cases' "$@" 2>"$err" | python3 -c 'import json,sys; [print(n) for n in json.load(sys.stdin)]' 2>/dev/null)
if [ ${#cases[@]} -eq 0 ]; then
  echo "FAIL $file: no cases (evaluation error?)"
  sed 's/^/  /' "$err" | tail -15
  echo "0 passed, 1 failed"
  exit 1
fi
pass=0 fail=0
for c in "${cases[@]}"; do
  if [ "$(run "cases.\"$c\" ? expectedError" "$@" 2>/dev/null)" = "true" ]; then
    want=$(run "cases.\"$c\".expectedError" "$@" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin))')
    if out=$(run "cases.\"$c\".actual" "$@" 2>&1); then
      echo "FAIL $c: expected an error containing: $want"
      echo "  got value: $out"
      fail=$((fail + 1))
    elif grep -qF -- "$want" <<<"$out"; then
      echo "ok   $c"
      pass=$((pass + 1))
    else
      echo "FAIL $c: error did not contain: $want"
      sed 's/^/  /' <<<"$out" | tail -8
      fail=$((fail + 1))
    fi
  elif res=$(run "let c = cases.\"$c\"; in { eq = c.actual == c.expected; inherit (c) actual expected; }" "$@" 2>"$err") &&
    python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["eq"] else 1)' "$res" 2>/dev/null; then
    echo "ok   $c"
    pass=$((pass + 1))
  else
    echo "FAIL $c"
    # stderr (errors, traces, build logs) apart from the JSON value, which may be empty.
    grep -v '^building ' "$err" | sed 's/^/  /' | tail -8
    [ -n "$res" ] && echo "  $res"
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
