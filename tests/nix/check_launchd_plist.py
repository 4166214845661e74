#!/usr/bin/env python3
"""Checks launchd agent plists strictly, without macOS.

plistlib rejects malformed XML plists (Debian's plistutil exits 0 even then). Each file
must then hold a dict with the keys launchd needs, every known key with the type
launchd.plist(5) gives it, absolute paths where launchd does not expand `~`, and the
shape our gateway agent must have.

    check_launchd_plist.py FILE.plist...
"""
import plistlib
import sys

# launchd.plist(5) keys we (or Home Manager) may write, and their types.
KEY_TYPES = {
    "Label": str,
    "Program": str,
    "ProgramArguments": list,
    "EnvironmentVariables": dict,
    "KeepAlive": (bool, dict),
    "RunAtLoad": bool,
    "ProcessType": str,
    "WorkingDirectory": str,
    "StandardInPath": str,
    "StandardOutPath": str,
    "StandardErrorPath": str,
    "ThrottleInterval": int,
    "ExitTimeOut": int,
    "Umask": int,
    "Nice": int,
    "Disabled": bool,
    "UserName": str,
    "GroupName": str,
    "AbandonProcessGroup": bool,
    "LimitLoadToSessionType": (str, list),
}
PROCESS_TYPES = {"Background", "Standard", "Adaptive", "Interactive"}
GATEWAY_ENV = ("CLAWDBOT_NIX_MODE", "CLAWDBOT_STATE_DIR", "CLAWDBOT_CONFIG_PATH", "PATH")


def problems(path):
    try:
        with open(path, "rb") as f:
            plist = plistlib.load(f)
    except Exception as e:  # any parse error is a finding
        return [f"not a valid plist: {e}"]
    if not isinstance(plist, dict):
        return ["the top level is not a dict"]
    out = []
    for key, want in KEY_TYPES.items():
        if key in plist and not isinstance(plist[key], want):
            out.append(f"{key}: {type(plist[key]).__name__} where launchd wants {want}")
    # bool is an int subclass in Python: reject it where an integer is wanted.
    for key in ("ThrottleInterval", "ExitTimeOut", "Umask", "Nice"):
        if isinstance(plist.get(key), bool):
            out.append(f"{key}: a boolean where launchd wants an integer")
    if not plist.get("Label"):
        out.append("no Label")
    args = plist.get("ProgramArguments") or []
    if not args and not plist.get("Program"):
        out.append("neither Program nor ProgramArguments")
    if not all(isinstance(a, str) for a in args):
        out.append("ProgramArguments holds non-strings")
    first = plist.get("Program") or (args[0] if args else "")
    if isinstance(first, str) and first and not first.startswith("/"):
        out.append(f"the program {first!r} is not an absolute path")
    env = plist.get("EnvironmentVariables", {})
    if isinstance(env, dict) and not all(isinstance(v, str) for v in env.values()):
        out.append("EnvironmentVariables holds non-strings")
    if plist.get("ProcessType", "Standard") not in PROCESS_TYPES:
        out.append(f"unknown ProcessType {plist['ProcessType']!r}")
    for key in ("WorkingDirectory", "StandardInPath", "StandardOutPath", "StandardErrorPath"):
        value = plist.get(key)
        if isinstance(value, str) and not value.startswith("/"):
            out.append(f"{key} {value!r} is not absolute (launchd does not expand ~)")
    # Our gateway agents: always on, in Nix mode, logs under ~/Library/Logs/clawdbot.
    if "clawdbot-gateway" in str(plist.get("Label", "")):
        if plist.get("RunAtLoad") is not True or plist.get("KeepAlive") is not True:
            out.append("the gateway agent must have RunAtLoad and KeepAlive true")
        missing = [k for k in GATEWAY_ENV if k not in env]
        if missing:
            out.append(f"EnvironmentVariables lacks {', '.join(missing)}")
        elif env["CLAWDBOT_NIX_MODE"] != "1" or not env["CLAWDBOT_CONFIG_PATH"].startswith("/nix/store/"):
            out.append("not in Nix mode on a store config")
        if "/Library/Logs/clawdbot/" not in str(plist.get("StandardOutPath", "")):
            out.append("StandardOutPath is not under ~/Library/Logs/clawdbot/")
        if not any("/bin/clawdbot gateway" in a or a.endswith("/bin/clawdbot") for a in args):
            out.append("ProgramArguments does not run `clawdbot gateway`")
    return out


def main(paths):
    if not paths:
        print("usage: check_launchd_plist.py FILE.plist...")
        return 2
    bad = 0
    for path in paths:
        found = problems(path)
        print(("FAIL " if found else "ok   ") + path)
        for p in found:
            print(f"     {p}")
        bad += bool(found)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
