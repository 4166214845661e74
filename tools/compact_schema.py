"""Compacts a JSON Schema (stdin → stdout): string-const unions become `enum`, JavaScript's
MAX_SAFE_INTEGER bounds and annotations go, and the rest is kept for the validator."""
import json
import sys

DROP = {"$schema", "default", "description", "title", "propertyNames", "examples"}
MAPS = {"properties", "patternProperties", "$defs", "definitions"}


def compact(node):
    """`node` is a schema (a dict); maps of named sub-schemas are walked by name."""
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in DROP:
            continue
        if k in MAPS:
            out[k] = {name: compact(sub) for name, sub in v.items()}
        elif isinstance(v, list) and k in ("anyOf", "oneOf", "allOf", "prefixItems"):
            out[k] = [compact(b) for b in v]
        elif isinstance(v, dict):
            out[k] = compact(v)
        else:
            out[k] = v
    if out.get("maximum") == 9007199254740991:
        del out["maximum"]
    if out.get("minimum") == -9007199254740991:
        del out["minimum"]
    if "const" in out and set(out) <= {"type", "const"}:
        out = {"enum": [out["const"]]}
    branches = out.get("anyOf")
    if branches and all(isinstance(b, dict) and set(b) == {"enum"} for b in branches):
        del out["anyOf"]
        out["enum"] = [v for b in branches for v in b["enum"]]
    return out


json.dump(compact(json.load(sys.stdin)), sys.stdout, separators=(",", ":"))
sys.stdout.write("\n")
