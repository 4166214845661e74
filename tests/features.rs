//! Behaviour beyond the handshake: ticks, coalesced health, logs, devices CLI, help texts.

mod common;

use std::time::Duration;

use clawdbot::server::ServerOptions;
use common::proc::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn ticks_carry_a_growing_seq() {
    let gw = TestGateway::with(Setup {
        opts: ServerOptions {
            tick_interval: Duration::from_millis(30),
            reload_poll: Duration::ZERO,
            ..Default::default()
        },
        ..Setup::default()
    })
    .await;
    let mut ws = operator(&gw.url).await;
    let mut seqs = vec![];
    while seqs.len() < 3 {
        let f = next(&mut ws).await.unwrap();
        if f["event"] == "tick" {
            assert!(f["payload"]["ts"].as_i64().unwrap() > 0);
            seqs.push(f["seq"].as_u64().unwrap());
        }
    }
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
}

/// `seq` counts what each connection received: an event filtered out by scope leaves no
/// hole (openclaw's clients reconnect on a hole, "event gap detected"), and a client
/// that connects later starts at 1.
#[tokio::test]
async fn event_seq_is_gap_free_per_connection_whatever_scopes_filter() {
    let gw = TestGateway::start().await;
    let mut admin = operator(&gw.url).await;
    let (mut reader, _) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    p["scopes"] = json!(["operator.read"]);
    let r = connect(&mut reader, p).await;
    assert_eq!(r["ok"], true, "{r}");
    let bus = &gw.gw.host.bus;
    bus.send("probe.one", json!({"n": 1}), None, false);
    bus.send("exec.approval.requested", json!({"id": "x"}), None, false);
    bus.send("probe.two", json!({"n": 2}), None, false);
    // Every event frame a connection gets, up to probe.two: names and seqs.
    async fn until_two(ws: &mut Ws) -> (Vec<String>, Vec<u64>) {
        let (mut names, mut seqs) = (vec![], vec![]);
        loop {
            let f = next(ws).await.unwrap();
            if f["type"] != "event" {
                continue;
            }
            names.push(f["event"].as_str().unwrap().to_string());
            seqs.push(f["seq"].as_u64().unwrap());
            if f["event"] == "probe.two" {
                return (names, seqs);
            }
        }
    }
    let (names, seqs) = until_two(&mut reader).await;
    assert!(
        !names.iter().any(|n| n.starts_with("exec.approval")),
        "{names:?}"
    );
    assert!(names.contains(&"probe.one".to_string()), "{names:?}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "hole in {names:?} {seqs:?}"
    );
    let (names, seqs) = until_two(&mut admin).await;
    assert!(
        names.contains(&"exec.approval.requested".to_string()),
        "{names:?}"
    );
    assert_eq!(seqs[0], 1, "a connection counts from 1: {names:?} {seqs:?}");
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "hole in {names:?} {seqs:?}"
    );
}

/// The original re-broadcasts `health` to every client on every call (its collapse at
/// 1000 clients); we answer from the cache and broadcast only when something changed.
#[tokio::test]
async fn health_calls_do_not_fan_out_to_every_client() {
    let gw = TestGateway::start().await;
    let _watchers = [operator(&gw.url).await, operator(&gw.url).await];
    let mut caller = operator(&gw.url).await;
    // Settle the refreshes the connects started (a probe rebuilds synchronously).
    call(&mut caller, "p0", "health", json!({"probe": true})).await;
    let before = gw.gw.host.bus.seq();
    for i in 0..50 {
        let r = call(&mut caller, &format!("h{i}"), "health", json!({})).await;
        assert_eq!(r["payload"]["ok"], true);
    }
    call(&mut caller, "p1", "health", json!({"probe": true})).await;
    let broadcasts = gw.gw.host.bus.seq() - before;
    assert!(
        broadcasts <= 1,
        "{broadcasts} broadcasts for 50 health calls"
    );
}

#[tokio::test]
async fn logs_tail_serves_the_gateway_log_and_devices_cli_approves() {
    let root = tempfile::tempdir().unwrap();
    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let cli = |args: &[&str]| {
        let mut c = command(root.path());
        c.env("CLAWDBOT_GATEWAY_PORT", port.to_string())
            .env("CLAWDBOT_GATEWAY_TOKEN", TOKEN)
            .args(args);
        run(c)
    };
    let (code, out, err) = cli(&[
        "gateway",
        "call",
        "logs.tail",
        "--params",
        "{\"limit\": 50}",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lines: Vec<serde_json::Value> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l.as_str().unwrap()).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["subsystem"] == "gateway"
            && l["message"].as_str().unwrap().starts_with("listening on")),
        "{lines:?}"
    );
    assert!(v["cursor"].as_u64().unwrap() > 0);

    // A remote device asks to pair; the CLI lists and approves it.
    let id = clawdbot::device::DeviceIdentity::generate();
    let url = format!("ws://127.0.0.1:{port}");
    let (mut ws, nonce) = open_with_host(&url, Some("gw.example.com")).await;
    let mut p = base_params(Some(TOKEN));
    sign(&mut p, &id, Some(&nonce), clawdbot::util::now_ms());
    let r = connect(&mut ws, p).await;
    let request_id = r["error"]["details"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, _) = cli(&["devices", "list"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&request_id) && out.contains("Approve with: clawdbot devices approve"),
        "{out}"
    );
    let (code, out, _) = cli(&["devices", "approve", &request_id]);
    assert_eq!(code, 0);
    assert!(out.contains(id.device_id()), "{out}");
    let (code, _, err) = cli(&["devices", "approve", &request_id]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown requestId"), "{err}");

    let (code, out, err) = cli(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("Listen    127.0.0.1:{port} (bind loopback)")),
        "{out}"
    );
    assert!(out.contains("Devices   2 paired · 0 pending"), "{out}");
}

#[test]
fn nix_mode_is_announced_at_start() {
    let root = tempfile::tempdir().unwrap();
    let mut cmd = command(root.path());
    cmd.env("CLAWDBOT_NIX_MODE", "1").args([
        "gateway",
        "--port",
        &free_port().to_string(),
        "--token",
        "T",
    ]);
    let mut gw = Proc::spawn(cmd);
    let line = gw.wait_for("running in Nix mode");
    assert!(
        line.ends_with(&format!(
            "[gateway] running in Nix mode (config managed by Nix: {})",
            state(root.path()).join("clawdbot.json").display()
        )),
        "{line}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    let root = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["gateway", "--help"],
        vec!["gateway", "call", "--help"],
        vec!["check-config", "--help"],
        vec!["health", "--help"],
        vec!["status", "--help"],
        vec!["dashboard", "--help"],
        vec!["devices", "--help"],
        vec!["config", "--help"],
    ] {
        let mut c = command(root.path());
        c.args(&args);
        let (code, out, _) = run(c);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Example"), "{args:?} has no example:\n{out}");
    }
    let mut c = command(root.path());
    c.arg("--version");
    assert_eq!(run(c).1.trim(), format!("clawdbot {}", clawdbot::VERSION));
}

/// A client that stops reading is closed as a slow consumer instead of growing the
/// gateway's memory without bound.
#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer() {
    let gw = TestGateway::start().await;
    let mut ws = operator(&gw.url).await;
    let blob = "x".repeat(16 * 1024);
    // Far more than the socket buffers and the event queue hold, while the client reads nothing.
    for i in 0..4000 {
        gw.gw
            .host
            .bus
            .send("heartbeat", json!({"i": i, "pad": blob}), None, false);
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut received = 0;
    let (code, reason) = loop {
        match tokio::time::timeout(
            Duration::from_secs(10),
            futures_util::StreamExt::next(&mut ws),
        )
        .await
        .expect("progress")
        {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => received += 1,
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                break (u16::from(f.code), f.reason.to_string());
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break (1006, String::new()),
        }
    };
    assert!(
        received < 4000,
        "every event was delivered; no back-pressure happened"
    );
    assert_eq!((code, reason.as_str()), (1008, "slow consumer"));
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn health_and_readiness_probes_need_no_auth_and_leak_nothing() {
    let gw = TestGateway::start().await;
    let port = gw.port;
    let (live, ready, index, missing) = tokio::task::spawn_blocking(move || {
        (
            http_get(port, "/healthz"),
            http_get(port, "/readyz"),
            http_get(port, "/"),
            http_get(port, "/nope"),
        )
    })
    .await
    .unwrap();
    assert_eq!(live.0, 200);
    let v: serde_json::Value = serde_json::from_str(&live.1).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["status"].clone()),
        (json!(true), json!("live"))
    );
    assert_eq!(ready.0, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ready.1).unwrap(),
        json!({"ready": true, "phase": "ready"})
    );
    assert_eq!(index.0, 200);
    assert!(index.1.contains("<title>Clawdbot</title>"), "{}", index.1);
    assert_eq!(missing.0, 404);
    for body in [&live.1, &ready.1, &index.1] {
        assert!(!body.contains(TOKEN));
    }
}
