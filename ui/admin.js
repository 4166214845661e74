// Config (read-only with the Nix option to change, or editable with errors at the key)
// and Logs (live tail with a level filter).
import { h } from "./util.js";

const SECRET = /(token|password|apikey|secret|bottoken|apptoken|usertoken)$/i;

// Leaf key paths of a JSON value, as `a.b.c` (arrays are shown whole).
function flatten(v, prefix = "", out = []) {
  if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.push([prefix, v]);
  }
  return out;
}

export function nixOption(path) {
  const last = path.split(".").pop();
  return SECRET.test(last)
    ? `services.clawdbot.secrets (secrets live in files outside the store; the config points at them with ${path}File)`
    : `services.clawdbot.settings.${path}`;
}

export function configPage({ gw, main }) {
  const body = h("div");
  main.append(h("h1", {}, "Config"), body);
  let state = null;

  function issuesList(issues) {
    return h("ul", { class: "issue", id: "config-issues" }, issues.map((i) => h("li", {}, h("code", {}, i.path || "(root)"), ": ", i.message)));
  }

  function renderNix() {
    const which = h("p", { id: "nix-key-hint", class: "muted" }, "Select a key to see the Nix option that sets it.");
    body.replaceChildren(
      h("div", { class: "banner", id: "nix-banner", style: "border-radius:8px;margin-bottom:1rem" },
        "This gateway runs in Nix mode: its config is read-only here. Change it in your Nix configuration (services.clawdbot.settings) and run `home-manager switch` or `nixos-rebuild switch`."),
      h("p", { class: "muted" }, `Effective config (secrets redacted) from ${state.path}`),
      which,
      h("div", { class: "kv card" }, flatten(state.config || {}).flatMap(([path, v]) => [
        h("div", { class: "path", tabindex: 0, role: "button", "data-path": path,
          onclick: () => { which.replaceChildren("To change ", h("code", {}, path), ": set ", h("code", {}, nixOption(path))); },
          onkeydown: (e) => { if (e.key === "Enter") e.target.click(); } }, path),
        h("div", {}, h("code", {}, JSON.stringify(v))),
      ])),
    );
  }

  function renderEditable() {
    const text = h("textarea", { class: "code", id: "config-text", spellcheck: "false", "aria-label": "Config file" }, state.raw ?? "{\n}\n");
    const save = h("button", { type: "button", id: "config-save" }, "Save and apply");
    const msg = h("div", { id: "config-msg" });
    save.addEventListener("click", async () => {
      save.disabled = true;
      msg.replaceChildren();
      try {
        await gw.rpc("config.set", { raw: text.value, baseHash: state.hash });
        msg.replaceChildren(h("p", { class: "muted" }, "Saved. The gateway reloaded it."));
        await load(false);
      } catch (e) {
        const issues = e.details?.issues;
        msg.replaceChildren(h("p", { class: "error" }, e.message), issues ? issuesList(issues) : null);
      } finally {
        save.disabled = false;
      }
    });
    body.replaceChildren(
      h("p", { class: "muted" }, `${state.path}${state.exists ? "" : " (does not exist yet: built-in defaults)"} · secrets are shown as placeholders and kept when you save`),
      state.valid ? null : issuesList(state.issues || []),
      (state.warnings || []).length ? h("ul", { class: "muted" }, state.warnings.map((w) => h("li", {}, `${w.path}: ${w.message}`))) : null,
      text, h("div", { class: "row", style: "margin-top:.5rem" }, save), msg,
    );
  }

  async function load(render = true) {
    try {
      state = await gw.rpc("config.get");
      if (render || state.nixMode) state.nixMode ? renderNix() : renderEditable();
    } catch (e) {
      body.replaceChildren(h("p", { class: "error" }, e.message));
    }
  }
  load();
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

export function logsPage({ gw, main }) {
  const filter = h("select", { id: "log-level", "aria-label": "Minimum level" }, LEVELS.map((l) => h("option", { value: l, selected: l === "info" }, l)));
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const lines = h("pre", { class: "loglines", id: "log-lines" });
  const note = h("p", { class: "muted" });
  main.append(h("h1", {}, "Logs"),
    h("div", { class: "row" }, h("label", { style: "margin:0" }, "Level ", filter), h("label", { style: "margin:0" }, follow, " follow"), note),
    lines);
  let cursor;
  let stop = false;
  let timer = null;
  const all = [];
  const render = () => {
    const min = LEVELS.indexOf(filter.value);
    const shown = all.filter((l) => LEVELS.indexOf(l.level) >= min).slice(-1000);
    lines.replaceChildren(...shown.map((l) => h("div", { class: "lvl-" + l.level }, l.text)));
    if (follow.checked) lines.scrollTop = lines.scrollHeight;
  };
  const tick = async () => {
    try {
      const r = await gw.rpc("logs.tail", cursor == null ? { limit: 500 } : { cursor, limit: 500 });
      if (r.reset) all.length = 0;
      cursor = r.cursor;
      note.textContent = r.file || "";
      for (const raw of r.lines || []) {
        let level = "info", text = raw;
        try {
          const j = JSON.parse(raw);
          level = String(j.level || "info").toLowerCase();
          text = `${j.time || ""} ${level.toUpperCase()} ${j.subsystem ? j.subsystem + ": " : ""}${j.message ?? raw}`;
        } catch { /* a plain line */ }
        all.push({ level: LEVELS.includes(level) ? level : "info", text });
      }
      if (all.length > 5000) all.splice(0, all.length - 5000);
      render();
    } catch (e) {
      note.textContent = e.message;
    }
    if (!stop) timer = setTimeout(tick, 2000);
  };
  filter.addEventListener("change", render);
  tick();
  return () => { stop = true; clearTimeout(timer); };
}
