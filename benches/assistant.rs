//! The assistant path against the real release binary: a fake Telegram Bot API and a
//! fake Anthropic endpoint (the ones the tests use) on 127.0.0.1, so what is measured
//! is the gateway's own cost per turn: long-poll wake-up, access check, session and
//! transcript writes (fsync), the streamed model call, HTML rendering, `sendMessage`.
//!
//!   cargo bench --bench assistant
//!
//! Rows: sequential turns in one chat (latency, update queued → reply recorded), many
//! chats at once (throughput with agents.defaults.maxConcurrent = 4), RSS afterwards.

#[path = "../tests/common/fakes.rs"]
mod fakes;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use serde_json::json;

fn bin() -> String {
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("clawdbot").display().to_string()
}

struct Gw(Child);

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(mut v: Vec<Duration>, q: f64) -> String {
    v.sort();
    let d = v[((v.len() as f64 - 1.0) * q).round() as usize];
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Text(
        "Sure — here is a **short** answer with `code`.".into(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": dir.path().join("ws"), "maxConcurrent": 4,
                                "model": {"primary": "anthropic/claude-bench"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-bench", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url, "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    std::fs::write(state.join("clawdbot.json"), cfg.to_string()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin())
        .env_clear()
        .env("HOME", dir.path().join("home"))
        .env("CLAWDBOT_STATE_DIR", &state)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["gateway", "--port", &port.to_string(), "--token", "bench"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("build with `cargo bench`, which builds the release binary");
    let out = child.stdout.take().unwrap();
    let pid = child.id();
    let _gw = Gw(child);
    let mut lines = BufReader::new(out).lines();
    for l in lines.by_ref() {
        if l.unwrap().contains("polling as") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});

    // Sequential turns in one chat.
    let n = 100;
    let mut lat = vec![];
    for i in 0..n {
        let t = Instant::now();
        tg.dm(1, &format!("question {i}"));
        tg.wait_sent(i + 1).await;
        lat.push(t.elapsed());
    }
    println!(
        "| sequential turns, one chat ({n}) | p50 {} | p99 {} |",
        pct(lat.clone(), 0.5),
        pct(lat, 0.99)
    );

    // Many chats at once.
    let chats = 50;
    let per = 4;
    let base = tg.sent().len();
    let t = Instant::now();
    for round in 0..per {
        for c in 0..chats {
            tg.dm(1000 + c, &format!("burst {round}"));
        }
    }
    tg.wait_sent(base + (chats * per) as usize).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "| {chats} chats × {per} messages, maxConcurrent 4 | {:.0} turns/s | {:.2} s total |",
        (chats * per) as f64 / secs,
        secs
    );
    println!(
        "| gateway RSS after {} turns | {:.1} MB |",
        n + (chats * per) as usize,
        rss_kb(pid) as f64 / 1024.0
    );
    assert_eq!(
        model.requests().len(),
        n + (chats * per) as usize,
        "one model call per turn"
    );
}
