// The shell: token handling, connection banner, hash routing between pages.
import { Gateway, tokenStore } from "./gateway.js";
import { h } from "./util.js";
import { chatPage } from "./chat.js";
import { overviewPage, sessionsPage, channelsPage, devicesPage } from "./pages.js";
import { configPage, logsPage } from "./admin.js";

const pages = {
  overview: overviewPage, chat: chatPage, sessions: sessionsPage, channels: channelsPage,
  devices: devicesPage, config: configPage, logs: logsPage,
};

// `#token=…` (from `clawdbot dashboard`) is stored, then removed from the address bar.
const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("token")) {
  tokenStore.set(hash.get("token"));
  history.replaceState(null, "", location.pathname + location.search + "#overview");
}

const base = location.pathname.replace(/[^/]*$/, "");
const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + base;
const gw = new Gateway(wsUrl);
window.clawdbot = gw; // for debugging from the console

const $ = (id) => document.getElementById(id);
const main = $("main"), banner = $("banner"), pill = $("conn");
let cleanup = null;
let current = null;

function showBanner(text, kind = "") {
  banner.hidden = !text;
  banner.className = "banner " + kind;
  banner.textContent = text || "";
}

function route() {
  const name = (location.hash.slice(1).split("?")[0] || "overview").toLowerCase();
  const page = pages[name] ? name : "overview";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#" + page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (cleanup) cleanup();
  cleanup = null;
  current = page;
  main.replaceChildren();
  if (gw.state !== "connected") {
    main.append(h("p", { class: "muted" }, "Waiting for the gateway…"));
    return;
  }
  document.title = `Clawdbot · ${page[0].toUpperCase()}${page.slice(1)}`;
  try {
    cleanup = pages[page]({ gw, main, hello: gw.hello, showBanner }) || null;
  } catch (e) {
    main.append(h("p", { class: "error" }, String(e)));
  }
}

function openTokenDialog(message) {
  const dlg = $("token-dialog");
  $("token-input").value = tokenStore.get();
  $("token-error").hidden = !message;
  $("token-error").textContent = message || "";
  if (!dlg.open) dlg.showModal();
  $("token-input").focus();
}

$("token-btn").addEventListener("click", () => openTokenDialog());
$("token-form").addEventListener("submit", (e) => {
  const t = $("token-input").value.trim();
  if (!t) { e.preventDefault(); return; }
  tokenStore.set(t);
  gw.restart();
});
$("token-clear").addEventListener("click", () => {
  tokenStore.clear();
  $("token-input").value = "";
  $("token-dialog").close();
  gw.restart();
});
$("token-cancel").addEventListener("click", () => $("token-dialog").close());

gw.addEventListener("state", (e) => {
  const { state, reason, delay, hello } = e.detail;
  pill.className = "pill " + ({ connected: "ok", unauthorized: "bad" }[state] || "warn");
  pill.textContent = state === "connected" ? `connected · v${hello?.server?.version || "?"}` : state;
  if (state === "connected") {
    showBanner("");
    if ($("token-dialog").open) $("token-dialog").close();
    route();
  } else if (state === "unauthorized") {
    const pairing = /pairing required/i.test(reason || "");
    const secure = /secure context/i.test(reason || "");
    showBanner(
      pairing ? "This browser must be approved first: run `clawdbot devices list` and `clawdbot devices approve <requestId>` on the gateway host, then reload."
        : secure ? "The Control UI needs a secure context: open it via http://127.0.0.1 / localhost or HTTPS (or set gateway.controlUi.allowInsecureAuth)."
        : `Not connected: ${reason}. Check the gateway token.`,
      "bad");
    if (!pairing && !secure) openTokenDialog(reason);
    route();
  } else if (state === "restarting") {
    showBanner(`The gateway is restarting; reconnecting in ${Math.round(delay / 1000)}s…`, "info");
  } else if (state === "disconnected") {
    showBanner(`Disconnected from the gateway; reconnecting in ${Math.round(delay / 1000)}s…`);
  }
});

window.addEventListener("hashchange", route);
if (!tokenStore.get()) openTokenDialog();
gw.start();
