//! A bounded soak of the real release binary: for a set duration, WebSocket clients
//! churn (connect, a few calls, disconnect) beside a pool that stays connected, DM chats
//! flow through a fake Telegram that drops connections and answers 409 / 502, and a fake
//! model that sometimes hangs past the run timeout or fails. The gateway's RSS, open fds
//! and threads are sampled at an interval and their least-squares slope is reported, so
//! a leak shows as a trend rather than as one big number.
//!
//!   cargo bench --bench soak -- --duration 60s     # what CI runs
//!   SOAK_SECS=3600 cargo bench --bench soak        # the long run in BENCHMARKS.md
//!
//! `--interval 30s` overrides the sample interval (default 60 s, shorter for short runs
//! so the slope has at least a dozen points). Exits non-zero, with the reason on the
//! verdict line, when a Telegram message was not answered exactly once, a client call
//! failed, the gateway died, or the open fds did not come back near the baseline.

#[path = "../tests/common/fakes.rs"]
mod fakes;
#[path = "soak/load.rs"]
mod load;
#[path = "soak/report.rs"]
mod report;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use fakes::{BOT_TOKEN, FakeModel, FakeTelegram, FaultOdds, Reply, TgFaults};
use serde_json::json;

use load::{Shared, TOKEN};
use report::{Sample, sample};

/// Held and churning WebSocket clients, and Telegram DM chats.
const HELD: usize = 100;
const CHURN: usize = 50;
const CHATS: i64 = 8;
/// The agent run timeout the soak config sets: a hanging model call fails after this.
const RUN_TIMEOUT_S: u64 = 2;
/// After the load stops: how long replies may take to arrive, and how far the open fds
/// may stay above the pre-load baseline once every client has gone.
const DRAIN: Duration = Duration::from_secs(120);
const FD_MARGIN: usize = 32;

fn bin() -> String {
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("clawdbot").display().to_string()
}

/// `90`, `90s`, `10m`, `1h`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// `--duration` / `SOAK_SECS` (default 60 s), `--interval` / `SOAK_INTERVAL_SECS`.
fn args() -> (Duration, Duration) {
    let argv: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        argv.iter()
            .position(|a| a == name)
            .and_then(|i| argv.get(i + 1))
            .map(|v| parse_duration(v).unwrap_or_else(|| panic!("bad {name} {v}")))
    };
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| parse_duration(&v).unwrap_or_else(|| panic!("bad {name}={v}")))
    };
    let duration = flag("--duration")
        .or_else(|| env("SOAK_SECS"))
        .unwrap_or(Duration::from_secs(60));
    let interval = flag("--interval")
        .or_else(|| env("SOAK_INTERVAL_SECS"))
        .unwrap_or_else(|| (duration / 12).clamp(Duration::from_secs(5), Duration::from_secs(60)));
    (duration, interval)
}

struct Gw(Child);

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (duration, interval) = args();
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    // Mostly answers; some calls hang past the run timeout, some fail with a 500.
    model.mix(vec![
        (94, Reply::Echo),
        (3, Reply::Hang),
        (3, Reply::Status(500)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": dir.path().join("ws"), "maxConcurrent": 4,
                                "timeoutSeconds": RUN_TIMEOUT_S,
                                "model": {"primary": "anthropic/claude-soak"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-soak", "models": []}}},
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
        .args(["gateway", "--port", &port.to_string(), "--token", TOKEN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("build with `cargo bench`, which builds the release binary");
    let out = child.stdout.take().unwrap();
    let pid = child.id();
    let mut gw = Gw(child);
    let mut lines = BufReader::new(out).lines();
    for l in lines.by_ref() {
        if l.unwrap().contains("polling as") {
            break;
        }
    }
    let shared = Arc::new(Shared::default());
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                if l.contains("panicked") {
                    shared.panics.fetch_add(1, Relaxed);
                }
            }
        });
    }
    println!(
        "soak: {}s, sample every {}s; {HELD} held + {CHURN} churning WebSocket clients, {CHATS} Telegram chats; gateway pid {pid}",
        duration.as_secs(),
        interval.as_secs()
    );
    let url = format!("ws://127.0.0.1:{port}");
    let mut baseline = sample(pid, Duration::ZERO);
    baseline.tasks = load::gateway_tasks(&url).await.unwrap_or(0);
    tg.set_faults(TgFaults {
        get_updates: FaultOdds {
            drop: 20,
            conflict: 20,
            bad_gateway: 20,
        },
        // No 409 here: Telegram only answers 409 to getUpdates (another poller or a
        // webhook), and the gateway rightly treats a 4xx on sendMessage as final.
        send_message: FaultOdds {
            drop: 20,
            conflict: 0,
            bad_gateway: 20,
        },
    });

    let t0 = Instant::now();
    let end = t0 + duration;
    let mut tasks = vec![];
    tasks.push(tokio::spawn(load::collect(tg.clone(), shared.clone())));
    for i in 0..HELD {
        tasks.push(tokio::spawn(load::held(url.clone(), shared.clone(), i)));
    }
    for _ in 0..CHURN {
        tasks.push(tokio::spawn(load::churn(url.clone(), shared.clone())));
    }
    for c in 0..CHATS {
        tasks.push(tokio::spawn(load::chat(
            tg.clone(),
            shared.clone(),
            7000 + c,
        )));
    }

    let mut samples: Vec<Sample> = vec![baseline];
    let mut next = t0 + interval;
    report::header();
    report::row(&samples[0], &shared);
    let mut died = false;
    while Instant::now() < end {
        let wake = next.min(end);
        tokio::time::sleep_until(wake.into()).await;
        shared
            .model_requests
            .fetch_add(model.take_request_count(), Relaxed);
        if gw.0.try_wait().ok().flatten().is_some() {
            died = true;
            break;
        }
        if wake >= next {
            let mut s = sample(pid, t0.elapsed());
            s.tasks = load::gateway_tasks(&url).await.unwrap_or(0);
            report::row(&s, &shared);
            samples.push(s);
            next += interval;
        }
    }

    // Stop the load, let every reply arrive, let the clients' sockets close.
    shared.stop.cancel();
    let load_secs = t0.elapsed().as_secs_f64();
    let drained = load::drain(&shared, DRAIN).await;
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    let fd_limit = baseline.fds + FD_MARGIN;
    let settle = Instant::now();
    let mut last = sample(pid, t0.elapsed());
    while last.fds > fd_limit && settle.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = sample(pid, t0.elapsed());
    }
    last.tasks = load::gateway_tasks(&url).await.unwrap_or(0);
    died |= gw.0.try_wait().ok().flatten().is_some();
    shared
        .model_requests
        .fetch_add(model.take_request_count(), Relaxed);
    println!("after drain:");
    report::row(&last, &shared);

    let verdict = report::summary(report::Final {
        samples: &samples,
        last: &last,
        shared: &shared,
        injected: tg.injected(),
        served: model.served(),
        load_secs,
        drained,
        died,
        fd_limit,
    });
    drop(gw);
    if !verdict {
        std::process::exit(1);
    }
}
