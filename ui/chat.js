// Chat with the default agent over `chat.send`: streamed `chat` deltas grow one bubble,
// `final` reloads the transcript; tool calls and exec approvals show inline.
import { h, markdown, textOf } from "./util.js";
import { uuid } from "./gateway.js";

export function chatPage({ gw, main }) {
  const sessionKey = new URLSearchParams(location.hash.split("?")[1] || "").get("session") || "main";
  const log = h("div", { class: "log", id: "chat-log", "aria-live": "polite" });
  const input = h("textarea", { id: "chat-input", placeholder: "Message your assistant… (Enter to send, Shift+Enter for a new line)", "aria-label": "Message" });
  const send = h("button", { type: "submit", id: "chat-send" }, "Send");
  const stop = h("button", { type: "button", class: "ghost", id: "chat-stop", disabled: true }, "Stop");
  const fresh = h("button", { type: "button", class: "ghost", id: "chat-new" }, "New session");
  const status = h("span", { class: "muted", id: "chat-status" });
  const form = h("form", { class: "composer" }, input, send, stop);
  main.append(h("div", { class: "chat" },
    h("div", { class: "chat-head" }, h("h1", { style: "margin:0" }, "Chat"), h("code", {}, sessionKey), fresh, status),
    log, form));

  let runId = null;
  let bubble = null;
  const tools = new Map();
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const scroll = (force) => { if (force || atBottom()) log.scrollTop = log.scrollHeight; };

  function bubbleFor(role, text, meta) {
    const b = h("div", { class: "msg " + role }, meta ? h("div", { class: "meta" }, meta) : null);
    b.append(role === "user" ? h("div", { style: "white-space:pre-wrap" }, text) : markdown(text));
    return b;
  }

  async function loadHistory() {
    try {
      const res = await gw.rpc("chat.history", { sessionKey, limit: 200 });
      const items = [];
      for (const m of res.messages || []) {
        if (m.role === "user") items.push(bubbleFor("user", textOf(m)));
        else if (m.role === "assistant") {
          const text = textOf(m);
          if (text) items.push(bubbleFor("assistant", text, m.model ? `${m.provider || ""}/${m.model}` : null));
          for (const c of m.content || []) {
            if (c.type === "toolCall") items.push(h("div", { class: "msg tool" }, `🔧 ${c.name} ${JSON.stringify(c.arguments)}`));
          }
        } else if (m.role === "toolResult") {
          items.push(h("div", { class: "msg tool" }, h("div", { class: "meta" }, `${m.toolName} ${m.isError ? "failed" : "output"}`), h("pre", {}, textOf(m).slice(0, 2000))));
        }
      }
      if (!items.length) items.push(h("p", { class: "muted", id: "chat-empty" }, "No messages yet. Say hello."));
      log.replaceChildren(...items);
      scroll(true);
    } catch (e) {
      log.replaceChildren(h("p", { class: "error" }, e.message));
    }
  }

  function setRunning(id) {
    runId = id;
    stop.disabled = !id;
    send.disabled = !!id;
    status.textContent = id ? "thinking…" : "";
  }

  function onEvent(e) {
    const f = e.detail;
    const p = f.payload || {};
    if (f.event === "chat" && p.sessionKey === sessionKey) {
      if (p.state === "delta") {
        if (!bubble) {
          document.getElementById("chat-empty")?.remove();
          bubble = h("div", { class: "msg assistant streaming", id: "chat-streaming" });
          log.append(bubble);
        }
        bubble.replaceChildren(markdown(textOf(p.message)));
        scroll();
      } else {
        if (p.state === "error") log.append(h("div", { class: "msg assistant error" }, p.errorMessage || "The run failed."));
        if (p.state === "aborted") log.append(h("p", { class: "muted" }, "Stopped."));
        bubble = null;
        tools.clear();
        if (p.runId === runId) setRunning(null);
        if (p.state === "final") loadHistory();
        scroll();
      }
    } else if (f.event === "agent" && p.runId === runId && p.stream === "tool") {
      const d = p.data || {};
      let t = tools.get(d.toolCallId);
      if (!t) {
        t = h("div", { class: "msg tool" });
        tools.set(d.toolCallId, t);
        log.append(t);
      }
      t.replaceChildren(h("div", { class: "meta" }, `🔧 ${d.name} · ${d.phase === "result" ? (d.isError ? "failed" : "done") : "running"}`),
        h("pre", {}, d.phase === "result" ? String(d.result ?? "").slice(0, 2000) : JSON.stringify(d.args ?? {})));
      scroll();
    } else if (f.event === "exec.approval.requested") {
      const id = p.id;
      const decide = (decision) => async () => {
        card.querySelectorAll("button").forEach((b) => (b.disabled = true));
        try { await gw.rpc("exec.approval.resolve", { id, decision }); card.querySelector(".meta").textContent = `exec ${decision}`; }
        catch (err) { card.append(h("span", { class: "error" }, " " + err.message)); }
      };
      const card = h("div", { class: "msg approval", "data-approval": id },
        h("div", { class: "meta" }, "The agent wants to run a command"),
        h("pre", {}, p.request?.command || "?"),
        ...runsAs(p.request || {}),
        h("div", { class: "row" },
          h("button", { type: "button", class: "approve", onclick: decide("allow-once") }, "Approve once"),
          h("button", { type: "button", class: "ghost", onclick: decide("allow-always") }, "Always allow this exact command"),
          h("button", { type: "button", class: "danger", onclick: decide("deny") }, "Deny")));
      log.append(card);
      scroll(true);
    } else if (f.event === "exec.approval.resolved") {
      const card = log.querySelector(`[data-approval="${CSS.escape(p.id || "")}"]`);
      if (card) { card.querySelectorAll("button").forEach((b) => (b.disabled = true)); card.querySelector(".meta").textContent = `exec ${p.decision}`; }
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (!message || runId) return;
    const id = uuid();
    setRunning(id);
    document.getElementById("chat-empty")?.remove();
    log.append(bubbleFor("user", message));
    scroll(true);
    input.value = "";
    try {
      const ack = await gw.rpc("chat.send", { sessionKey, message, idempotencyKey: id });
      if (ack.status !== "started" && ack.status !== "in_flight") setRunning(null);
    } catch (err) {
      setRunning(null);
      log.append(h("div", { class: "msg assistant error" }, err.message));
    }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  stop.addEventListener("click", () => gw.rpc("chat.abort", { sessionKey, runId }).catch(() => {}));
  fresh.addEventListener("click", async () => {
    if (!confirm("Start a new session? The old transcript is kept.")) return;
    try { await gw.rpc("sessions.reset", { key: sessionKey }); } catch (err) { status.textContent = err.message; }
    loadHistory();
  });

  gw.addEventListener("gw-event", onEvent);
  loadHistory();
  input.focus();
  return () => gw.removeEventListener("gw-event", onEvent);
}

/// What an approval will execute: the resolved program and argv (each argument quoted so
/// spaces and metacharacters are visible), and why a shell is involved.
function runsAs(req) {
  if (!Array.isArray(req.argv)) return [];
  const q = (a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, "'\\''")}'`);
  const out = [h("div", { class: "meta" }, `Runs exactly (in ${req.cwd || "?"}):`), h("pre", { class: "argv" }, req.argv.map(q).join(" "))];
  if (req.shell && req.reason) out.push(h("div", { class: "meta error" }, `Through /bin/sh: the command contains ${req.reason}`));
  return out;
}
