#!/usr/bin/env bash
# Regenerates src/config/schema/original.json: the config shape (keys, types, enums) of
# the original clawdbot release our users run, taken from its published npm package
# (installed by ../shared/reference/setup.sh) and compacted. Facts only; no code of the
# original is kept.
#   tools/original-config-schema.sh [ANCHOR_DIR]
set -euo pipefail
anchor="${1:-${ANCHOR_DIR:-/tmp/anchor}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node="$(ls -d "$anchor"/node22/node_modules/node-linux-*/bin | head -1)/node"
pkg="$anchor/pkg"
cat >"$pkg/.dump-config-schema.mjs" <<'JS'
import { z } from "zod";
const mod = await import(process.cwd() + "/node_modules/clawdbot/dist/config/zod-schema.js");
const name = Object.keys(mod).find((k) => /^(Clawdbot|Moltbot)Schema$/.test(k));
process.stdout.write(JSON.stringify(z.toJSONSchema(mod[name], { unrepresentable: "any", io: "input" })));
JS
(cd "$pkg" && "$node" .dump-config-schema.mjs) | python3 "$here/tools/compact_schema.py" >"$here/src/config/schema/original.json"
rm -f "$pkg/.dump-config-schema.mjs"
echo "wrote src/config/schema/original.json ($(wc -c <"$here/src/config/schema/original.json") bytes)"
