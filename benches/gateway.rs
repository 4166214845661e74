//! Gateway benchmarks against the real release binary (see BENCHMARKS.md for the method):
//! start → accepting / → `/readyz`, idle RSS, RSS per idle client, 10,000 clients held,
//! closed-loop throughput (one outstanding call per client), open-loop latency at a fixed
//! offered rate, `clawdbot health` as a process, binary size. The attacks are in
//! `benches/gateway_attack.rs`.
//!
//!   cargo bench --bench gateway              # everything (a few minutes)
//!   BENCH_QUICK=1 cargo bench --bench gateway   # smaller and shorter (CI)
//!
//! The load client is `support::Lean` on `BENCH_CLIENT_THREADS` (default 2) threads in
//! this process; its CPU time is printed next to the gateway's. Traffic stays on
//! 127.0.0.0/8; every loop is bounded in count and time.

mod support;

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use support::*;

#[derive(Clone, Copy)]
enum Mode {
    /// Connect, then nothing.
    Idle,
    /// Each client: call, wait for the reply, call again, until the end.
    Closed,
    /// Each client calls `hz` times a second on a fixed schedule, whatever the replies do.
    Open { hz: f64 },
    /// Hold the connections `hold`, then one call each, all at once.
    Once { hold: Duration },
}

#[derive(Clone, Copy)]
struct Run {
    n: usize,
    method: &'static str,
    mode: Mode,
    secs: f64,
    src: fn(usize) -> Ipv4Addr,
}

#[derive(Default)]
struct Out {
    lat: Vec<u64>,
    handshakes: Vec<u64>,
    connect_wall: Duration,
    run_wall: Duration,
    failed: usize,
    late_sends: u64,
    gw_cpu: f64,
    client_cpu: f64,
    rss_connected: u64,
    rss_after: u64,
}

struct PerThread {
    lat: Vec<u64>,
    handshakes: Vec<u64>,
    failed: usize,
    late: u64,
}

/// Connects `run.n` clients over the client threads, runs `run.mode`, and measures the
/// gateway's RSS once all are connected and again after the run, before they close.
fn drive(gw: &Gw, run: Run) -> Out {
    let k = client_threads().min(run.n).max(1);
    let connected = Arc::new(Barrier::new(k + 1));
    let go = Arc::new(Barrier::new(k + 1));
    let done = Arc::new(Barrier::new(k + 1));
    let start_at = Arc::new(OnceLock::<Instant>::new());
    let port = gw.port;
    let (c2, g2, d2, s2) = (
        connected.clone(),
        go.clone(),
        done.clone(),
        start_at.clone(),
    );
    let t_connect = Instant::now();
    let threads = std::thread::spawn(move || {
        on_threads(k, move |t| {
            let (connected, go, done, start_at) = (c2.clone(), g2.clone(), d2.clone(), s2.clone());
            async move { client_thread(t, k, port, run, connected, go, done, start_at).await }
        })
    });
    connected.wait();
    let mut out = Out {
        connect_wall: t_connect.elapsed(),
        rss_connected: rss_kb(gw.pid()),
        ..Default::default()
    };
    let (gw0, me0, t0) = (cpu_secs(gw.pid()), self_cpu_secs(), Instant::now());
    // Under `BENCH_GATEWAY_BIN=<a script exec-ing valgrind --tool=callgrind>`, count
    // only the run phase: instruction counts are repeatable on a busy machine.
    let callgrind = std::env::var_os("BENCH_CALLGRIND").is_some();
    if callgrind {
        callgrind_control("-z", gw.pid());
    }
    start_at
        .set(Instant::now() + Duration::from_millis(5))
        .unwrap();
    go.wait();
    done.wait();
    if callgrind {
        callgrind_control("-d", gw.pid());
    }
    out.run_wall = t0.elapsed();
    out.gw_cpu = cpu_secs(gw.pid()) - gw0;
    out.client_cpu = self_cpu_secs() - me0;
    out.rss_after = rss_kb(gw.pid());
    for r in threads.join().unwrap() {
        out.lat.extend(r.lat);
        out.handshakes.extend(r.handshakes);
        out.failed += r.failed;
        out.late_sends += r.late;
    }
    out
}

fn callgrind_control(arg: &str, pid: u32) {
    let ok = Command::new("callgrind_control")
        .args([arg, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "callgrind_control {arg} failed");
}

#[allow(clippy::too_many_arguments)]
async fn client_thread(
    t: usize,
    k: usize,
    port: u16,
    run: Run,
    connected: Arc<Barrier>,
    go: Arc<Barrier>,
    done: Arc<Barrier>,
    start_at: Arc<OnceLock<Instant>>,
) -> PerThread {
    let mine: Vec<usize> = (t..run.n).step_by(k).collect();
    let mut clients = Vec::with_capacity(mine.len());
    let mut handshakes = Vec::with_capacity(mine.len());
    let mut failed = 0;
    // 25 handshakes at a time per thread: well under the per-address pre-auth cap.
    for batch in mine.chunks(25) {
        let rs = join_all(batch.iter().map(|&i| async move {
            let t = Instant::now();
            let c = Lean::connect((run.src)(i), port, TOKEN).await;
            (i, c, t.elapsed())
        }))
        .await;
        for (i, c, d) in rs {
            match c {
                Ok(c) => {
                    clients.push((i, c, Req::new(run.method)));
                    handshakes.push(d.as_nanos() as u64);
                }
                Err(e) => {
                    if failed == 0 {
                        eprintln!("client {i} failed to connect: {e}");
                    }
                    failed += 1;
                }
            }
        }
    }
    connected.wait();
    go.wait();
    let start = *start_at.get().unwrap();
    let end = start + Duration::from_secs_f64(run.secs);
    tokio::time::sleep_until(start.into()).await;
    let n = run.n;
    let results = join_all(clients.iter_mut().map(|(i, c, req)| {
        let i = *i;
        async move { one_client(c, req, run.mode, i, n, start, end).await }
    }))
    .await;
    done.wait();
    let mut lat = vec![];
    let mut late = 0;
    for (l, lt, ok) in results {
        lat.extend(l);
        late += lt;
        failed += usize::from(!ok);
    }
    PerThread {
        lat,
        handshakes,
        failed,
        late,
    }
}

/// One call: send, read until its reply; the latency in ns, None if the socket closed.
async fn call(c: &mut Lean, req: &mut Req, seq: &mut u32) -> Option<u64> {
    *seq += 1;
    let mut id = [0u8; 9];
    id.copy_from_slice(req.set(*seq));
    let t = Instant::now();
    if c.send(&req.bytes).await.is_err() || !c.until_res(&id).await {
        return None;
    }
    Some(t.elapsed().as_nanos() as u64)
}

/// One client's part of a run: latencies, calls due before the previous reply came, ok.
async fn one_client(
    c: &mut Lean,
    req: &mut Req,
    mode: Mode,
    i: usize,
    n: usize,
    start: Instant,
    end: Instant,
) -> (Vec<u64>, u64, bool) {
    let mut lat = vec![];
    let mut late = 0;
    let mut seq = 0u32;
    match mode {
        Mode::Idle => {}
        Mode::Closed => {
            while Instant::now() < end {
                match call(c, req, &mut seq).await {
                    Some(d) => lat.push(d),
                    None => return (lat, late, false),
                }
            }
        }
        Mode::Open { hz } => {
            let period = Duration::from_secs_f64(1.0 / hz);
            let mut slot = start + period.mul_f64(i as f64 / n as f64);
            while slot < end {
                // The previous reply came after this call was due: the one case where a
                // closed loop would hide latency (coordinated omission); counted.
                if Instant::now() > slot {
                    late += 1;
                }
                tokio::time::sleep_until(slot.into()).await;
                match call(c, req, &mut seq).await {
                    Some(d) => lat.push(d),
                    None => return (lat, late, false),
                }
                slot += period;
            }
        }
        Mode::Once { hold } => {
            tokio::time::sleep_until((start + hold).into()).await;
            match call(c, req, &mut seq).await {
                Some(d) => lat.push(d),
                None => return (lat, late, false),
            }
        }
    }
    (lat, late, true)
}

fn local(_: usize) -> Ipv4Addr {
    Ipv4Addr::LOCALHOST
}

fn cpu_note(o: &Out) -> String {
    let w = o.run_wall.as_secs_f64();
    format!(
        "gateway CPU {:.0}%, client CPU {:.0}% (of 200%)",
        100.0 * o.gw_cpu / w,
        100.0 * o.client_cpu / w
    )
}

fn start_rows(runs: usize) {
    let (mut acc, mut ready, mut line) = (vec![], vec![], vec![]);
    for _ in 0..runs {
        let gw = Gw::spawn(None);
        acc.push(gw.wait_accepting().as_nanos() as u64);
        ready.push(gw.wait_ready().as_nanos() as u64);
        line.push(gw.wait_listening_line().as_nanos() as u64);
    }
    let (a, r, l) = (pct(acc), pct(ready), pct(line));
    println!(
        "| start → port accepts | median {} (max {}) |",
        ms(a.p50),
        ms(a.max)
    );
    println!(
        "| start → /readyz 200 | median {} (max {}) |",
        ms(r.p50),
        ms(r.max)
    );
    println!(
        "| start → \"listening on\" | median {} (max {}) |",
        ms(l.p50),
        ms(l.max)
    );
}

fn main() {
    let quick = quick();
    let nofile = raise_nofile();
    let runs = if quick { 3 } else { 10 };
    let k = client_threads();
    println!(
        "clawdbot {} gateway benchmarks (binary {})",
        env!("CARGO_PKG_VERSION"),
        bin()
    );
    println!("client threads: {k}; bench open-file limit {nofile}; quick: {quick}");
    println!("\n| measurement | result |\n| --- | --- |");
    println!(
        "| binary size | {:.2} MB |",
        std::fs::metadata(bin()).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    if section("start") {
        start_rows(runs);
    }
    if section("idle") {
        idle_rows(runs);
    }
    if section("held") {
        held_row(nofile);
    }
    if section("load") {
        load_rows();
    }
}

/// Idle RSS, `clawdbot health` as a process, then RSS per idle connected client.
fn idle_rows(runs: usize) {
    let quick = quick();
    // Idle RSS, then RSS per idle connected client, on one gateway.
    let gw = Gw::spawn(None);
    gw.wait_ready();
    let idle_secs = if quick { 2 } else { 10 };
    std::thread::sleep(Duration::from_secs(idle_secs));
    let idle = rss_kb(gw.pid());
    println!(
        "| RSS after {idle_secs} s idle | {:.1} MB, {} threads |",
        idle as f64 / 1024.0,
        status_field(gw.pid(), "Threads:")
    );
    let mut cli = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(bin())
            .env("CLAWDBOT_GATEWAY_TOKEN", TOKEN)
            .env("HOME", gw.dir.path().join("clienthome"))
            .args(["health", "--url", &format!("ws://127.0.0.1:{}", gw.port)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cli.push(t.elapsed().as_nanos() as u64);
    }
    println!(
        "| `clawdbot health` process start → exit | median {} |",
        ms(pct(cli).p50)
    );
    let n_idle = if quick { 200 } else { 1000 };
    let before = rss_kb(gw.pid());
    let o = drive(
        &gw,
        Run {
            n: n_idle,
            method: "health",
            mode: Mode::Idle,
            secs: 0.0,
            src: local,
        },
    );
    println!(
        "| RSS per idle connected client ({n_idle} clients) | {:.1} KB ({:.1} → {:.1} MB) |",
        (o.rss_connected.saturating_sub(before)) as f64 / n_idle as f64,
        before as f64 / 1024.0,
        o.rss_connected as f64 / 1024.0
    );
    drop(gw);
}

/// Many clients held, then one call each.
fn held_row(nofile: u64) {
    let quick = quick();
    // Many clients held, then one call each.
    let n_held = if quick { 2000 } else { 10_000 };
    if nofile < n_held as u64 + 256 {
        println!("| {n_held} clients held | skipped: open-file limit {nofile} |");
    } else {
        let gw = Gw::spawn(None);
        gw.wait_ready();
        let hold = Duration::from_secs(if quick { 2 } else { 10 });
        let o = drive(
            &gw,
            Run {
                n: n_held,
                method: "health",
                mode: Mode::Once { hold },
                secs: 0.0,
                src: spread_source,
            },
        );
        let hs = pct(o.handshakes.clone());
        let l = pct(o.lat.clone());
        println!(
            "| {n_held} clients held {}s | connected in {:.1} s (handshake p50 {} p99 {}), RSS {:.1} MB = {:.1} KB/client; then one `health` each at once: {} answered, p50 {} p99 {} max {}; RSS after {:.1} MB; failed {} |",
            hold.as_secs(),
            o.connect_wall.as_secs_f64(),
            ms(hs.p50),
            ms(hs.p99),
            o.rss_connected as f64 / 1024.0,
            o.rss_connected as f64 / n_held as f64,
            l.n,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            o.rss_after as f64 / 1024.0,
            o.failed
        );
    }
}

/// Closed and open loop on one gateway.
fn load_rows() {
    let quick = quick();
    // Closed and open loop on one gateway.
    let gw = Gw::spawn(None);
    gw.wait_ready();
    let secs = if quick { 2.0 } else { 10.0 };
    println!(
        "\n| clients | mode | method | calls/s | p50 | p99 | p99.9 | late sends | gateway RSS | CPU |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let rows: &[(usize, Mode, &str)] = &[
        (1, Mode::Closed, "health"),
        (100, Mode::Closed, "health"),
        (1000, Mode::Closed, "health"),
        (1000, Mode::Closed, "system-presence"),
        (1000, Mode::Open { hz: 2.0 }, "health"),
        (1000, Mode::Open { hz: 10.0 }, "health"),
    ];
    // `BENCH_ROWS=2,3` runs only those rows (0-based), e.g. to profile one of them.
    let only: Option<Vec<usize>> = std::env::var("BENCH_ROWS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect());
    for (row, &(n, mode, method)) in rows.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&row)) {
            continue;
        }
        let o = drive(
            &gw,
            Run {
                n,
                method,
                mode,
                secs,
                src: local,
            },
        );
        let l = pct(o.lat.clone());
        if std::env::var_os("BENCH_CALLGRIND").is_some() {
            println!("(callgrind: {} calls in the counted phase)", l.n);
        }
        let label = match mode {
            Mode::Closed => "closed loop".to_string(),
            Mode::Open { hz } => format!("open loop, {:.0} calls/s offered", hz * n as f64),
            _ => unreachable!(),
        };
        println!(
            "| {n} | {label} | {method} | {:.0} | {} | {} | {} | {} | {:.1} MB | {}{} |",
            l.n as f64 / secs,
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            o.late_sends,
            o.rss_after as f64 / 1024.0,
            cpu_note(&o),
            if o.failed > 0 {
                format!("; {} clients failed", o.failed)
            } else {
                String::new()
            }
        );
    }
    println!(
        "peak gateway RSS over the load rows: {} KB",
        status_field(gw.pid(), "VmHWM:")
    );
}
