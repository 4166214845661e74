#!/usr/bin/env python3
"""Formats the option declarations of both modules (JSON from tests/nix/options-doc.nix on
stdin) as docs/nix-options.md. Run through tests/nix/options-doc.sh."""
import json
import sys
import textwrap

INSTANCE = "services.clawdbot.instances.<name>."
MODULES = [
    ("nixos", "NixOS", "nixosModules.default", "modules/nixos.nix"),
    ("homeManager", "Home Manager", "homeManagerModules.default", "modules/home-manager.nix"),
]


def value(v, inline=True):
    """A default or example: literal Nix code, or Markdown prose."""
    if v is None:
        return ""
    if "markdown" in v:
        return v["markdown"]
    code = v["code"].strip()
    if inline and "\n" not in code:
        return f"`{code}`" if "`" not in code else f"`` {code} ``"
    return "\n\n```nix\n" + code + "\n```"


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def anchor(title):
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")


def section(key, title, output, path, options):
    out = [f"## {title} (`{output}`)", ""]
    out.append(f"Declared in [{path}](../{path}).")
    out.append("")
    top = [o for o in options if not o["name"].startswith(INSTANCE)]
    inst = [o for o in options if o["name"].startswith(INSTANCE)]
    for o in top:
        out.append(f"### `{o['name']}`")
        out.append("")
        out.append(textwrap.dedent(o["description"]).strip())
        out.append("")
        out.append(f"- Type: {o['type']}")
        if "default" in o:
            out.append(f"- Default: {value(o['default'])}")
        if "example" in o:
            ex = value(o["example"])
            out.append(f"- Example: {ex}" if not ex.startswith("\n") else "- Example:" + textwrap.indent(ex, "  "))
        out.append("")
    if inst:
        out.append(f"### `{INSTANCE}*`")
        out.append("")
        out.append(
            "Every instance takes the options above, with the same meaning; these are "
            "their types and defaults (`‹name›` is the instance's name)."
        )
        out.append("")
        out.append("| option | type | default |")
        out.append("| --- | --- | --- |")
        for o in inst:
            short = o["name"][len("services.clawdbot."):]
            out.append(f"| `{short}` | {cell(o['type'])} | {cell(value(o.get('default')))} |")
        out.append("")
    return out


def main():
    data = json.load(sys.stdin)
    out = [
        "# Nix options reference",
        "",
        "<!-- Generated from the modules' option declarations by `bash tests/nix/options-doc.sh > docs/nix-options.md`; do not edit by hand (tests/nix/run.sh checks it is current). -->",
        "",
        "Both modules configure `services.clawdbot`: one gateway at the top level, more under",
        "`services.clawdbot.instances.<name>`. See the README's Nix section for a walkthrough.",
        "",
    ]
    for key, title, output, _ in MODULES:
        out.append(f"- [{title}](#{anchor(f'{title} ({output})')})")
    out.append("")
    for key, title, output, path in MODULES:
        out += section(key, title, output, path, data[key])
    sys.stdout.write("\n".join(out).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
