//! The agent's tools against a hostile model, end to end: a real gateway, a fake
//! Anthropic that asks for the tool calls, real sockets and files. web_fetch must not
//! reach the host's own network (directly, by any numeric spelling, by name or through a
//! redirect); file tools must not block on FIFOs, balloon on huge files, or hold up the
//! WebSocket while tools are stuck.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::response::Redirect;
use axum::routing::get;
use common::fakes::Reply;
use common::world::World;
use common::{call, next, operator};
use serde_json::{Value, json};

/// The run's final (or error) chat event.
async fn finished(ws: &mut common::Ws, run_id: &str) -> Value {
    common::chat_events(ws, run_id)
        .await
        .pop()
        .expect("a last event")
}

/// The tool result the model was sent in request `i` (the last message of it).
fn tool_result(req: &Value) -> String {
    req["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string()
}

async fn listen(app: Router) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    port
}

const RULE: &str = "web_fetch refuses loopback, private and link-local addresses (tools.web.fetch.allowPrivateHosts to allow a host)";

#[tokio::test]
async fn web_fetch_refuses_the_hosts_network_directly_by_name_and_through_redirects() {
    // A "secret" service on loopback that nothing may reach, and a "site" the operator
    // allowlisted by exact address and port (the stand-in for a public server).
    let secret_hits = Arc::new(AtomicUsize::new(0));
    let hits = secret_hits.clone();
    let secret = listen(Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "TOP SECRET" }
    }))
    .await;
    let site = listen(
        Router::new()
            .route("/ok", get(|| async { "hello from the site" }))
            .route("/to-self", get(|| async { Redirect::to("/ok") }))
            .route("/loop", get(|| async { Redirect::to("/loop") }))
            .route(
                "/to-secret",
                get(move || async move { Redirect::to(&format!("http://127.0.0.1:{secret}/")) }),
            )
            .route(
                "/to-localhost",
                get(move || async move { Redirect::to(&format!("http://localhost:{secret}/")) }),
            )
            .route(
                "/to-metadata",
                get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
            ),
    )
    .await;
    let w = World::new().await;
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"web": {"fetch": {"allowPrivateHosts": [format!("127.0.0.1:{site}")]}}}}),
        )
        .await;
    let gw_port = gw.port;
    let s = secret;
    // (url, what the tool result must contain)
    let cases: Vec<(String, String)> = vec![
        (format!("http://127.0.0.1:{s}/"), format!("127.0.0.1 is a loopback address; {RULE}")),
        (format!("http://0x7f000001:{s}/"), "127.0.0.1 is a loopback address".into()),
        (format!("http://2130706433:{s}/"), "127.0.0.1 is a loopback address".into()),
        (format!("http://127.1:{s}/"), "127.0.0.1 is a loopback address".into()),
        (format!("http://0177.0.0.1:{s}/"), "127.0.0.1 is a loopback address".into()),
        (format!("http://[::ffff:127.0.0.1]:{s}/"), "embeds the IPv4 address 127.0.0.1".into()),
        (format!("http://[::1]:{s}/"), "::1 is a loopback address".into()),
        (format!("http://localhost:{s}/"), "localhost resolves to".into()),
        (format!("http://LOCALHOST.:{s}/"), "resolves to".into()),
        (format!("http://127.0.0.1:{gw_port}/"), "127.0.0.1 is a loopback address".into()),
        ("http://169.254.169.254/latest/meta-data/".into(), "169.254.169.254 is a link-local address".into()),
        ("http://10.0.0.1/".into(), "is a private (RFC 1918) address".into()),
        ("http://192.168.1.1/".into(), "is a private (RFC 1918) address".into()),
        ("http://100.64.0.1/".into(), "carrier-grade NAT".into()),
        ("http://[fd00::1]/".into(), "unique-local".into()),
        ("http://[fe80::1]/".into(), "link-local".into()),
        ("http://0.0.0.0/".into(), "unspecified".into()),
        // The allowlisted site itself is reachable, and so are its same-site redirects...
        (format!("http://127.0.0.1:{site}/ok"), "hello from the site".into()),
        (format!("http://127.0.0.1:{site}/to-self"), "hello from the site".into()),
        // ...but every hop is vetted again: another port, a name, the metadata address.
        (
            format!("http://127.0.0.1:{site}/to-secret"),
            format!("redirect to http://127.0.0.1:{s}/ refused: 127.0.0.1 is a loopback address; {RULE}"),
        ),
        (format!("http://127.0.0.1:{site}/to-localhost"), format!("redirect to http://localhost:{s}/ refused: localhost resolves to")),
        (format!("http://127.0.0.1:{site}/to-metadata"), "redirect to http://169.254.169.254/latest/meta-data/ refused: 169.254.169.254 is a link-local".into()),
        (format!("http://127.0.0.1:{site}/loop"), "too many redirects (more than 3; tools.web.fetch.maxRedirects)".into()),
    ];
    let mut script: Vec<Reply> = cases
        .iter()
        .map(|(u, _)| Reply::Tool {
            name: "web_fetch".into(),
            input: json!({"url": u}),
        })
        .collect();
    script.push(Reply::Text("done".into()));
    w.anthropic.script(script);
    let mut ws = operator(&gw.url).await;
    let ack = call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "fetch them", "idempotencyKey": "fetch-1"}),
    )
    .await;
    assert_eq!(ack["payload"]["status"], "started", "{ack}");
    let last = finished(&mut ws, "fetch-1").await;
    assert_eq!(last["state"], "final", "{last}");
    let reqs = w.anthropic.requests();
    assert_eq!(reqs.len(), cases.len() + 1);
    for (i, (url, want)) in cases.iter().enumerate() {
        let got = tool_result(&reqs[i + 1]);
        assert!(
            got.contains(want.as_str()),
            "{url}: wanted {want:?}, got {got}"
        );
        assert!(!got.contains("TOP SECRET"), "{url}: {got}");
    }
    assert_eq!(
        secret_hits.load(Ordering::SeqCst),
        0,
        "the secret service was reached"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn reading_a_fifo_fails_at_once() {
    let w = World::new().await;
    let fifo = std::ffi::CString::new(w.workspace.path().join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    w.anthropic.script([
        Reply::Tool {
            name: "read".into(),
            input: json!({"path": "pipe"}),
        },
        Reply::Text("ok".into()),
    ]);
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "read the pipe", "idempotencyKey": "fifo-1"}),
    )
    .await;
    // Nobody ever writes to the FIFO: the old code blocked here forever.
    let last = tokio::time::timeout(Duration::from_secs(10), finished(&mut ws, "fifo-1"))
        .await
        .expect("the run finishes although nobody writes to the FIFO");
    assert_eq!(last["state"], "final", "{last}");
    let got = tool_result(&w.anthropic.requests()[1]);
    assert!(
        got.contains("pipe is a FIFO; read only works on regular files"),
        "{got}"
    );
    gw.shutdown().await;
}

/// Accepts connections and never answers until released.
struct Tarpit {
    port: u16,
    held: Arc<Mutex<Vec<tokio::net::TcpStream>>>,
    accepted: Arc<tokio::sync::watch::Sender<usize>>,
}

async fn tarpit() -> Tarpit {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(vec![]));
    let accepted = Arc::new(tokio::sync::watch::channel(0).0);
    let (h, a) = (held.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            h.lock().unwrap().push(s);
            a.send_modify(|n| *n += 1);
        }
    });
    Tarpit {
        port,
        held,
        accepted,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_eight_tools_are_stuck() {
    let pit = tarpit().await;
    let w = World::new().await;
    let url = format!("http://127.0.0.1:{}/", pit.port);
    w.anthropic.script((0..8).map(|_| Reply::Tool {
        name: "web_fetch".into(),
        input: json!({"url": url}),
    }));
    w.anthropic.always(Reply::Text("gave up".into()));
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({
                "agents": {"defaults": {"maxConcurrent": 8}},
                "tools": {"web": {"fetch": {"allowPrivateHosts": [format!("127.0.0.1:{}", pit.port)], "timeoutSeconds": 120}}},
            }),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    for i in 0..8 {
        let ack = call(
            &mut ws,
            &format!("s{i}"),
            "chat.send",
            json!({"sessionKey": format!("stuck-{i}"), "message": "fetch", "idempotencyKey": format!("stuck-{i}")}),
        )
        .await;
        assert_eq!(ack["payload"]["status"], "started", "{ack}");
    }
    // All eight fetches are connected and waiting on a server that never answers.
    let mut rx = pit.accepted.subscribe();
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|n| *n >= 8))
        .await
        .expect("eight fetches reach the tarpit")
        .unwrap();
    for round in 0..3 {
        let h = tokio::time::timeout(
            Duration::from_secs(2),
            call(&mut ws, &format!("h{round}"), "health", json!({})),
        )
        .await
        .expect("health answers within 2 s while eight tools are stuck");
        assert_eq!(h["ok"], true, "{h}");
    }
    // A second client can still connect and be served.
    let mut other = tokio::time::timeout(Duration::from_secs(2), operator(&gw.url))
        .await
        .expect("a new WebSocket connects while tools are stuck");
    let h = call(&mut other, "h", "health", json!({})).await;
    assert_eq!(h["ok"], true, "{h}");
    // Release the tarpit: the fetches fail, the runs finish.
    pit.held.lock().unwrap().clear();
    let mut done = std::collections::BTreeSet::new();
    while done.len() < 8 {
        let f = next(&mut ws).await.expect("socket open");
        let p = &f["payload"];
        if f["event"] == "chat" && p["state"] != "delta" {
            assert_eq!(p["state"], "final", "{p}");
            done.insert(p["runId"].as_str().unwrap().to_string());
        }
    }
    gw.shutdown().await;
}

fn status_kib(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
}

#[tokio::test]
async fn reading_a_sparse_gib_file_with_limit_1_keeps_memory_flat() {
    let w = World::new().await;
    let path = w.workspace.path().join("huge.log");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(b"first line\n").unwrap();
        f.set_len(1 << 30).unwrap();
    }
    w.anthropic.script([
        Reply::Tool {
            name: "read".into(),
            input: json!({"path": "huge.log", "limit": 1}),
        },
        Reply::Tool {
            name: "read".into(),
            input: json!({"path": "huge.log", "offset": 2}),
        },
        Reply::Text("ok".into()),
    ]);
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    let before = status_kib("VmHWM:");
    call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "read it", "idempotencyKey": "huge-1"}),
    )
    .await;
    let last = finished(&mut ws, "huge-1").await;
    assert_eq!(last["state"], "final", "{last}");
    let after = status_kib("VmHWM:");
    let reqs = w.anthropic.requests();
    let first = tool_result(&reqs[1]);
    assert!(
        first.contains("first line") && !first.contains("truncated"),
        "{first}"
    );
    // The second line is a gigabyte of NULs: capped output, not the file.
    let second = tool_result(&reqs[2]);
    assert!(
        second.contains("[output truncated at 262144 bytes"),
        "{}",
        &second[second.len() - 200..]
    );
    let grew = after.saturating_sub(before);
    assert!(
        grew < 64 * 1024,
        "peak RSS grew by {grew} KiB reading a 1 GiB file"
    );
    gw.shutdown().await;
}
