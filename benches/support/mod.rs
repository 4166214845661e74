//! Shared by the gateway benches: the release binary as a child process, `/proc`
//! readings, percentiles, and a lean WebSocket client.
//!
//! Why a hand-rolled client: the load client shares the machine's 2 cores with the
//! gateway, so every cycle it spends is a cycle the gateway does not get. This one sends
//! pre-serialised frames (masked with the all-zero key, which RFC 6455 allows, so the
//! payload is copied as is), and recognises its reply by the fixed prefix the gateway
//! writes (`{"type":"res","id":"<id>"`) instead of parsing JSON.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub const TOKEN: &str = "bench-token";

/// The gateway binary: `BENCH_GATEWAY_BIN` (e.g. the `profiling` build, for perf), else
/// the release binary `cargo bench` built next to us.
pub fn bin() -> String {
    if let Some(b) = std::env::var_os("BENCH_GATEWAY_BIN") {
        return b.to_string_lossy().into_owned();
    }
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("clawdbot").display().to_string()
}

/// `BENCH_ONLY=load,held` runs only those sections (start, idle, held, load).
pub fn section(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |v| v.split(',').any(|s| s == name))
}

pub fn quick() -> bool {
    std::env::var_os("BENCH_QUICK").is_some()
}

/// Client threads (each a current-thread tokio runtime); default 2, one per core.
pub fn client_threads() -> usize {
    std::env::var("BENCH_CLIENT_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Gw {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub started: Instant,
    listening: std::sync::mpsc::Receiver<Instant>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gw {
    /// Spawns the gateway in fresh temp dirs, optionally with a `clawdbot.json`.
    pub fn spawn(config: Option<&str>) -> Gw {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        if let Some(c) = config {
            std::fs::create_dir_all(&state).unwrap();
            std::fs::write(state.join("clawdbot.json"), c).unwrap();
        }
        let port = free_port();
        let started = Instant::now();
        let mut child = Command::new(bin())
            .env_clear()
            .env("HOME", dir.path().join("home"))
            .env("CLAWDBOT_STATE_DIR", &state)
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
        Gw {
            child,
            port,
            dir,
            started,
            listening: rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Spawn → the port accepts a TCP connection (polled, at most 10 s).
    pub fn wait_accepting(&self) -> Duration {
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return self.started.elapsed();
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(10),
                "no accept"
            );
        }
    }

    /// Spawn → `GET /readyz` answers 200 (polled, at most 10 s).
    pub fn wait_ready(&self) -> Duration {
        use std::io::{Read, Write};
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(
                    b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                );
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                if buf.starts_with(b"HTTP/1.1 200") {
                    return self.started.elapsed();
                }
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(10),
                "not ready"
            );
        }
    }

    /// Spawn → the "listening on" line on stdout.
    pub fn wait_listening_line(&self) -> Duration {
        self.listening
            .recv_timeout(Duration::from_secs(10))
            .expect("listening line")
            - self.started
    }
}

/// A field of `/proc/<pid>/status` in kB (or a count, for `Threads:`).
pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn rss_kb(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

/// utime + stime in clock ticks of a `/proc/.../stat` file.
fn cpu_ticks_of(path: &str) -> u64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = s.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// CPU time used so far, in seconds: a process, or one thread of this process.
pub fn cpu_secs(pid: u32) -> f64 {
    cpu_ticks_of(&format!("/proc/{pid}/stat")) as f64 / ticks_per_sec()
}

pub fn self_cpu_secs() -> f64 {
    cpu_ticks_of("/proc/self/stat") as f64 / ticks_per_sec()
}

pub fn thread_cpu_secs(tid: i64) -> f64 {
    cpu_ticks_of(&format!("/proc/self/task/{tid}/stat")) as f64 / ticks_per_sec()
}

pub fn gettid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    #[allow(unsafe_code)]
    unsafe {
        libc::gettid() as i64
    }
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf only reads a constant.
    #[allow(unsafe_code)]
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Raises this process's soft open-file limit to the hard one; returns it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    #[allow(unsafe_code)]
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

/// Latency summary in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pct {
    pub n: usize,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

pub fn pct(mut v: Vec<u64>) -> Pct {
    if v.is_empty() {
        return Pct::default();
    }
    v.sort_unstable();
    let pick = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    Pct {
        n: v.len(),
        p50: pick(0.5),
        p99: pick(0.99),
        p999: pick(0.999),
        max: *v.last().unwrap(),
    }
}

pub fn ms(ns: u64) -> String {
    let m = ns as f64 / 1e6;
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 10.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.2} ms")
    }
}

pub fn dms(d: Duration) -> String {
    ms(d.as_nanos() as u64)
}

/// The `i`-th client's source address: 1,000 clients per address from 127.0.1.1 up, so
/// 10,000 clients never run a single address out of ephemeral ports.
pub fn spread_source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 1, 1 + (i / 1000) as u8)
}

/// A TCP connection from `src` (any 127/8 address works on Linux loopback).
pub async fn tcp_from(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let t = s.connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    t.set_nodelay(true)?;
    Ok(t)
}

/// A client frame: FIN + `opcode`, masked with the zero key (payload copied as is).
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

pub fn text(payload: &str) -> Vec<u8> {
    frame(0x1, payload.as_bytes())
}

/// The HTTP upgrade request, with optional extra header lines (each ending in CRLF).
pub fn upgrade_request(port: u16, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The `connect` request of a cli-mode operator with `token`.
pub fn connect_frame(token: &str) -> Vec<u8> {
    text(&format!(
        r#"{{"type":"req","id":"c","method":"connect","params":{{"minProtocol":3,"maxProtocol":3,"auth":{{"token":"{token}"}},"role":"operator","scopes":["operator.admin"],"client":{{"id":"cli","version":"bench","platform":"linux","mode":"cli"}}}}}}"#
    ))
}

pub const RES_PREFIX: &[u8] = br#"{"type":"res","id":""#;

/// One WebSocket connection with its read buffer.
pub struct Lean {
    pub s: TcpStream,
    buf: Vec<u8>,
    /// Start of unparsed bytes in `buf`.
    pos: usize,
}

pub enum Frame {
    Text(std::ops::Range<usize>),
    Close,
}

impl Lean {
    /// TCP connect from `src` and the HTTP upgrade; `Err(head)` when the answer is not 101.
    pub async fn upgrade(src: Ipv4Addr, port: u16, extra: &str) -> Result<Lean, String> {
        let mut s = tcp_from(src, port).await.map_err(|e| e.to_string())?;
        s.write_all(upgrade_request(port, extra).as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(2048);
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(String::from_utf8_lossy(&buf).into_owned());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            return Err(String::from_utf8_lossy(&buf).into_owned());
        }
        Ok(Lean { s, buf, pos: end })
    }

    /// Upgrade, challenge, `connect` with `token`; `Err(reply)` when not ok.
    pub async fn connect(src: Ipv4Addr, port: u16, token: &str) -> Result<Lean, String> {
        let mut c = Lean::upgrade(src, port, "").await?;
        c.next_frame().await.ok_or("no challenge")?;
        c.send(&connect_frame(token))
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let r = match c.next_frame().await {
                Some(Frame::Text(r)) => r,
                _ => return Err("closed during connect".into()),
            };
            let p = &c.buf[r];
            if p.starts_with(br#"{"type":"res","id":"c""#) {
                if p.starts_with(br#"{"type":"res","id":"c","ok":true"#) {
                    return Ok(c);
                }
                return Err(String::from_utf8_lossy(p).into_owned());
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes).await
    }

    pub fn payload(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// The next data frame (its payload's range in the buffer, valid until the next
    /// call), or `None` once the socket closes. Pings and pongs are skipped.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((op, range, end)) = self.parse() {
                let start = self.pos;
                self.pos = end;
                let _ = start;
                match op {
                    0x1 | 0x2 => return Some(Frame::Text(range)),
                    0x8 => return Some(Frame::Close),
                    _ => continue,
                }
            }
            // Compact, then read more.
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            if self.buf.capacity() - self.buf.len() < 4096 {
                self.buf.reserve(16 * 1024);
            }
            match self.s.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// `(opcode, payload range, end)` of a complete frame at `pos`.
    fn parse(&self) -> Option<(u8, std::ops::Range<usize>, usize)> {
        let b = &self.buf[self.pos..];
        if b.len() < 2 {
            return None;
        }
        assert!(b[0] & 0x80 != 0, "the gateway sends unfragmented frames");
        let op = b[0] & 0x0f;
        let (len, hdr) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < hdr + len {
            return None;
        }
        let start = self.pos + hdr;
        Some((op, start..start + len, start + len))
    }

    /// Reads frames until the `res` whose id is `id`; returns false if the socket closed.
    pub async fn until_res(&mut self, id: &[u8]) -> bool {
        loop {
            match self.next_frame().await {
                Some(Frame::Text(r)) => {
                    let p = &self.buf[r];
                    if p.len() > RES_PREFIX.len() + id.len()
                        && p.starts_with(RES_PREFIX)
                        && p[RES_PREFIX.len()..].starts_with(id)
                        && p[RES_PREFIX.len() + id.len()] == b'"'
                    {
                        return true;
                    }
                }
                _ => return false,
            }
        }
    }
}

/// A request frame whose id is `r` + 8 digits, rewritten in place per call.
pub struct Req {
    pub bytes: Vec<u8>,
    id_at: usize,
}

impl Req {
    pub fn new(method: &str) -> Req {
        let body = format!(r#"{{"type":"req","id":"r00000000","method":"{method}"}}"#);
        let bytes = text(&body);
        let id_at = bytes.len() - body.len() + r#"{"type":"req","id":""#.len();
        Req { bytes, id_at }
    }

    /// Sets the id to `r<n>`; returns the id bytes.
    pub fn set(&mut self, n: u32) -> &[u8] {
        let mut n = n % 100_000_000;
        for i in (1..=8).rev() {
            self.bytes[self.id_at + i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        &self.bytes[self.id_at..self.id_at + 9]
    }
}

/// Runs `f(thread index)` on `k` OS threads, each with its own current-thread runtime.
pub fn on_threads<T, F, Fut>(k: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = T>,
{
    let handles: Vec<_> = (0..k)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(f(i))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
