//! Connection limits, timeouts and quiet broken pipes, against the real binary over real
//! sockets: a peer holding thousands of silent sockets, or trickling its headers, does
//! not lock anyone else out.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::proc::*;
use common::*;
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to the gateway from source address `src` (any 127/8 address works
/// on Linux loopback, so one test plays several peers).
async fn connect_from(src: &str, port: u16) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{src}:0").parse().unwrap()).unwrap();
    s.connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

/// What the server sends before it closes, or None if it is still silent after `wait`.
async fn read_reply(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(wait, s.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

async fn healthz(port: u16) -> String {
    let mut s = connect_from("127.0.0.1", port).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_reply(&mut s, Duration::from_secs(10))
        .await
        .expect("healthz answers")
}

/// Starts the gateway with its open-file limit lowered to soft 512 / hard 1024.
fn start_with_low_nofile(root: &std::path::Path, extra_config: Option<&str>) -> (Proc, u16) {
    if let Some(c) = extra_config {
        write(&state(root).join("clawdbot.json"), c);
    }
    let port = free_port();
    let mut cmd = command(root);
    cmd.args(["gateway", "--port", &port.to_string(), "--token", TOKEN]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 512,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut gw = Proc::spawn(cmd);
    gw.wait_for("listening on");
    (gw, port)
}

#[tokio::test]
async fn two_thousand_silent_sockets_from_one_peer_do_not_lock_others_out() {
    let root = tempfile::tempdir().unwrap();
    // A long header timeout, so the admitted sockets stay held however slow the machine.
    let cfg = r#"{ "gateway": { "limits": { "headerReadTimeoutMs": 120000 } } }"#;
    let (mut gw, port) = start_with_low_nofile(root.path(), Some(cfg));
    gw.wait_for("open-file limit raised from 512 to 1024");

    let mut attack = Vec::new();
    for _ in 0..2000 {
        attack.push(connect_from("127.0.0.2", port).await);
    }
    // The refused ones are answered at once; the admitted ones stay silent.
    let replies = join_all(
        attack
            .iter_mut()
            .map(|s| read_reply(s, Duration::from_secs(3))),
    )
    .await;
    let refused: Vec<&String> = replies.iter().flatten().collect();
    assert_eq!(
        refused.len(),
        2000 - 256,
        "all but the per-address cap refused"
    );
    assert!(
        refused.iter().all(|r| r.starts_with("HTTP/1.1 503")
            && r.ends_with("too many connections from your address")),
        "{:?}",
        refused.first()
    );

    // Another address still gets in, over HTTP and WebSocket.
    let h = healthz(port).await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let r = call(&mut ws, "h", "health", serde_json::json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    // One summary line for the flood, not one per socket.
    let lines = gw.wait_for("connection(s) in the last");
    assert!(lines.contains("too many connections from your address"));
    drop(attack);
    let n = gw.seen.iter().filter(|l| l.contains("refused ")).count();
    assert!(n <= 2, "refusals are rate-limited, saw {n} lines");
}

#[tokio::test]
async fn sockets_spread_over_many_addresses_hit_the_total_cap_and_time_out() {
    let root = tempfile::tempdir().unwrap();
    let cfg = r#"{ "gateway": { "limits": { "headerReadTimeoutMs": 3000 } } }"#;
    let (_gw, port) = start_with_low_nofile(root.path(), Some(cfg));
    // 1024 - 64 reserved = 960 usable, half of it for unauthenticated sockets.
    let mut attack = Vec::new();
    for i in 0..1000 {
        attack.push(connect_from(&format!("127.0.1.{}", 1 + i % 100), port).await);
    }
    let replies = join_all(
        attack
            .iter_mut()
            .map(|s| read_reply(s, Duration::from_secs(15))),
    )
    .await;
    // Every socket was either refused at once or closed by the header timeout.
    assert!(
        replies.iter().all(Option::is_some),
        "a socket outlived the header timeout"
    );
    let refused = replies
        .iter()
        .flatten()
        .filter(|r| r.contains("gateway connection limit reached"))
        .count();
    // Exactly 520 when the 1,000 connects take less than the timeout; slots freed by
    // the timeout can only admit more, never fewer.
    assert!((1..=1000 - 480).contains(&refused), "refused {refused}");
    let h = healthz(port).await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");
}

#[tokio::test]
async fn trickled_headers_and_silent_sockets_are_closed_by_the_header_timeout() {
    let root = tempfile::tempdir().unwrap();
    write(
        &state(root.path()).join("clawdbot.json"),
        r#"{ "gateway": { "limits": { "headerReadTimeoutMs": 400 } } }"#,
    );
    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);

    let mut silent = connect_from("127.0.0.1", port).await;
    let started = Instant::now();
    assert!(
        read_reply(&mut silent, Duration::from_secs(10))
            .await
            .is_some(),
        "silent socket closed"
    );
    assert!(started.elapsed() < Duration::from_secs(8));

    // One header line every 100 ms: never a complete head, so closed at the deadline.
    let mut s = connect_from("127.0.0.1", port).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let closed = loop {
        if started.elapsed() > Duration::from_secs(10) {
            break false;
        }
        if s.write_all(b"X-Slow: 1\r\n").await.is_err() {
            break true;
        }
        match tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => continue, // e.g. a 408 before the close
            Err(_) => continue,
        }
    };
    assert!(closed, "trickling connection still open after 10 s");
    // And a normal request is unaffected.
    assert!(healthz(port).await.starts_with("HTTP/1.1 200"));
}

/// A reader that is already gone: every write to the returned writer fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    w
}

fn assert_quiet_exit(out: std::process::Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE),
        "{what}: {:?} {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[tokio::test]
async fn cli_output_into_a_closed_pipe_exits_quietly() {
    let root = tempfile::tempdir().unwrap();
    let out = command(root.path())
        .arg("--help")
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_quiet_exit(out, "--help");

    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let out = command(root.path())
        .args(["gateway", "call", "health", "--url"])
        .arg(format!("ws://127.0.0.1:{port}"))
        .args(["--token", TOKEN])
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_quiet_exit(out, "gateway call health");
}

async fn waiting_requests(ws: &mut Ws, id: &str) -> u64 {
    let r = call(ws, id, "status", serde_json::json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"]["connections"]["waitingRequests"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn fifty_thousand_agent_waits_are_bounded_and_released_on_close() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let root = tempfile::tempdir().unwrap();
    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let url = format!("ws://127.0.0.1:{port}");
    let mut observer = operator(&url).await;
    let mut ws = operator(&url).await;
    const N: usize = 50_000;
    for i in 0..N {
        let f = serde_json::json!({"type": "req", "id": format!("w{i}"), "method": "agent.wait",
            "params": {"runId": "never-started", "timeoutMs": 600_000}});
        ws.feed(Message::text(f.to_string())).await.unwrap();
    }
    ws.flush().await.unwrap();
    // Everything past the per-connection bound is answered at once with a clear error.
    let mut refused = 0;
    while refused < N - 64 {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("replies keep coming")
            .expect("open")
            .unwrap();
        let Message::Text(t) = msg else { continue };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if v["type"] != "res" {
            continue;
        }
        assert_eq!(v["ok"], false, "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains("too many requests in flight"), "{m}");
        refused += 1;
    }
    assert_eq!(waiting_requests(&mut observer, "s1").await, 64);
    drop(ws);
    // Closing the socket ends its waits: the gauge drops to zero (polled, not slept).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        i += 1;
        let n = waiting_requests(&mut observer, &format!("p{i}")).await;
        if n == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still {n} waiting after close");
        tokio::task::yield_now().await;
    }
}

/// Opens a WebSocket with these headers; `Ok(())` on 101, `Err((status, body))` else.
async fn upgrade_with(url: &str, headers: &[(&str, &str)]) -> Result<(), (u16, String)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes());
        req.headers_mut().insert(name.unwrap(), v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err((
            r.status().as_u16(),
            String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned(),
        )),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn browser_origins_are_checked_on_websocket_upgrades() {
    let root = tempfile::tempdir().unwrap();
    write(
        &state(root.path()).join("clawdbot.json"),
        r#"{ "gateway": { "controlUi": { "allowedOrigins": ["https://ui.example"] } } }"#,
    );
    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let url = format!("ws://127.0.0.1:{port}");
    let host = format!("127.0.0.1:{port}");
    for evil in [
        "http://evil.example",
        "http://127.0.0.1.evil.example",
        "null",
        "https://ui.example:444",
    ] {
        let (code, body) = upgrade_with(&url, &[("origin", evil)]).await.unwrap_err();
        assert_eq!(code, 403, "{evil}");
        assert!(body.contains("gateway.controlUi.allowedOrigins"), "{body}");
    }
    // No Origin (CLI, apps), same origin, loopback page, and the allow-list get in.
    upgrade_with(&url, &[]).await.unwrap();
    upgrade_with(&url, &[("origin", &format!("http://{host}"))])
        .await
        .unwrap();
    upgrade_with(&url, &[("origin", "http://localhost:5173")])
        .await
        .unwrap();
    upgrade_with(&url, &[("origin", "https://ui.example")])
        .await
        .unwrap();
    // Same origin is about the Host the browser used, not any loopback-looking name.
    let (code, _) = upgrade_with(
        &url,
        &[("origin", "http://gw.example"), ("host", "gw.example:1")],
    )
    .await
    .unwrap_err();
    assert_eq!(code, 403);
}

/// A WebSocket from source address `src`, past the challenge; returns the connect reply.
async fn connect_as(src: &str, port: u16, token: &str) -> serde_json::Value {
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(connect_from(src, port).await);
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}"), tcp)
        .await
        .unwrap();
    let _challenge = next(&mut ws).await;
    connect(&mut ws, base_params(Some(token))).await
}

#[tokio::test]
async fn six_hundred_bad_tokens_lock_the_address_out_but_not_loopback_for_long() {
    let root = tempfile::tempdir().unwrap();
    let (mut gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let mut locked = 0;
    for _ in 0..600 {
        let r = connect_as("127.0.0.2", port, "wrong-token").await;
        assert_eq!(r["ok"], false, "{r}");
        if r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too many failed authentication attempts; retry in")
        {
            locked += 1;
        }
    }
    assert!(locked >= 500, "only {locked} of 600 were throttled");
    // Other addresses are unaffected.
    let ok = connect_as("127.0.0.1", port, TOKEN).await;
    assert_eq!(ok["ok"], true, "{ok}");
    // The throttled loopback address gets back in within seconds with the right token.
    let started = Instant::now();
    loop {
        let r = connect_as("127.0.0.2", port, TOKEN).await;
        if r["ok"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still locked out: {r}"
        );
        tokio::task::yield_now().await;
    }
    // 600 failures cost one or two log lines, not 600.
    gw.wait_for("failed authentication attempt(s) from loopback");
    let n = gw
        .seen
        .iter()
        .filter(|l| l.contains("failed authentication"))
        .count();
    assert!(n <= 3, "{n} failure lines");
    // And the same in the log file: it grew by a few lines, not 600.
    let mut in_file = 0;
    for e in std::fs::read_dir(state(root.path()).join("logs")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        in_file += text.matches("failed authentication").count();
    }
    assert!(
        (1..=3).contains(&in_file),
        "{in_file} failure lines in the log file"
    );
}
