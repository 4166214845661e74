//! Gateway benchmarks against the real release binary, mirroring the reference
//! measurements of the original (shared/spec/reference-measurements.md):
//! start to listening, idle memory, `clawdbot health` round trip, and `health` /
//! `system-presence` load with 1, 100 and 1000 WebSocket clients × 20 calls.
//!
//!   cargo bench --bench gateway              # everything
//!   BENCH_QUICK=1 cargo bench --bench gateway
//!
//! Traffic stays on 127.0.0.1; every loop is bounded in count and time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "bench-token";

fn bin() -> String {
    // `cargo bench` builds the binary with the bench (release) profile next to us.
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("clawdbot").display().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Gw {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the gateway; returns it with (spawn→port accepts, spawn→"listening on" line).
fn start() -> (Gw, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let t0 = Instant::now();
    let mut child = Command::new(bin())
        .env_clear()
        .env("HOME", dir.path().join("home"))
        .env("CLAWDBOT_STATE_DIR", dir.path().join("state"))
        .args(["gateway", "--port", &port.to_string(), "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gateway");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let accept = loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "gateway did not start"
        );
    };
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("listening line")
        - t0;
    (
        Gw {
            child,
            port,
            _dir: dir,
        },
        accept,
        line,
    )
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let pick = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (v[0], pick(0.5), pick(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn client(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("connect");
    let _challenge = ws.next().await;
    let connect = json!({"type": "req", "id": "c", "method": "connect", "params": {
        "minProtocol": 3, "maxProtocol": 3, "auth": {"token": TOKEN},
        "client": {"id": "cli", "version": "bench", "platform": "linux", "mode": "cli"}}});
    ws.send(Message::text(connect.to_string())).await.unwrap();
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == "c" {
                assert_eq!(v["ok"], true, "{v}");
                return ws;
            }
        }
    }
}

/// N clients connect, then each makes `calls` sequential calls; returns per-call latencies
/// and the wall time of the call phase.
async fn load(
    port: u16,
    n: usize,
    calls: usize,
    method: &'static str,
) -> (Vec<Duration>, Duration, Duration) {
    let url = format!("ws://127.0.0.1:{port}");
    let mut conns = vec![];
    let mut handshakes = vec![];
    for chunk in 0..n.div_ceil(50) {
        let batch: Vec<_> = (0..50.min(n - chunk * 50))
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    let ws = client(&url).await;
                    (ws, t.elapsed())
                })
            })
            .collect();
        for b in batch {
            let (ws, d) = b.await.unwrap();
            conns.push(ws);
            handshakes.push(d);
        }
    }
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut lat = vec![];
                for i in 0..calls {
                    let id = format!("r{i}");
                    let t = Instant::now();
                    ws.send(Message::text(
                        json!({"type": "req", "id": id, "method": method}).to_string(),
                    ))
                    .await
                    .unwrap();
                    loop {
                        match tokio::time::timeout(Duration::from_secs(120), ws.next()).await {
                            Ok(Some(Ok(Message::Text(t2)))) => {
                                let v: Value = serde_json::from_str(&t2).unwrap();
                                if v["id"] == id.as_str() {
                                    break;
                                }
                            }
                            other => panic!("load client: {other:?}"),
                        }
                    }
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let (_, hs50, _) = stats(handshakes);
    (all, started.elapsed(), hs50)
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let runs = if quick { 3 } else { 10 };
    println!(
        "clawdbot {} benchmarks (binary {})",
        env!("CARGO_PKG_VERSION"),
        bin()
    );
    println!(
        "binary size: {:.1} MB",
        std::fs::metadata(bin()).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );

    let mut accepts = vec![];
    let mut lines = vec![];
    for _ in 0..runs {
        let (_gw, a, l) = start();
        accepts.push(a);
        lines.push(l);
    }
    let (a0, a50, _) = stats(accepts);
    let (l0, l50, _) = stats(lines);
    println!(
        "start → port accepts: min {} / median {}   ({runs} runs)",
        ms(a0),
        ms(a50)
    );
    println!(
        "start → \"listening on\": min {} / median {}",
        ms(l0),
        ms(l50)
    );

    let (gw, _, _) = start();
    let pid = gw.child.id();
    std::thread::sleep(Duration::from_secs(if quick { 2 } else { 10 }));
    println!(
        "idle RSS after {}s: {} KB (peak {} KB), threads {}",
        if quick { 2 } else { 10 },
        rss_kb(pid, "VmRSS:"),
        rss_kb(pid, "VmHWM:"),
        rss_kb(pid, "Threads:")
    );

    let mut cli = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(bin())
            .env("CLAWDBOT_GATEWAY_TOKEN", TOKEN)
            .env("HOME", gw._dir.path().join("clienthome"))
            .args(["health", "--url", &format!("ws://127.0.0.1:{}", gw.port)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cli.push(t.elapsed());
    }
    let (c0, c50, _) = stats(cli);
    println!(
        "`clawdbot health` round trip (process start to exit): min {} / median {}",
        ms(c0),
        ms(c50)
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let sizes: &[usize] = if quick { &[1, 100] } else { &[1, 100, 1000] };
    println!(
        "\n| clients × calls | method | calls/s | p50 | p99 | handshake p50 | gateway RSS after |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &n in sizes {
        for method in ["health", "system-presence"] {
            let calls = if n == 1 { 500 } else { 20 };
            let (lat, wall, hs) = rt.block_on(load(gw.port, n, calls, method));
            let count = lat.len();
            let (_, p50, p99) = stats(lat);
            println!(
                "| {n} × {calls} | {method} | {:.0} | {} | {} | {} | {} KB |",
                count as f64 / wall.as_secs_f64(),
                ms(p50),
                ms(p99),
                ms(hs),
                rss_kb(pid, "VmRSS:")
            );
        }
    }
    println!("peak RSS over the whole run: {} KB", rss_kb(pid, "VmHWM:"));
}
