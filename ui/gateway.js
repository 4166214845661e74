// The Control UI's WebSocket client: protocol v3 as every other client speaks it.
// Challenge → connect (token + device identity in secure contexts) → hello-ok; then
// requests (`rpc`) and events. Reconnects with backoff, except after an auth failure.

const CLIENT_ID = "clawdbot-control-ui";
const SCOPES = ["operator.admin", "operator.approvals", "operator.pairing"];
const TOKEN_KEY = "clawdbot.gateway.token";
const DEVICE_KEY = "clawdbot.device.v1";

export const tokenStore = {
  get: () => localStorage.getItem(TOKEN_KEY) || "",
  set: (t) => localStorage.setItem(TOKEN_KEY, t),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

const b64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const hex = (bytes) => [...new Uint8Array(bytes)].map((x) => x.toString(16).padStart(2, "0")).join("");

// An Ed25519 key kept in this browser (secure contexts only, as the original does).
async function deviceIdentity() {
  if (!window.isSecureContext || !crypto.subtle) return null;
  try {
    const saved = JSON.parse(localStorage.getItem(DEVICE_KEY) || "null");
    if (saved) {
      const privateKey = await crypto.subtle.importKey("jwk", saved.jwk, { name: "Ed25519" }, false, ["sign"]);
      return { id: saved.id, publicKey: saved.publicKey, privateKey };
    }
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const id = hex(await crypto.subtle.digest("SHA-256", raw));
    const publicKey = b64url(raw);
    localStorage.setItem(DEVICE_KEY, JSON.stringify({ id, publicKey, jwk }));
    return { id, publicKey, privateKey: pair.privateKey };
  } catch (e) {
    console.warn("no device identity:", e);
    return null;
  }
}

export class Gateway extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.pending = new Map();
    this.hello = null;
    this.state = "connecting";
    this.backoff = 1000;
    this.stopped = false;
    this.seq = 0;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  restart() {
    this.backoff = 1000;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "reconnect");
    else this.open();
  }

  setState(state, detail = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, ...detail } }));
  }

  open() {
    clearTimeout(this.timer);
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let authFailed = null;
    ws.onmessage = async (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch { return; }
      if (f.type === "event" && f.event === "connect.challenge") {
        try {
          const res = await this.connect(ws, f.payload.nonce);
          if (!res.ok) {
            authFailed = res.error?.message || "connect refused";
            return;
          }
          this.hello = res.payload;
          this.backoff = 1000;
          this.setState("connected", { hello: res.payload });
        } catch (e) {
          authFailed = String(e);
        }
        return;
      }
      if (f.type === "res") {
        const p = this.pending.get(f.id);
        if (!p) return;
        if (p.expectFinal && f.ok && f.payload?.status === "accepted") return;
        this.pending.delete(f.id);
        if (f.ok) p.resolve(f.payload);
        else p.reject(Object.assign(new Error(f.error?.message || "request failed"), { code: f.error?.code, details: f.error?.details, payload: f.payload }));
        return;
      }
      if (f.type === "event") this.dispatchEvent(new CustomEvent("gw-event", { detail: f }));
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.hello = null;
      for (const p of this.pending.values()) p.reject(new Error("disconnected"));
      this.pending.clear();
      if (e.code === 1008 || authFailed) {
        // Wrong token, or pairing needed: retrying with the same token cannot help.
        this.setState("unauthorized", { reason: e.reason || authFailed || "unauthorized", code: e.code });
        return;
      }
      if (this.stopped) return;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, 15000);
      this.setState(e.code === 1012 ? "restarting" : "disconnected", { delay, code: e.code, reason: e.reason });
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  async connect(ws, nonce) {
    const token = tokenStore.get();
    const params = {
      minProtocol: 3, maxProtocol: 3,
      client: { id: CLIENT_ID, version: "control-ui", platform: navigator.platform || "web", mode: "webchat", instanceId: uuid() },
      caps: [], role: "operator", scopes: SCOPES,
      userAgent: navigator.userAgent, locale: navigator.language,
    };
    if (token) params.auth = { token };
    const dev = await deviceIdentity();
    if (dev) {
      const signedAt = Date.now();
      const payload = ["v2", dev.id, CLIENT_ID, "webchat", "operator", SCOPES.join(","), signedAt, token, nonce].join("|");
      const sig = await crypto.subtle.sign({ name: "Ed25519" }, dev.privateKey, new TextEncoder().encode(payload));
      params.device = { id: dev.id, publicKey: dev.publicKey, signature: b64url(sig), signedAt, nonce };
    }
    return new Promise((resolve) => {
      const id = "connect-" + ++this.seq;
      this.pending.set(id, { resolve: (payload) => resolve({ ok: true, payload }), reject: (e) => resolve({ ok: false, error: e }) });
      ws.send(JSON.stringify({ type: "req", id, method: "connect", params }));
    });
  }

  // One request; `expectFinal` waits past an `accepted` answer (the `agent` method).
  rpc(method, params = {}, { expectFinal = false, timeoutMs = 30000 } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.state !== "connected") return reject(new Error("not connected"));
      const id = "r" + ++this.seq;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} timed out`));
      }, timeoutMs);
      this.pending.set(id, {
        expectFinal,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }
}
