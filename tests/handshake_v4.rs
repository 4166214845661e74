//! Protocol v4 over a real socket, with connect params shaped as openclaw 2026.9.6's
//! clients sent them (frames-v4/ in the shared spec: the CLI, its backend helper, the
//! status probe, the Control UI). Devices are re-signed with our own keys because the
//! captured signatures are bound to the captured nonces.

mod common;

use clawdbot::device::DeviceIdentity;
use clawdbot::util::now_ms;
use common::*;
use serde_json::{Value, json};

/// `openclaw health`'s first connection (v4-cli-health-vs-openclaw.json, conn 1).
fn cli_connect() -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux",
                   "mode": "cli", "instanceId": "be696637-7d2d-4135-8e0b-be22b393cb62"},
        "caps": [], "auth": {"token": TOKEN}, "role": "operator", "scopes": ["operator.read"]})
}

/// The 2026.9.6 Control UI's connect (v4-control-ui-vs-openclaw.json), without device.
fn ui_connect() -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "openclaw-control-ui", "version": "2026.9.6",
                   "buildId": "2026.9.6-release-eb377ac59e6c-2026-09-23T16-33-12.144Z",
                   "platform": "Linux x86_64", "mode": "webchat",
                   "instanceId": "6a3c82e5-dfb7-4d5b-b4f7-9524098bcb93", "timeZone": "UTC"},
        "role": "operator",
        "scopes": ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.questions", "operator.pairing"],
        "modelCatalog": {"sessionKey": "main"},
        "caps": ["agent-kind", "approvals", "task-suggestions", "terminal-offset-seq", "terminal-session-metadata",
                 "terminal-upload-path-style", "tool-events", "inline-widgets", "model-selection-policy",
                 "ui-commands", "usage-refreshing", "model-catalog-snapshot"],
        "auth": {"token": TOKEN, "password": TOKEN},
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
        "locale": "en-US"})
}

/// Signs like a 2026.9 client: payload v3 (`…|nonce|platform|deviceFamily`, the last two
/// lower-cased), the token being `auth.token ?? auth.deviceToken`.
fn sign_v4(p: &mut Value, id: &DeviceIdentity, nonce: &str, signed_at: i64) {
    let scopes: Vec<&str> = p["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let token = p["auth"]["token"]
        .as_str()
        .or(p["auth"]["deviceToken"].as_str())
        .unwrap_or("");
    let c = &p["client"];
    let payload = [
        "v3",
        id.device_id(),
        c["id"].as_str().unwrap(),
        c["mode"].as_str().unwrap(),
        p["role"].as_str().unwrap(),
        &scopes.join(","),
        &signed_at.to_string(),
        token,
        nonce,
        &c["platform"].as_str().unwrap().to_ascii_lowercase(),
        &c["deviceFamily"]
            .as_str()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    ]
    .join("|");
    p["device"] = json!({"id": id.device_id(), "publicKey": id.public_key_b64url(),
        "signature": id.sign(&payload), "signedAt": signed_at, "nonce": nonce});
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn the_cli_without_device_gets_v4_hello_ok_and_its_scopes() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, cli_connect()).await;
    assert_eq!(r["ok"], true, "{r}");
    let h = &r["payload"];
    assert_eq!(h["protocol"], 4);
    assert_eq!(
        keys(h),
        [
            "auth", "features", "policy", "protocol", "server", "snapshot", "type"
        ]
    );
    assert_eq!(
        h["auth"],
        json!({"method": "token", "role": "operator", "scopes": ["operator.read"]})
    );
    assert_eq!(h["features"]["capabilities"], json!([]));
    assert!(h["server"].get("host").is_none(), "{}", h["server"]);
    let boot = h["server"]["bootId"].as_str().unwrap().to_string();
    assert_eq!(boot.len(), 36);
    assert!(h["policy"]["tickIntervalMs"].as_u64().is_some());
    assert_eq!(
        h["snapshot"]["sessionDefaults"]["mainSessionKey"],
        "agent:main:main"
    );

    // The CLI's request ids ("1:<uuid>") are opaque; health answers.
    let health = call(
        &mut ws,
        "2:f753bab3-af89-40b2-ae13-c3ea8be86c43",
        "health",
        json!(null),
    )
    .await;
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["payload"]["defaultAgentId"], "main");
    // A method beyond operator.read is FORBIDDEN with MISSING_SCOPE details (v4 shape).
    let denied = call(&mut ws, "3", "config.set", json!({"raw": "{}"})).await;
    assert_eq!(
        denied["error"],
        json!({"code": "FORBIDDEN", "message": "missing scope: operator.admin",
               "details": {"code": "MISSING_SCOPE", "missingScope": "operator.admin", "requiredScopes": ["operator.admin"]}})
    );
    // The socket stays open after the refusal, and the same process keeps its boot id.
    let again = call(&mut ws, "4", "health", json!({})).await;
    assert_eq!(again["ok"], true);
    let (mut ws2, _) = open(&gw.url).await;
    let r2 = connect(&mut ws2, cli_connect()).await;
    assert_eq!(r2["payload"]["server"]["bootId"], boot.as_str());
}

#[tokio::test]
async fn the_status_probe_and_remote_device_less_clients_get_no_scopes() {
    let gw = TestGateway::start().await;
    // openclaw status's probe: mode probe, 3..4, version dev (v4-cli-status-vs-openclaw.json).
    let mut probe = cli_connect();
    probe["minProtocol"] = json!(3);
    probe["client"]["mode"] = json!("probe");
    probe["client"]["version"] = json!("dev");
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, probe).await;
    assert_eq!(r["payload"]["protocol"], 4, "{r}");
    assert_eq!(r["payload"]["auth"]["scopes"], json!([]));
    let sp = call(&mut ws, "2", "system-presence", json!({})).await;
    assert_eq!(sp["error"]["code"], "FORBIDDEN", "{sp}");
    assert_eq!(sp["error"]["message"], "missing scope: operator.read");

    // The CLI's backend helper on loopback keeps its scopes.
    let mut backend = cli_connect();
    backend["client"]["id"] = json!("gateway-client");
    backend["client"]["mode"] = json!("backend");
    backend["client"]["displayName"] = json!("gateway:health");
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, backend).await;
    assert_eq!(
        r["payload"]["auth"]["scopes"],
        json!(["operator.read"]),
        "{r}"
    );

    // The same CLI from a non-local Host: the shared token alone grants no scopes.
    let (mut ws, _) = open_with_host(&gw.url, Some("gateway.example.com")).await;
    let r = connect(&mut ws, cli_connect()).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["auth"]["scopes"], json!([]));
    let h = call(&mut ws, "2", "health", json!({})).await;
    assert_eq!(h["error"]["code"], "FORBIDDEN", "{h}");
}

#[tokio::test]
async fn the_control_ui_connect_pairs_and_reconnects_with_its_v4_device_token() {
    let gw = TestGateway::start().await;
    let id = DeviceIdentity::generate();
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    sign_v4(&mut p, &id, &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
    let auth = &r["payload"]["auth"];
    assert_eq!(auth["method"], "token");
    assert_eq!(auth["role"], "operator");
    let token = auth["deviceToken"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(auth["issuedAtMs"].as_i64().unwrap() > 0);
    let paired = std::fs::read_to_string(gw.state_dir().join("devices/paired.json")).unwrap();
    assert!(paired.contains(id.device_id()) && paired.contains(&token));

    // Reconnect with only auth.deviceToken (no shared secret): device-token auth.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    p["auth"] = json!({"deviceToken": token});
    sign_v4(&mut p, &id, &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["auth"]["method"], "device-token");
    assert_eq!(r["payload"]["auth"]["deviceToken"], token.as_str());

    // Someone else's device token does not work for another device.
    let other = DeviceIdentity::generate();
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    p["auth"] = json!({"deviceToken": token});
    sign_v4(&mut p, &other, &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["details"]["code"], "AUTH_TOKEN_MISSING", "{r}");
}

async fn refused(url: &str, p: Value) -> (Value, (u16, String)) {
    let (mut ws, _) = open(url).await;
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], false, "{r}");
    (r["error"].clone(), closed(&mut ws).await)
}

#[tokio::test]
async fn v4_device_proof_rules() {
    let gw = TestGateway::start().await;
    let id = DeviceIdentity::generate();
    let mut base = cli_connect();
    base["scopes"] = json!(["operator.admin"]);

    // The nonce is required on v4, even from loopback (v3 allows a local v1 signature).
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base.clone();
    sign_v4(&mut p, &id, &nonce, now_ms());
    p["device"].as_object_mut().unwrap().remove("nonce");
    let r = connect(&mut ws, p).await;
    assert_eq!(
        r["error"]["message"],
        "invalid connect params: at /device: must have required property 'nonce'"
    );

    // Another connection's nonce.
    let mut p = base.clone();
    sign_v4(&mut p, &id, "not-this-connections-nonce", now_ms());
    let (e, close) = refused(&gw.url, p).await;
    assert_eq!(e["message"], "device nonce mismatch");
    assert_eq!(
        e["details"],
        json!({"code": "DEVICE_AUTH_NONCE_MISMATCH", "reason": "device-nonce-mismatch"})
    );
    assert_eq!(close.0, 1008);

    // 2-minute skew on v4 (v3 allows 10): 3 minutes old is stale.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base.clone();
    sign_v4(&mut p, &id, &nonce, now_ms() - 3 * 60 * 1000);
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["message"], "device signature expired");
    assert_eq!(
        r["error"]["details"]["code"],
        "DEVICE_AUTH_SIGNATURE_EXPIRED"
    );

    // A signature over other scopes than sent (the scope-escalation attempt) fails.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base.clone();
    sign_v4(&mut p, &id, &nonce, now_ms());
    p["scopes"] = json!(["operator.admin", "operator.pairing"]);
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["message"], "device signature invalid");
    assert_eq!(r["error"]["details"]["reason"], "device-signature");

    // The platform is part of the v3 payload: claiming another one breaks it.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base.clone();
    sign_v4(&mut p, &id, &nonce, now_ms());
    p["client"]["platform"] = json!("darwin");
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["message"], "device signature invalid");

    // A v2 signature (with nonce) is still accepted on v4.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base.clone();
    sign(&mut p, &id, Some(&nonce), now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "v2 on v4: {r}");
    assert_eq!(r["payload"]["protocol"], 4);
}

#[tokio::test]
async fn v4_auth_failures_carry_recovery_details() {
    let gw = TestGateway::start().await;
    // wrong-token with a device (scenarios-v4-client-vs-openclaw.json): retry with the
    // device token.
    let id = DeviceIdentity::generate();
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = cli_connect();
    p["auth"] = json!({"token": "WRONG"});
    sign_v4(&mut p, &id, &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(
        r["error"],
        json!({"code": "INVALID_REQUEST",
            "message": "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)",
            "details": {"code": "AUTH_TOKEN_MISMATCH", "authReason": "token_mismatch", "canRetryWithDeviceToken": true, "recommendedNextStep": "retry_with_device_token"}})
    );
    assert_eq!(
        closed(&mut ws).await,
        (
            1008,
            "unauthorized: gateway token mismatch (use this gateway's gateway.auth.token or pair the device)".into()
        )
    );
    // missing-token with a device.
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = cli_connect();
    p.as_object_mut().unwrap().remove("auth");
    sign_v4(&mut p, &id, &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(
        r["error"]["message"],
        "unauthorized: gateway token missing (use this gateway's gateway.auth.token or pair the device)"
    );
    assert_eq!(
        r["error"]["details"],
        json!({"code": "AUTH_TOKEN_MISSING", "authReason": "token_missing", "canRetryWithDeviceToken": false, "recommendedNextStep": "update_auth_configuration"})
    );
    // The Control UI's hint, and the secret in auth.password alone is accepted on v4.
    let mut p = ui_connect();
    p["auth"] = json!({"token": "WRONG"});
    p["device"] = json!(null);
    p.as_object_mut().unwrap().remove("device");
    let (e, _) = refused(&gw.url, p).await;
    assert_eq!(
        e["message"],
        "control ui requires device identity (use HTTPS or localhost secure context)"
    );
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    p["auth"] = json!({"password": TOKEN});
    sign_v4(&mut p, &DeviceIdentity::generate(), &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
}

#[tokio::test]
async fn v4_is_strict_and_v3_stays_v3() {
    let gw = TestGateway::start().await;
    // Unknown keys and the old ids are refused on v4, in AJV's wording.
    let mut p = ui_connect();
    p["client"]["id"] = json!("clawdbot-control-ui");
    p["client"]["nickname"] = json!("x");
    p["workerRun"] = json!(true);
    let (e, close) = refused(&gw.url, p).await;
    assert_eq!(
        e["message"],
        "invalid connect params: at root: unexpected property 'workerRun'; at /client: unexpected property 'nickname'; at /client/id: must be equal to one of the allowed values"
    );
    assert_eq!(close.0, 1008);
    // v4 fields on a v3-only connect are refused as before.
    let mut p = cli_connect();
    p["minProtocol"] = json!(3);
    p["maxProtocol"] = json!(3);
    p["client"]["timeZone"] = json!("UTC");
    let (e, _) = refused(&gw.url, p).await;
    assert_eq!(
        e["message"],
        "invalid connect params: at /client: unexpected property 'timeZone'"
    );
    // A 3..3 client still gets protocol 3 and v3's hello-ok (no auth block without device).
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, base_params(Some(TOKEN))).await;
    assert_eq!(r["payload"]["protocol"], 3);
    assert!(r["payload"].get("auth").is_none());
    assert!(r["payload"]["server"]["host"].is_string());
    // And a 3..3 scope refusal keeps v3's shape.
    let mut p = base_params(Some(TOKEN));
    p["scopes"] = json!(["operator.read"]);
    let (mut ws, _) = open(&gw.url).await;
    connect(&mut ws, p).await;
    let d = call(&mut ws, "2", "config.set", json!({"raw": "{}"})).await;
    assert_eq!(
        d["error"],
        json!({"code": "INVALID_REQUEST", "message": "missing scope: operator.admin"})
    );
    // A range of neither: v4's mismatch details.
    let mut p = cli_connect();
    p["minProtocol"] = json!(1);
    p["maxProtocol"] = json!(2);
    let (e, close) = refused(&gw.url, p).await;
    assert_eq!(
        e["details"],
        json!({"code": "PROTOCOL_MISMATCH", "clientMinProtocol": 1, "clientMaxProtocol": 2, "expectedProtocol": 4, "minimumProbeProtocol": 3})
    );
    assert_eq!(close, (1002, "protocol mismatch".into()));
}

/// What openclaw 2026.9's CLI and Control UI call (protocol-v4.md §3.9), on a v4
/// connection; the same calls on v3 keep v3's strict answers.
#[tokio::test]
async fn v4_methods_and_params_the_clients_send() {
    let gw = TestGateway::start().await;
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    sign_v4(&mut p, &DeviceIdentity::generate(), &nonce, now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
    let methods = r["payload"]["features"]["methods"].as_array().unwrap();
    assert!(methods.iter().any(|m| m == "chat.startup"));

    let calls = [
        (
            "status",
            json!({"includeChannelSummary": false, "includeCliProjection": true}),
        ),
        (
            "models.list",
            json!({"view": "configured", "sessionKey": "agent:main:main", "agentId": "main"}),
        ),
        (
            "sessions.list",
            json!({"includeGlobal": true, "includeUnknown": true, "configuredAgentsOnly": true,
            "limit": 200, "includeDerivedTitles": true, "includeLastMessage": true, "ownerFirst": true, "agentId": "main"}),
        ),
        (
            "cron.list",
            json!({"agentId": "main", "includeDisabled": true, "includeDeliveryPreviews": false, "compact": true,
            "limit": 50, "offset": 0, "enabled": "all", "sortBy": "nextRunAtMs", "sortDir": "asc"}),
        ),
        ("agent.identity.get", json!({"agentId": "main"})),
        ("sessions.subscribe", json!({})),
        ("models.authStatus", json!({"agentId": "main"})),
        ("question.list", json!({})),
    ];
    for (i, (m, params)) in calls.iter().enumerate() {
        let r = call(&mut ws, &format!("m{i}"), m, params.clone()).await;
        assert_eq!(r["ok"], true, "{m}: {r}");
    }
    let r = call(
        &mut ws,
        "s",
        "chat.startup",
        json!({"sessionKey": "agent:main:main", "limit": 80, "maxBytes": 262144}),
    )
    .await;
    assert_eq!(r["payload"]["messages"], json!([]), "{r}");
    assert_eq!(r["payload"]["sessionKey"], "agent:main:main");
    assert_eq!(
        r["payload"]["pendingInputs"],
        json!({"items": [], "total": 0})
    );
    let r = call(
        &mut ws,
        "d",
        "sessions.describe",
        json!({"key": "agent:main:main"}),
    )
    .await;
    assert_eq!(r["payload"], json!({"session": null}), "{r}");
    let r = call(
        &mut ws,
        "ms",
        "sessions.messages.subscribe",
        json!({"key": "agent:main:main", "includeApprovals": true}),
    )
    .await;
    assert_eq!(r["payload"]["subscribed"], true, "{r}");
    assert_eq!(r["payload"]["key"], "agent:main:main");
    assert_eq!(
        r["payload"]["approvalReplay"]["approvals"],
        json!([]),
        "no pending approvals to replay: {r}"
    );
    // The 2026.9 UI's chat.send extras are accepted, and the ack says where the
    // message lands in the (empty) transcript.
    let r = call(
        &mut ws,
        "cs",
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": "/stop", "deliver": false,
               "idempotencyKey": "k1", "sessionId": "s1", "queueMode": "steer",
               "mentions": [], "__controlUiReconnectResume": true}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let r = call(
        &mut ws,
        "cs2",
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "k2", "queueMode": 3}),
    )
    .await;
    assert_eq!(
        r["error"]["message"], "invalid chat.send params: at /queueMode: must be string",
        "{r}"
    );
    let r = call(
        &mut ws,
        "cs3",
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "k3", "bogus": 1}),
    )
    .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected property 'bogus'"),
        "{r}"
    );
    // Still strict: a wrong type, an unknown key.
    let r = call(
        &mut ws,
        "b1",
        "status",
        json!({"includeChannelSummary": "no"}),
    )
    .await;
    assert_eq!(
        r["error"]["message"],
        "invalid status params: at /includeChannelSummary: must be boolean"
    );
    let r = call(
        &mut ws,
        "b2",
        "chat.startup",
        json!({"sessionKey": "k", "evil": 1}),
    )
    .await;
    assert_eq!(
        r["error"]["message"],
        "invalid chat.startup params: at root: unexpected property 'evil'"
    );
    let r = call(&mut ws, "b3", "no.such.method", json!({})).await;
    assert_eq!(r["error"]["message"], "unknown method: no.such.method");

    // v3: unchanged.
    let mut ws3 = operator(&gw.url).await;
    let r = call(
        &mut ws3,
        "v3a",
        "status",
        json!({"includeChannelSummary": false}),
    )
    .await;
    assert_eq!(r["ok"], false, "{r}");
    let r = call(
        &mut ws3,
        "v3b",
        "chat.startup",
        json!({"sessionKey": "agent:main:main"}),
    )
    .await;
    assert_eq!(r["error"]["message"], "unknown method: chat.startup");
}

/// v4 chat deltas are openclaw's: `deltaText` is the whole text so far with
/// `replace: true` (its UI's merge rule), beside the v3 `message`; a v3 connection on the
/// same run gets the v3 payload without them. `seq` stays gap-free on both.
#[tokio::test]
async fn v4_chat_deltas_carry_delta_text_and_v3_ones_do_not() {
    let w = common::world::World::new().await;
    let long = "one two three four five six seven eight nine ten ".repeat(40);
    w.anthropic
        .script([common::fakes::Reply::Text(long.trim_end().to_string())]);
    let gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut v3 = operator(&gw.url).await;
    let (mut v4, nonce) = open(&gw.url).await;
    let mut p = ui_connect();
    sign_v4(&mut p, &DeviceIdentity::generate(), &nonce, now_ms());
    assert_eq!(connect(&mut v4, p).await["ok"], true);
    let r = call(
        &mut v4,
        "s",
        "chat.send",
        json!({"sessionKey": "agent:main:main", "message": "hi", "deliver": false, "idempotencyKey": "run-v4"}),
    )
    .await;
    assert_eq!(r["payload"]["runId"], "run-v4", "{r}");
    assert_eq!(r["payload"]["status"], "started");
    assert_eq!(
        r["payload"]["messageSeq"], 1,
        "first message of a new session: {r}"
    );
    let on_v4 = chat_events(&mut v4, "run-v4").await;
    let on_v3 = chat_events(&mut v3, "run-v4").await;
    let deltas: Vec<&Value> = on_v4.iter().filter(|e| e["state"] == "delta").collect();
    assert!(!deltas.is_empty(), "{on_v4:?}");
    for d in &deltas {
        assert_eq!(d["replace"], true, "{d}");
        assert_eq!(d["deltaText"], d["message"]["content"][0]["text"], "{d}");
    }
    assert_eq!(on_v4.last().unwrap()["state"], "final");
    assert!(on_v4.last().unwrap().get("deltaText").is_none());
    assert!(on_v3.iter().any(|e| e["state"] == "delta"));
    assert!(
        on_v3
            .iter()
            .all(|e| e.get("deltaText").is_none() && e.get("replace").is_none())
    );
}
