//! An honest client's latency while an attacker runs each attack the gateway defends
//! against (src/server/{accept,limits,throttle,origin}.rs; tests/limits.rs drives the
//! same attacks for correctness). For each attack: a fresh gateway, honest open-loop
//! load for a quiet window, then the same load for a window with the attack running.
//!
//!   cargo bench --bench gateway_attack
//!   BENCH_QUICK=1 cargo bench --bench gateway_attack
//!
//! The honest clients come from 127.0.0.1, the attacker from 127.0.0.2 (each on its own
//! thread of this process, so their CPU time is read per thread). Traffic stays on
//! 127.0.0.0/8; every loop is bounded in count and time.

mod support;

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Honest load: this many clients, each calling `health` this often.
const HONEST_CLIENTS: usize = 50;
const HONEST_HZ: f64 = 20.0;

#[derive(Clone, Copy, Debug)]
enum Attack {
    Silent,
    Slowloris,
    BadToken,
    Oversize,
    AgentWait,
    EvilOrigin,
}

impl Attack {
    fn describe(self) -> &'static str {
        match self {
            Attack::Silent => "2,000 silent TCP connections, held",
            Attack::Slowloris => "250 sockets trickling one header line per 100 ms each",
            Attack::BadToken => "wrong-token connects, paced at 500/s",
            Attack::Oversize => "pre-auth frames announcing 1 MiB (64 KiB sent), 64 at a time",
            Attack::AgentWait => "50,000 agent.wait frames on one connection, then held",
            Attack::EvilOrigin => "upgrades with Origin http://evil.example, paced at 1,000/s",
        }
    }
}

/// What the attacker did during the window.
#[derive(Default, Debug)]
struct Report {
    ops: u64,
    note: String,
    cpu: f64,
}

/// Spawns `f()` `rate` times a second with at most `cap` running; counts the trues.
async fn paced<F, Fut>(rate: f64, cap: usize, stop: Arc<AtomicBool>, f: F) -> (u64, u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let running = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let (mut spawned, mut skipped) = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(60) {
        tick.tick().await;
        let due = (t0.elapsed().as_secs_f64() * rate) as u64;
        while spawned + skipped < due {
            if running.load(Ordering::Relaxed) >= cap {
                skipped += 1;
                continue;
            }
            spawned += 1;
            running.fetch_add(1, Ordering::Relaxed);
            let (r, k, fut) = (running.clone(), ok.clone(), f());
            tokio::spawn(async move {
                if fut.await {
                    k.fetch_add(1, Ordering::Relaxed);
                }
                r.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
    (ok.load(Ordering::Relaxed), skipped)
}

async fn bad_token(port: u16) -> bool {
    match Lean::connect(ATTACKER, port, "wrong-token").await {
        Ok(_) => false,
        Err(e) => e.contains(r#""ok":false"#),
    }
}

async fn evil_origin(port: u16) -> bool {
    match Lean::upgrade(ATTACKER, port, "Origin: http://evil.example\r\n").await {
        Ok(_) => false,
        Err(head) => head.starts_with("HTTP/1.1 403"),
    }
}

/// Announces a 1 MiB frame before authenticating; true when the gateway closes it.
async fn oversize(port: u16) -> bool {
    let Ok(mut c) = Lean::upgrade(ATTACKER, port, "").await else {
        return false;
    };
    if c.next_frame().await.is_none() {
        return false;
    }
    let mut f = vec![0x81, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 20).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend(std::iter::repeat_n(b'x', 64 * 1024));
    let _ = c.send(&f).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.next_frame().await {
                Some(Frame::Close) | None => return true,
                Some(_) => continue,
            }
        }
    });
    closed.await.unwrap_or(false)
}

/// Counts `res` frames read from `r` until `n` arrived; false if the socket closed.
async fn count_res(r: &mut tokio::net::tcp::ReadHalf<'_>, n: usize) -> bool {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let (mut pos, mut seen) = (0usize, 0usize);
    while seen < n {
        loop {
            let b = &buf[pos..];
            if b.len() < 2 {
                break;
            }
            let (len, hdr) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => (
                    u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                l => (l as usize, 2),
            };
            if b.len() < hdr + len {
                break;
            }
            if b[hdr..].starts_with(RES_PREFIX) {
                seen += 1;
            }
            pos += hdr + len;
        }
        buf.drain(..pos);
        pos = 0;
        buf.reserve(1 << 16);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    true
}

async fn run_attack(
    a: Attack,
    port: u16,
    quiet_done: Arc<Barrier>,
    ready: Arc<Barrier>,
    stop: Arc<AtomicBool>,
) -> Report {
    quiet_done.wait();
    let tid = gettid();
    // The attacker's CPU is counted from the moment it is in place (setup excluded).
    let mut cpu0 = 0.0;
    let mut in_place = || {
        ready.wait();
        cpu0 = thread_cpu_secs(tid);
    };
    let mut rep = Report::default();
    match a {
        Attack::Silent => {
            let mut held = vec![];
            for _ in 0..2000 {
                if let Ok(s) = tcp_from(ATTACKER, port).await {
                    held.push(s);
                }
            }
            in_place();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut silent = 0;
            let mut buf = [0u8; 256];
            for s in &held {
                if matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                {
                    silent += 1;
                }
            }
            rep.ops = held.len() as u64;
            rep.note =
                format!("{silent} still held open by the gateway at the end, the rest refused");
        }
        Attack::Slowloris => {
            let mut socks = vec![];
            for _ in 0..250 {
                if let Ok(mut s) = tcp_from(ATTACKER, port).await {
                    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                    socks.push(Some(s));
                }
            }
            in_place();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let (mut lines, mut closed) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for s in socks.iter_mut() {
                    let dead = match s {
                        Some(t) => t.try_write(b"X-Slow: 1\r\n").is_err(),
                        None => false,
                    };
                    if dead {
                        closed += 1;
                        *s = tcp_from(ATTACKER, port).await.ok();
                    } else {
                        lines += 1;
                    }
                }
            }
            rep.ops = lines;
            rep.note = format!(
                "{} sockets, {closed} closed by the gateway and reopened",
                socks.len()
            );
        }
        Attack::BadToken | Attack::EvilOrigin | Attack::Oversize => {
            in_place();
            let (ok, skipped) = match a {
                Attack::BadToken => paced(500.0, 256, stop.clone(), move || bad_token(port)).await,
                Attack::EvilOrigin => {
                    paced(1000.0, 256, stop.clone(), move || evil_origin(port)).await
                }
                _ => paced(1000.0, 64, stop.clone(), move || oversize(port)).await,
            };
            rep.ops = ok;
            rep.note = format!("{skipped} slots skipped at the concurrency cap");
        }
        Attack::AgentWait => {
            let mut c = Lean::connect(ATTACKER, port, TOKEN)
                .await
                .expect("attacker connects");
            const N: usize = 50_000;
            let mut batch = Vec::with_capacity(N * 120);
            for i in 0..N {
                batch.extend(text(&format!(
                    r#"{{"type":"req","id":"w{i}","method":"agent.wait","params":{{"runId":"never-started","timeoutMs":600000}}}}"#
                )));
            }
            in_place();
            let t = Instant::now();
            let (mut r, mut w) = c.s.split();
            let (sent, all) = tokio::join!(w.write_all(&batch), count_res(&mut r, N - 64));
            rep.ops = N as u64;
            rep.note = format!(
                "all {} refusals back in {} ({}), 64 held waiting",
                N - 64,
                dms(t.elapsed()),
                if sent.is_ok() && all {
                    "ok"
                } else {
                    "connection lost"
                }
            );
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    rep.cpu = thread_cpu_secs(tid) - cpu0;
    rep
}

/// Honest open-loop load: latencies (ns) of the quiet window and of the attack window,
/// and this thread's CPU seconds in each.
async fn honest(port: u16, secs: f64, bars: [Arc<Barrier>; 3]) -> ([Vec<u64>; 2], [f64; 2]) {
    let tid = gettid();
    let mut clients = vec![];
    for _ in 0..HONEST_CLIENTS {
        clients.push((
            Lean::connect(Ipv4Addr::LOCALHOST, port, TOKEN)
                .await
                .expect("honest connects"),
            Req::new("health"),
        ));
    }
    let mut out: [Vec<u64>; 2] = [vec![], vec![]];
    let mut cpu = [0.0; 2];
    bars[0].wait(); // connected
    for (w, lat) in out.iter_mut().enumerate() {
        if w == 1 {
            bars[1].wait(); // quiet window over
            bars[2].wait(); // the attacker is in place
        }
        let c0 = thread_cpu_secs(tid);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        let period = Duration::from_secs_f64(1.0 / HONEST_HZ);
        let res = join_all(
            clients
                .iter_mut()
                .enumerate()
                .map(|(i, (c, req))| async move {
                    let mut lat = vec![];
                    let mut slot = start + period.mul_f64(i as f64 / HONEST_CLIENTS as f64);
                    let mut seq = (w as u32) << 24;
                    while slot < end {
                        tokio::time::sleep_until(slot.into()).await;
                        seq += 1;
                        let mut id = [0u8; 9];
                        id.copy_from_slice(req.set(seq));
                        let t = Instant::now();
                        if c.send(&req.bytes).await.is_err() || !c.until_res(&id).await {
                            panic!("honest client lost its connection");
                        }
                        lat.push(t.elapsed().as_nanos() as u64);
                        slot += period;
                    }
                    lat
                }),
        )
        .await;
        *lat = res.into_iter().flatten().collect();
        cpu[w] = thread_cpu_secs(tid) - c0;
    }
    (out, cpu)
}

fn main() {
    let quick = quick();
    raise_nofile();
    let secs = if quick { 2.0 } else { 5.0 };
    println!(
        "clawdbot {} attack benchmarks (binary {})",
        env!("CARGO_PKG_VERSION"),
        bin()
    );
    println!(
        "honest load: {HONEST_CLIENTS} clients × {HONEST_HZ} health calls/s, open loop, {secs} s quiet then {secs} s under attack"
    );
    println!(
        "\n| attack | quiet p50 / p99 / p99.9 | under attack p50 / p99 / p99.9 | p99 ratio | attack done | gateway CPU quiet → attack | attacker CPU |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for a in [
        Attack::Silent,
        Attack::Slowloris,
        Attack::BadToken,
        Attack::Oversize,
        Attack::AgentWait,
        Attack::EvilOrigin,
    ] {
        // `BENCH_ATTACKS=AgentWait,Silent` runs only those.
        if std::env::var("BENCH_ATTACKS")
            .is_ok_and(|v| !v.split(',').any(|x| x == format!("{a:?}")))
        {
            continue;
        }
        let gw = Gw::spawn(None);
        gw.wait_ready();
        let port = gw.port;
        // Honest thread, attacker thread and main meet at these.
        let go = Arc::new(Barrier::new(2));
        let quiet_done = Arc::new(Barrier::new(3));
        let ready = Arc::new(Barrier::new(3));
        let stop = Arc::new(AtomicBool::new(false));
        let bars = [go.clone(), quiet_done.clone(), ready.clone()];
        let h = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(honest(port, secs, bars))
        });
        let (q2, r2, s2) = (quiet_done.clone(), ready.clone(), stop.clone());
        let atk = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run_attack(a, port, q2, r2, s2))
        });
        go.wait();
        let (gw_cpu0, t0) = (cpu_secs(gw.pid()), Instant::now());
        quiet_done.wait();
        let gw_quiet = (cpu_secs(gw.pid()) - gw_cpu0) / t0.elapsed().as_secs_f64();
        ready.wait();
        let (gw_cpu1, t1) = (cpu_secs(gw.pid()), Instant::now());
        let ([q, u], _hcpu) = h.join().unwrap();
        let atk_wall = t1.elapsed().as_secs_f64();
        let gw_attack = (cpu_secs(gw.pid()) - gw_cpu1) / atk_wall;
        stop.store(true, Ordering::Relaxed);
        let rep = atk.join().unwrap();
        let (q, u) = (pct(q), pct(u));
        println!(
            "| {} | {} / {} / {} | {} / {} / {} | {:.2}× | {} ({}) | {:.0}% → {:.0}% | {:.0}% |",
            a.describe(),
            ms(q.p50),
            ms(q.p99),
            ms(q.p999),
            ms(u.p50),
            ms(u.p99),
            ms(u.p999),
            u.p99 as f64 / q.p99.max(1) as f64,
            rep.ops,
            rep.note,
            100.0 * gw_quiet,
            100.0 * gw_attack,
            100.0 * rep.cpu / atk_wall,
        );
    }
}
