"""Offline lint of flake.lock: version, graph, follows paths, complete github pins, and
`original` matching flake.nix's URLs (a mismatch makes Nix re-lock over the network)."""
import json
import re
import sys

lock_path, flake_path = sys.argv[1], sys.argv[2]
lock = json.load(open(lock_path))
flake = open(flake_path).read()
errors = []

if lock.get("version") != 7:
    errors.append(f"version {lock.get('version')} (Nix 2.8 writes 7)")
nodes = lock["nodes"]
root = nodes.get(lock.get("root", "root"))
if root is None:
    errors.append("no root node")
    root = {"inputs": {}}


def resolve(ref):
    if isinstance(ref, str):
        return ref if ref in nodes else None
    node = "root"
    for name in ref:
        target = nodes[node].get("inputs", {}).get(name)
        if target is None:
            return None
        node = resolve(target)
        if node is None:
            return None
    return node


for name, node in nodes.items():
    for inp, ref in node.get("inputs", {}).items():
        if resolve(ref) is None:
            errors.append(f"{name}.inputs.{inp} -> {ref} does not resolve")
    locked = node.get("locked")
    if locked and locked.get("type") == "github":
        for key, pat in [("rev", r"^[0-9a-f]{40}$"), ("narHash", r"^sha256-[A-Za-z0-9+/]{43}=$")]:
            if not re.match(pat, str(locked.get(key, ""))):
                errors.append(f"{name}: bad {key} {locked.get(key)!r}")
        if not isinstance(locked.get("lastModified"), int):
            errors.append(f"{name}: lastModified must be an integer")

# Each github input of flake.nix must match its node's `original` exactly.
pattern = r'([\w-]+)(?:\.url\s*=|\s*=\s*\{\s*url\s*=)\s*"github:([^"]+)"'
for inp, url in re.findall(pattern, flake):
    parts = url.split("/")
    want = {"owner": parts[0], "repo": parts[1], "type": "github"}
    if len(parts) > 2:
        want["ref"] = parts[2]
    name = root["inputs"].get(inp)
    got = nodes.get(name, {}).get("original") if isinstance(name, str) else None
    if got != want:
        errors.append(f"input {inp}: flake.nix says {want}, lock original is {got}")
    if name is None:
        errors.append(f"input {inp} is not in the lock")

for e in errors:
    print(f"flake.lock: {e}")
sys.exit(1 if errors else 0)
