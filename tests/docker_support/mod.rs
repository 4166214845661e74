//! The docker end-to-end test's own engine: a `dockerd` started for the test with its
//! own data root, exec root, socket and pidfile, no bridge, no iptables and no IP
//! forwarding, stopped again (containers first) when the guard drops, also on a panic.
//! Plus the host-network snapshot that must be unchanged afterwards, and an HTTP probe
//! that enters a container's network namespace (containers run with `--network none`).
#![allow(dead_code)]

pub mod setup;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

pub fn required() -> bool {
    std::env::var("CLAWDBOT_REQUIRE_DOCKER").as_deref() == Ok("1")
}

/// The test cannot run here: a failure when required, else a SKIP line naming why.
pub fn skip(why: &str) {
    assert!(
        !required(),
        "{why} (CLAWDBOT_REQUIRE_DOCKER=1; ./scripts/test.sh installs docker.io, debootstrap and the Compose v2 plugin)"
    );
    eprintln!("SKIP: docker end-to-end: {why} (set CLAWDBOT_REQUIRE_DOCKER=1 to require it)");
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Runs `cmd`; panics with its output unless it succeeded; returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Polls `f` every 200 ms until it returns Some or `secs` pass.
pub fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The docker CLI to use: CLAWDBOT_DOCKER_CLI, else the one Debian's docker.io installs
/// next to its dockerd (it has BuildKit built in; a newer CLI without the buildx plugin
/// falls back to the legacy builder, which cannot do `RUN --mount`), else PATH's.
pub fn docker_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CLAWDBOT_DOCKER_CLI") {
        return Some(PathBuf::from(p));
    }
    let debian = PathBuf::from("/usr/bin/docker");
    if debian.is_file() {
        return Some(debian);
    }
    which("docker")
}

pub struct Engine {
    pub cli: PathBuf,
    pub host: String,
    run_dir: PathBuf,
    child: Option<Child>,
}

impl Engine {
    /// Starts dockerd on `data_root` (kept between runs: images and build cache) and
    /// waits until it answers; removes containers a crashed earlier run left.
    pub fn start(dockerd: &Path, cli: &Path, data_root: &Path) -> Engine {
        std::fs::create_dir_all(data_root).unwrap();
        // Short: the socket path must fit in sun_path (108 bytes).
        let run_dir = PathBuf::from(format!("/tmp/clawdbot-dockerd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        std::fs::create_dir_all(&run_dir).unwrap();
        let pidfile = data_root.join("dockerd.pid");
        if let Some(old) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // A daemon an earlier run of this test left behind (same data root): ours to end.
            let cmdline = std::fs::read(format!("/proc/{old}/cmdline")).unwrap_or_default();
            if text(&cmdline).contains(&*data_root.to_string_lossy()) {
                unsafe_kill(old, libc::SIGTERM);
                poll(20, || {
                    (!Path::new(&format!("/proc/{old}")).exists()).then_some(())
                });
            }
        }
        let host = format!("unix://{}", run_dir.join("docker.sock").display());
        let log = std::fs::File::create(run_dir.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(data_root)
            .arg("--exec-root")
            .arg(run_dir.join("exec"))
            .arg("--pidfile")
            .arg(&pidfile)
            .args(["-H", &host])
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver=overlay2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", dockerd.display()));
        let mut engine = Engine {
            cli: cli.to_path_buf(),
            host,
            run_dir,
            child: Some(child),
        };
        let up = poll(60, || {
            if let Some(Ok(Some(st))) = engine.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited ({st}):\n{}", engine.daemon_log());
            }
            output(
                engine
                    .docker()
                    .args(["version", "--format", "{{.Server.Version}}"]),
            )
            .status
            .success()
            .then_some(())
        });
        assert!(
            up.is_some(),
            "dockerd did not answer in 60 s:\n{}",
            engine.daemon_log()
        );
        engine.remove_all_containers();
        engine
    }

    pub fn daemon_log(&self) -> String {
        let log = std::fs::read_to_string(self.run_dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The docker CLI pointed at this engine (BuildKit on).
    pub fn docker(&self) -> Command {
        let mut c = Command::new(&self.cli);
        self.env(&mut c);
        c
    }

    pub fn env(&self, c: &mut Command) {
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_BUILDKIT", "1")
            .env_remove("DOCKER_CONTEXT");
    }

    pub fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        ok(self.docker().args(args))
    }

    pub fn inspect(&self, what: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, what])
            .trim()
            .to_string()
    }

    /// Removes every container (never panics: it runs in Drop too).
    pub fn remove_all_containers(&self) {
        let Ok(o) = self
            .docker()
            .args(["ps", "-aq"])
            .stdin(Stdio::null())
            .output()
        else {
            return;
        };
        let ids = text(&o.stdout);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = self
                .docker()
                .args(["rm", "-f"])
                .args(&ids)
                .stdin(Stdio::null())
                .output();
        }
    }

    /// Every container of this engine: network `none` or `host`, and no address outside
    /// 127.0.0.0/8 (the workplace's network rule).
    pub fn assert_contained(&self, container: &str) {
        let mode = self.inspect(container, "{{.HostConfig.NetworkMode}}");
        assert!(
            mode == "none" || mode == "host",
            "{container}: network mode {mode}"
        );
        let addrs = self.inspect(
            container,
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}} {{end}}",
        );
        for a in addrs.split_whitespace() {
            assert!(a.starts_with("127."), "{container} has the address {a}");
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.remove_all_containers();
        if let Some(mut child) = self.child.take() {
            unsafe_kill(child.id() as i32, libc::SIGTERM);
            let gone = poll(30, || child.try_wait().ok().flatten().map(|_| ()));
            if gone.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn unsafe_kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid this test started (or its own earlier daemon).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// What must be the same after the test: interfaces, forwarding sysctls, iptables rules.
pub fn host_network_snapshot() -> String {
    let mut out = String::new();
    let mut ifs: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ifs.sort();
    out.push_str(&format!("interfaces: {ifs:?}\n"));
    for f in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv6/conf/all/forwarding",
        "/proc/sys/net/ipv4/conf/all/route_localnet",
        "/proc/sys/net/bridge/bridge-nf-call-iptables",
    ] {
        let v = std::fs::read_to_string(f).unwrap_or_else(|_| "-".into());
        out.push_str(&format!("{f} = {}\n", v.trim()));
    }
    for tool in ["iptables-save", "ip6tables-save"] {
        if let Some(t) = which(tool).or_else(|| {
            let p = PathBuf::from("/usr/sbin").join(tool);
            p.is_file().then_some(p)
        }) && let Ok(o) = Command::new(t).stdin(Stdio::null()).output()
        {
            for line in text(&o.stdout).lines() {
                // Comments carry timestamps, counters change with traffic.
                if !line.starts_with('#') {
                    let l = match line.find(" [") {
                        Some(i) if line.starts_with(':') => &line[..i],
                        _ => line,
                    };
                    out.push_str(&format!("{tool}: {l}\n"));
                }
            }
        }
    }
    out
}

/// GET `path` on 127.0.0.1:`port` inside the network namespace of process `pid` (a
/// container's init): a thread enters it with setns(2), so this process's own sockets
/// stay where they are. The HTTP status, or None when nothing answered.
pub fn http_status_in_netns(pid: u32, port: u16, path: &str) -> Option<u16> {
    let path = path.to_string();
    std::thread::spawn(move || {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).ok()?;
        // SAFETY: setns(2) on an open namespace fd; it affects only this new thread.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.split_whitespace().nth(1)?.parse().ok()
    })
    .join()
    .ok()
    .flatten()
}

pub fn hex_token() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}
