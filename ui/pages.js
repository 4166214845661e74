// Overview, Sessions, Channels and Devices: read with RPCs, act with buttons.
import { h, card, table, ago, duration } from "./util.js";

// Runs `load` now and on every `every` ms while the page is shown; returns the cleanup.
function live(load, every) {
  let stop = false;
  const tick = async () => {
    if (stop) return;
    await load();
    if (every && !stop) timer = setTimeout(tick, every);
  };
  let timer = null;
  tick();
  return () => { stop = true; clearTimeout(timer); };
}

function fail(el, e) {
  el.replaceChildren(h("p", { class: "error" }, e.message || String(e)));
}

// Runs an action from a button; shows its error next to it.
async function act(btn, fn, after) {
  btn.disabled = true;
  try {
    await fn();
    if (after) await after();
  } catch (e) {
    btn.after(h("span", { class: "error" }, " " + e.message));
  } finally {
    btn.disabled = false;
  }
}

export function overviewPage({ gw, main }) {
  const body = h("div");
  main.append(h("h1", {}, "Overview"), body);
  return live(async () => {
    try {
      const [status, channels, models] = await Promise.all([
        gw.rpc("status"), gw.rpc("channels.status"), gw.rpc("models.list").catch(() => ({ models: [] })),
      ]);
      const g = status.gateway || {};
      const c = status.connections || {};
      const t = status.authThrottle || {};
      const primary = status.sessions?.defaults?.model || models.models?.[0]?.id || "–";
      const errors = [];
      if (g.configReload?.lastError) errors.push(["config reload", g.configReload.lastError]);
      for (const [ch, accts] of Object.entries(channels.channelAccounts || {})) {
        for (const a of accts) if (a.lastError) errors.push([`${ch}/${a.accountId}`, a.lastError]);
      }
      body.replaceChildren(
        h("div", { class: "grid" },
          card("Version", g.version || "?"),
          card("Uptime", duration(g.uptimeMs || 0)),
          card("Listening", `${g.host || "?"}:${g.port || "?"} (${g.bind || "?"})`),
          card("Nix mode", g.nixMode ? "on · config managed by Nix" : "off"),
          card("Model", primary),
          card("Auth", g.auth?.mode || "?"),
          card("Connections", `${c.authenticated ?? "?"} clients · ${c.preAuth ?? 0} connecting`),
          card("Auth throttle", t.lockedOutCount ? `${t.lockedOutCount} address(es) locked out` : "none locked out")),
        ...(t.lockedOut?.length ? [h("h2", {}, "Locked out (failed authentication)"),
          table(["Address", "Failures", "Retry in"], t.lockedOut.map((l) => [l.address, String(l.failures), duration(l.retryInMs)]))] : []),
        h("h2", {}, "Channels"),
        table(["Channel", "Account", "State", "Bot", "Last message"],
          Object.entries(channels.channelAccounts || {}).flatMap(([ch, accts]) => accts.map((a) => [
            channels.channelLabels?.[ch] || ch, a.accountId,
            h("span", { class: "pill " + (a.connected ? "ok" : a.running ? "warn" : "bad") }, a.connected ? "connected" : a.running ? "starting" : "stopped"),
            a.bot?.username ? "@" + a.bot.username : "–",
            ago(a.lastInboundAt),
          ])), "No channels configured (channels.telegram or channels.discord in the config)."),
        h("h2", {}, "Last errors"),
        errors.length ? table(["Where", "Error"], errors) : h("p", { class: "muted" }, "None."),
        h("p", { class: "muted" }, `Config: ${g.configPath || "?"} · state: ${g.stateDir || "?"}`),
      );
    } catch (e) { fail(body, e); }
  }, 5000);
}

export function sessionsPage({ gw, main }) {
  const body = h("div");
  const preview = h("div");
  main.append(h("h1", {}, "Sessions"), body, preview);
  const load = async () => {
    try {
      const res = await gw.rpc("sessions.list", { includeGlobal: true });
      body.replaceChildren(table(["Session", ["Kind", { class: "opt" }], "Updated", ["Tokens", { class: "opt" }], ""],
        (res.sessions || []).map((s) => {
          const show = h("button", { class: "ghost", type: "button", onclick: async () => {
            try {
              const r = await gw.rpc("sessions.preview", { keys: [s.key], limit: 8 });
              const items = r.previews?.[0]?.items || [];
              preview.replaceChildren(h("h2", {}, `Preview: ${s.key}`),
                items.length ? h("div", {}, items.map((i) => h("div", { class: "msg " + (i.role === "user" ? "user" : "assistant") }, h("div", { class: "meta" }, i.role), i.text)))
                  : h("p", { class: "muted" }, "Empty."));
            } catch (e) { fail(preview, e); }
          } }, "Preview");
          const reset = h("button", { class: "ghost", type: "button", onclick: () => act(reset, () => gw.rpc("sessions.reset", { key: s.key }), load) }, "Reset");
          const del = h("button", { class: "danger", type: "button", onclick: () => {
            if (confirm(`Delete ${s.key}? Its transcript is archived, not erased.`)) act(del, () => gw.rpc("sessions.delete", { key: s.key }), load);
          } }, "Delete");
          return [h("span", {}, s.label ? `${s.label} · ` : "", h("code", {}, s.key)), h("td", { class: "opt" }, s.kind), ago(s.updatedAt), h("td", { class: "opt" }, String(s.totalTokens ?? 0)), h("div", { class: "row" }, show, reset, del)];
        }), "No sessions yet: send a message in Chat or to your bot."));
    } catch (e) { fail(body, e); }
  };
  return live(load, 0);
}

// Linking WhatsApp (web.login.start/wait): the QR as an image, then wait for the scan.
// Outside the table that reloads every few seconds, so the QR stays up while scanned.
function whatsappLink(gw, reload) {
  const out = h("div", { class: "wa-out" });
  const run = async (btn, force) => {
    btn.disabled = true;
    try {
      const r = await gw.rpc("web.login.start", { force, timeoutMs: 30000 });
      out.replaceChildren(h("p", {}, r.message || ""));
      if (!r.qrDataUrl) return;
      out.append(h("img", { src: r.qrDataUrl, alt: "WhatsApp QR code", id: "wa-qr", width: "264", height: "264" }));
      for (;;) {
        const w = await gw.rpc("web.login.wait", { timeoutMs: 60000 });
        if (w.connected || !/^Still waiting/.test(w.message || "")) {
          out.replaceChildren(h("p", { class: w.connected ? "ok" : "err" }, w.message || ""));
          reload();
          return;
        }
      }
    } catch (e) {
      out.replaceChildren(h("p", { class: "err" }, String(e.message || e)));
    } finally { btn.disabled = false; }
  };
  const link = h("button", { type: "button", id: "wa-link", onclick: () => run(link, false) }, "Link WhatsApp");
  const relink = h("button", { type: "button", onclick: () => run(relink, true) }, "Relink (new QR)");
  return h("div", {},
    h("h2", {}, "WhatsApp"),
    h("p", { class: "muted" }, "Links this gateway as a device of your phone (an unofficial client: WhatsApp may restrict accounts that automate). Scan the code with WhatsApp > Settings > Linked devices > Link a device."),
    h("div", { class: "row" }, link, relink), out);
}

export function channelsPage({ gw, main }) {
  const body = h("div");
  main.append(h("h1", {}, "Channels"), body);
  let wa = null;
  const load = async () => {
    try {
      const st = await gw.rpc("channels.status");
      // Every configured channel this gateway runs pairs unknown senders; others refuse.
      const order = st.channelOrder || Object.keys(st.channelAccounts || {});
      const pairings = (await Promise.all(order.map((ch) => gw.rpc("pairing.list", { channel: ch })
        .then((p) => [ch, p]).catch(() => null)))).filter(Boolean);
      body.replaceChildren(
        table(["Channel", "Account", "Running", "Connected", "Bot", "Last error"],
          Object.entries(st.channelAccounts || {}).flatMap(([ch, accts]) => accts.map((a) => [
            st.channelLabels?.[ch] || ch, a.accountId, a.running ? "yes" : "no", a.connected ? "yes" : "no",
            a.bot?.username ? "@" + a.bot.username : (a.bot?.e164 || "–"), a.lastError || "–",
          ])), "No channels configured."),
        ...pairings.flatMap(([ch, pairing]) => [
          h("h2", {}, `${st.channelLabels?.[ch] || ch} pairing requests`),
          table(["Code", "Sender", "Since", ""], (pairing.requests || []).map((r) => {
            const btn = h("button", { type: "button", "data-code": r.code, onclick: () => act(btn, () => gw.rpc("pairing.approve", { channel: ch, code: r.code }), load) }, "Approve");
            return [h("code", {}, r.code), `${r.id}${r.meta?.username ? " @" + r.meta.username : ""}`, ago(Date.parse(r.createdAt)), btn];
          }), "No one is waiting. Unknown senders get a code from the bot; approve it here."),
          h("p", { class: "muted" }, `Approved senders: ${(pairing.allowFrom || []).join(", ") || "none"}`),
        ]),
      );
      if (!wa) { wa = whatsappLink(gw, load); main.append(wa); }
    } catch (e) { fail(body, e); }
  };
  return live(load, 4000);
}

export function devicesPage({ gw, main }) {
  const body = h("div");
  main.append(h("h1", {}, "Devices"), body);
  const load = async () => {
    try {
      const res = await gw.rpc("device.pair.list");
      body.replaceChildren(
        h("h2", {}, "Waiting for approval"),
        table(["Device", "Client", "From", ""], (res.pending || []).map((p) => {
          const ok = h("button", { type: "button", onclick: () => act(ok, () => gw.rpc("device.pair.approve", { requestId: p.requestId }), load) }, "Approve");
          const no = h("button", { class: "ghost", type: "button", onclick: () => act(no, () => gw.rpc("device.pair.reject", { requestId: p.requestId }), load) }, "Reject");
          return [h("code", {}, String(p.deviceId).slice(0, 12)), `${p.clientId || "?"} ${p.platform || ""}`, p.remoteIp || "?", h("div", { class: "row" }, ok, no)];
        }), "No pending requests."),
        h("h2", {}, "Paired"),
        table(["Device", "Client", "Roles", "Approved", ""], (res.paired || []).map((d) => {
          const rm = h("button", { class: "danger", type: "button", onclick: () => {
            if (confirm("Revoke this device? It will have to pair again.")) act(rm, () => gw.rpc("device.pair.remove", { deviceId: d.deviceId }), load);
          } }, "Revoke");
          return [h("code", {}, String(d.deviceId).slice(0, 12)), `${d.clientId || "?"} ${d.platform || ""}`, (d.roles || []).join(", "), ago(d.approvedAtMs), rm];
        }), "No paired devices."),
      );
    } catch (e) { fail(body, e); }
  };
  return live(load, 5000);
}
