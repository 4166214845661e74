//! The protocol v3 handshake over a real socket: every success and failure row of the
//! spec, with the original's exact texts and close codes.

mod common;

use std::time::Duration;

use clawdbot::device::DeviceIdentity;
use clawdbot::server::ServerOptions;
use clawdbot::util::now_ms;
use common::*;
use serde_json::json;

#[tokio::test]
async fn token_and_device_gives_hello_ok_with_device_token() {
    let gw = TestGateway::start().await;
    let (mut ws, nonce) = open(&gw.url).await;
    let id = DeviceIdentity::generate();
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
    let hello = &r["payload"];
    assert_eq!(hello["type"], "hello-ok");
    assert_eq!(hello["protocol"], 3);
    let mut keys: Vec<&str> = hello
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "auth", "features", "policy", "protocol", "server", "snapshot", "type"
        ]
    );
    assert_eq!(
        hello["policy"],
        json!({"maxPayload": 524288, "maxBufferedBytes": 1572864, "tickIntervalMs": 30000})
    );
    assert_eq!(hello["auth"]["role"], "operator");
    assert_eq!(hello["auth"]["deviceToken"].as_str().unwrap().len(), 32);
    assert_eq!(
        hello["snapshot"]["sessionDefaults"]["mainSessionKey"],
        "agent:main:main"
    );
    assert_eq!(hello["snapshot"]["health"]["ok"], true);
    let presence = hello["snapshot"]["presence"].as_array().unwrap();
    assert!(
        presence
            .iter()
            .any(|p| p["mode"] == "gateway" && p["reason"] == "self")
    );
    assert!(
        hello["features"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "health")
    );
    // The device is now paired on disk, mode 0600.
    let paired = gw.state_dir().join("devices/paired.json");
    let text = std::fs::read_to_string(&paired).unwrap();
    assert!(text.contains(id.device_id()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&paired).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The device token alone now authenticates the same device.
    let token = hello["auth"]["deviceToken"].as_str().unwrap().to_string();
    let (mut ws2, nonce2) = open(&gw.url).await;
    let mut p = base_params(Some(&token));
    sign(&mut p, &id, Some(&nonce2), now_ms());
    let r = connect(&mut ws2, p).await;
    assert_eq!(r["ok"], true, "device token reuse: {r}");
    assert_eq!(
        r["payload"]["auth"]["deviceToken"],
        token.as_str(),
        "token is reused, not rotated"
    );
}

#[tokio::test]
async fn token_only_without_device_has_no_auth_block() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, base_params(Some(TOKEN))).await;
    assert_eq!(r["ok"], true);
    assert!(r["payload"].get("auth").is_none());
}

async fn assert_rejected(url: &str, params: serde_json::Value, code: u16, message: &str) {
    let (mut ws, _) = open(url).await;
    let r = connect(&mut ws, params).await;
    assert_eq!(r["ok"], false);
    assert_eq!(r["error"]["message"], message, "{r}");
    let (c, reason) = closed(&mut ws).await;
    assert_eq!(
        (c, reason.as_str()),
        (code, &message[..message.len().min(120)])
    );
}

#[tokio::test]
async fn wrong_and_missing_token_close_1008_with_the_original_text() {
    let gw = TestGateway::start().await;
    assert_rejected(&gw.url, base_params(Some("WRONG")), 1008,
        "unauthorized: gateway token mismatch (set gateway.remote.token to match gateway.auth.token)").await;
    let mut no_auth = base_params(None);
    let id = DeviceIdentity::generate();
    sign(&mut no_auth, &id, None, now_ms());
    assert_rejected(&gw.url, no_auth, 1008,
        "unauthorized: gateway token missing (set gateway.remote.token to match gateway.auth.token)").await;
    // No device and no token at all: a device is required.
    let (mut ws, _) = open(&gw.url).await;
    let r = connect(&mut ws, base_params(None)).await;
    assert_eq!(r["error"]["code"], "NOT_PAIRED");
    assert_eq!(r["error"]["message"], "device identity required");
}

#[tokio::test]
async fn protocol_mismatch_closes_1002_with_details() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    p["minProtocol"] = json!(99);
    p["maxProtocol"] = json!(99);
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["message"], "protocol mismatch");
    // Since v4 beside v3 (issue 18), the details are openclaw's v4 shape.
    assert_eq!(
        r["error"]["details"],
        json!({"code": "PROTOCOL_MISMATCH", "clientMinProtocol": 99, "clientMaxProtocol": 99, "expectedProtocol": 4, "minimumProbeProtocol": 3})
    );
    assert_eq!(
        closed(&mut ws).await,
        (1002, "protocol mismatch".to_string())
    );
}

#[tokio::test]
async fn first_request_must_be_connect() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    send(
        &mut ws,
        json!({"type": "req", "id": "h", "method": "health", "params": {}}),
    )
    .await;
    let r = res(&mut ws, "h").await;
    assert_eq!(
        r["error"]["message"],
        "invalid handshake: first request must be connect"
    );
    assert_eq!(
        closed(&mut ws).await,
        (
            1008,
            "invalid handshake: first request must be connect".to_string()
        )
    );
}

#[tokio::test]
async fn non_json_first_frame_closes_1000_without_response() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text("hello"))
        .await
        .unwrap();
    assert_eq!(closed(&mut ws).await, (1000, String::new()));
    // A JSON frame that is not a request: 1008 "invalid request frame".
    let (mut ws, _) = open(&gw.url).await;
    send(&mut ws, json!({"type": "event", "event": "x"})).await;
    assert_eq!(
        closed(&mut ws).await,
        (1008, "invalid request frame".to_string())
    );
}

#[tokio::test]
async fn no_connect_is_closed_after_the_handshake_timeout() {
    let gw = TestGateway::with(Setup {
        opts: ServerOptions {
            handshake_timeout: Duration::from_millis(150),
            reload_poll: Duration::ZERO,
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let (mut ws, _) = open(&gw.url).await;
    let started = std::time::Instant::now();
    assert_eq!(closed(&mut ws).await, (1000, String::new()));
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "closed too early"
    );
}

#[tokio::test]
async fn invalid_connect_params_are_reported_ajv_style() {
    let gw = TestGateway::start().await;
    let mut p = base_params(Some(TOKEN));
    p["client"]["id"] = json!("not-a-client");
    assert_rejected(
        &gw.url,
        p,
        1008,
        "invalid connect params: at /client/id: must be equal to one of the allowed values",
    )
    .await;
    // The renamed moltbot-* family is accepted too.
    let (mut ws, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    p["client"]["id"] = json!("moltbot-probe");
    p["client"]["mode"] = json!("probe");
    assert_eq!(connect(&mut ws, p).await["ok"], true);
}

#[tokio::test]
async fn device_signature_failures() {
    let gw = TestGateway::start().await;
    let id = DeviceIdentity::generate();
    // expired
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms() - 11 * 60 * 1000);
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["message"], "device signature expired");
    // wrong nonce
    let (mut ws, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some("not-the-challenge"), now_ms());
    assert_eq!(
        connect(&mut ws, p).await["error"]["message"],
        "device nonce mismatch"
    );
    // id mismatch
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms());
    p["device"]["id"] = json!("00".repeat(32));
    assert_eq!(
        connect(&mut ws, p).await["error"]["message"],
        "device identity mismatch"
    );
    // signature over other content
    let (mut ws, nonce) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms());
    p["scopes"] = json!(["operator.read"]);
    assert_eq!(
        connect(&mut ws, p).await["error"]["message"],
        "device signature invalid"
    );
    let (c, reason) = closed(&mut ws).await;
    assert_eq!((c, reason.as_str()), (1008, "device signature invalid"));
    // A local client may send a v1 signature without nonce.
    let (mut ws, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, None, now_ms());
    assert_eq!(connect(&mut ws, p).await["ok"], true);
}

#[tokio::test]
async fn remote_device_needs_nonce_and_pairing_approval() {
    let gw = TestGateway::start().await;
    let id = DeviceIdentity::generate();
    // Non-local (Host header not local): nonce is mandatory.
    let (mut ws, _) = open_with_host(&gw.url, Some("gateway.example.com")).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, None, now_ms());
    assert_eq!(
        connect(&mut ws, p).await["error"]["message"],
        "device nonce required"
    );
    // With a nonce: pairing required, with the request id.
    let (mut ws, nonce) = open_with_host(&gw.url, Some("gateway.example.com")).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["error"]["code"], "NOT_PAIRED");
    assert_eq!(r["error"]["message"], "pairing required");
    let request_id = r["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        closed(&mut ws).await,
        (1008, "pairing required".to_string())
    );
    // An operator sees and approves it.
    let mut admin = operator(&gw.url).await;
    let list = call(&mut admin, "l", "device.pair.list", json!({})).await;
    assert_eq!(
        list["payload"]["pending"][0]["requestId"],
        request_id.as_str()
    );
    let ok = call(
        &mut admin,
        "a",
        "device.pair.approve",
        json!({"requestId": request_id}),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(
        !ok.to_string().contains("\"token\":"),
        "approve must not leak the device token"
    );
    // Now the remote device connects.
    let (mut ws, nonce) = open_with_host(&gw.url, Some("gateway.example.com")).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), now_ms());
    let r = connect(&mut ws, p).await;
    assert_eq!(r["ok"], true, "{r}");
}

#[tokio::test]
async fn scopes_are_enforced_and_unknown_methods_keep_the_socket_open() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    p["scopes"] = json!(["operator.read"]);
    assert_eq!(connect(&mut ws, p).await["ok"], true);
    let r = call(&mut ws, "1", "config.set", json!({"raw": "{}"})).await;
    assert_eq!(r["error"]["message"], "missing scope: operator.admin");
    let r = call(&mut ws, "2", "device.pair.list", json!({})).await;
    assert_eq!(r["error"]["message"], "missing scope: operator.pairing");
    let r = call(&mut ws, "3", "health", json!({})).await;
    assert_eq!(r["ok"], true);

    let mut admin = operator(&gw.url).await;
    let r = call(&mut admin, "u", "no.such.method", json!({})).await;
    assert_eq!(
        r["error"],
        json!({"code": "INVALID_REQUEST", "message": "unknown method: no.such.method"})
    );
    let r = call(&mut admin, "s", "status", json!({})).await;
    assert_eq!(r["ok"], true, "socket stays open after an unknown method");
    let r = call(&mut admin, "c", "connect", json!({})).await;
    assert_eq!(
        r["error"]["message"],
        "connect is only valid as the first request"
    );
    let r = call(&mut admin, "h", "health", json!({"bogus": 1})).await;
    assert_eq!(
        r["error"]["message"],
        "invalid health params: at root: unexpected property 'bogus'"
    );
}

#[tokio::test]
async fn shutdown_broadcasts_then_closes_1012() {
    let mut gw = TestGateway::start().await;
    let mut ws = operator(&gw.url).await;
    let stop = tokio::spawn(async move {
        gw.shutdown().await;
        gw
    });
    let mut saw_shutdown = false;
    loop {
        match next(&mut ws).await {
            Some(f) if f["event"] == "shutdown" => {
                assert_eq!(f["payload"]["reason"], "gateway stopping");
                saw_shutdown = true;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(saw_shutdown);
    stop.await.unwrap();
}

#[tokio::test]
async fn oversized_frame_is_refused() {
    let gw = TestGateway::start().await;
    let mut ws = operator(&gw.url).await;
    let big = "x".repeat(600 * 1024);
    send(
        &mut ws,
        json!({"type": "req", "id": "big", "method": "health", "params": {"pad": big}}),
    )
    .await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1009, "Max payload size exceeded"));
}

#[tokio::test]
async fn oversized_first_frame_before_auth_is_closed_with_1009_not_reset() {
    let gw = TestGateway::start().await;
    let (mut ws, _nonce) = open(&gw.url).await;
    let big = "x".repeat(600 * 1024);
    send(
        &mut ws,
        json!({"type": "req", "id": "c", "method": "connect", "params": {"pad": big}}),
    )
    .await;
    let (code, reason) = closed(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1009, "Max payload size exceeded"));
}
