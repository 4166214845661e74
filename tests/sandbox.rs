//! The sandbox for real: processes started through `sandbox::command` with a real
//! Landlock/seccomp/rlimit/cgroup confinement, attacked from inside with a shell.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clawdbot::sandbox::{self, Access, Invocation, Policy};

/// Landlock ABI 4 (filesystem + TCP) is what the default policy needs; without it each
/// test skips naming the feature, or fails under CLAWDBOT_REQUIRE_SANDBOX=1.
fn available() -> bool {
    let abi = sandbox::landlock_abi();
    if abi >= 4 {
        return true;
    }
    if std::env::var("CLAWDBOT_REQUIRE_SANDBOX").as_deref() == Ok("1") {
        panic!("CLAWDBOT_REQUIRE_SANDBOX=1 but this kernel has Landlock ABI {abi} (4 needed)");
    }
    eprintln!("skipped: Landlock ABI 4 not available (kernel has ABI {abi})");
    false
}

fn policy(ws: &Path, access: Access) -> Policy {
    Policy {
        enabled: true,
        workspace: ws.to_path_buf(),
        workspace_access: access,
        ..Policy::default()
    }
}

struct Out {
    ok: bool,
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run_in(p: &Policy, cwd: &Path, program: &str, script: &str) -> Out {
    let inv = Invocation {
        program: PathBuf::from(program),
        args: vec!["-c".into(), script.into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: cwd.to_path_buf(),
    };
    let mut cmd = sandbox::command(&inv, p).expect("sandbox command");
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("sandboxed command finished")
        .expect("spawn");
    use std::os::unix::process::ExitStatusExt;
    Out {
        ok: out.status.success(),
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

async fn sh(p: &Policy, script: &str) -> Out {
    run_in(p, &p.workspace, "/bin/sh", script).await
}

/// A state dir with a secret, a HOME with an SSH key, and a workspace beside them.
struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let ws = root.join("state/workspace");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(
        root.join("state/clawdbot.json"),
        "{\"token\": \"SECRET-CONFIG\"}",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("state/credentials")).unwrap();
    std::fs::write(root.join("state/credentials/telegram"), "SECRET-CRED").unwrap();
    std::fs::create_dir_all(root.join("home/.ssh")).unwrap();
    std::fs::write(root.join("home/.ssh/id_ed25519"), "SECRET-KEY").unwrap();
    std::fs::write(ws.join("notes.txt"), "hello from the workspace").unwrap();
    World {
        _dir: dir,
        root,
        ws,
    }
}

#[tokio::test]
async fn secrets_of_the_gateway_are_unreadable() {
    if !available() {
        return;
    }
    let w = world();
    let p = policy(&w.ws, Access::Rw);
    for f in [
        "state/clawdbot.json",
        "state/credentials/telegram",
        "home/.ssh/id_ed25519",
    ] {
        let path = w.root.join(f);
        let o = sh(&p, &format!("cat '{}'", path.display())).await;
        assert!(
            !o.ok && !o.stdout.contains("SECRET"),
            "{f} was readable: {}",
            o.stdout
        );
        assert!(o.stderr.contains("Permission denied"), "{f}: {}", o.stderr);
        // Neighbours: listing the directory, and a symlink from the workspace.
        let o = sh(&p, &format!("ls '{}'", path.parent().unwrap().display())).await;
        assert!(!o.ok, "listing the parent of {f} worked: {}", o.stdout);
        let o = sh(&p, &format!("ln -sf '{}' link && cat link", path.display())).await;
        assert!(
            !o.stdout.contains("SECRET"),
            "{f} via a symlink: {}",
            o.stdout
        );
    }
    for f in [
        "/etc/shadow",
        "/etc/ssh/ssh_host_ed25519_key",
        "/root",
        "/home",
        "/var/log",
    ] {
        let cmd = if f.starts_with("/etc") { "cat" } else { "ls" };
        let o = sh(&p, &format!("{cmd} {f}")).await;
        assert!(!o.ok, "{f} was readable: {}", o.stdout);
    }
    // The same commands work unsandboxed: the test could fail.
    let key = w.root.join("home/.ssh/id_ed25519");
    let o = run_in(
        &Policy::default(),
        &w.ws,
        "/bin/sh",
        &format!("cat '{}'", key.display()),
    )
    .await;
    assert!(o.ok && o.stdout.contains("SECRET-KEY"));
    // And system tools still run inside.
    let o = sh(&p, "cat notes.txt && ls /usr/bin >/dev/null && echo ok").await;
    assert!(
        o.ok && o.stdout.contains("hello from the workspace"),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn writes_follow_workspace_access() {
    if !available() {
        return;
    }
    let w = world();
    let outside = w.root.join("state/evil");
    let rw = policy(&w.ws, Access::Rw);
    let o = sh(&rw, "echo x > made && cat made").await;
    assert!(o.ok && o.stdout == "x\n", "rw: {}", o.stderr);
    let o = sh(&rw, &format!("echo x > '{}'", outside.display())).await;
    assert!(!o.ok && !outside.exists(), "wrote outside the workspace");
    let o = sh(&rw, "echo x > /tmp/clawdbot-sandbox-escape-$$").await;
    assert!(!o.ok, "wrote into /tmp");
    let ro = policy(&w.ws, Access::Ro);
    let o = sh(&ro, "cat notes.txt").await;
    assert!(
        o.ok && o.stdout.contains("hello"),
        "ro cannot read: {}",
        o.stderr
    );
    for attack in [
        "echo x > made2",
        "echo x >> notes.txt",
        "rm notes.txt",
        "mkdir d",
        "mv notes.txt n2",
    ] {
        let o = sh(&ro, attack).await;
        assert!(!o.ok, "ro allowed `{attack}`");
    }
    assert_eq!(
        std::fs::read_to_string(w.ws.join("notes.txt")).unwrap(),
        "hello from the workspace"
    );
    let none = policy(&w.ws, Access::None);
    let o = sh(&none, "cat notes.txt").await;
    assert!(
        !o.ok && !o.stdout.contains("hello"),
        "none could read the workspace"
    );
}

#[tokio::test]
async fn no_network_when_network_is_none() {
    if !available() {
        return;
    }
    let w = world();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let (tp, up) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    let script = format!(
        "echo tcp > /dev/tcp/127.0.0.1/{tp}; echo udp > /dev/udp/127.0.0.1/{up}; echo v6 > /dev/tcp/::1/{tp}; true"
    );
    let p = policy(&w.ws, Access::Rw);
    let o = run_in(&p, &w.ws, "/bin/bash", &script).await;
    assert!(
        o.stderr.contains("not permitted") || o.stderr.contains("denied"),
        "{}",
        o.stderr
    );
    assert!(
        tcp.accept().is_err(),
        "a TCP connection reached the listener"
    );
    let mut buf = [0u8; 16];
    assert!(
        udp.recv(&mut buf).is_err(),
        "a UDP datagram reached the socket"
    );
    // With the network allowed the same script gets through: the test can fail.
    let mut open = p.clone();
    open.network = true;
    let o = run_in(&open, &w.ws, "/bin/bash", &script).await;
    assert!(
        tcp.accept().is_ok(),
        "network allowed but no connection: {}",
        o.stderr
    );
    assert!(
        udp.recv(&mut buf).is_ok(),
        "network allowed but no datagram"
    );
}

#[tokio::test]
async fn the_gateway_environment_is_out_of_reach() {
    if !available() {
        return;
    }
    let w = world();
    let p = policy(&w.ws, Access::Rw);
    let me = std::process::id();
    for f in ["environ", "mem", "fd/0", "maps", "root/etc/hostname"] {
        let o = sh(&p, &format!("cat /proc/{me}/{f} | head -c 100")).await;
        assert!(
            o.stdout.is_empty(),
            "/proc/{me}/{f} was readable: {}",
            o.stdout
        );
    }
    // PID 1 too, and the sandbox cannot signal the gateway (Landlock scoping, ABI 6).
    let o = sh(&p, "cat /proc/1/environ | head -c 10").await;
    assert!(o.stdout.is_empty(), "/proc/1/environ readable");
    if sandbox::landlock_abi() >= 6 {
        let o = sh(&p, &format!("kill -0 {me}")).await;
        assert!(!o.ok, "the sandbox could signal the gateway");
    }
    // Unsandboxed the same read works: the test can fail.
    let o = run_in(
        &Policy::default(),
        &w.ws,
        "/bin/sh",
        &format!("head -c 10 /proc/{me}/environ"),
    )
    .await;
    assert!(
        !o.stdout.is_empty(),
        "control read of /proc/{me}/environ failed"
    );
}

#[tokio::test]
async fn cpu_and_memory_limits_kill() {
    if !available() {
        return;
    }
    let w = world();
    let mut p = policy(&w.ws, Access::Rw);
    p.cpu_seconds = Some(1);
    let o = sh(&p, "while :; do :; done").await;
    assert!(
        o.signal == Some(libc::SIGXCPU) || o.signal == Some(libc::SIGKILL),
        "{:?} {:?}",
        o.code,
        o.signal
    );
    let mut p = policy(&w.ws, Access::Rw);
    p.memory_bytes = Some(64 << 20);
    let big = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}";
    let o = run_in(&p, &w.ws, "/bin/bash", big).await;
    assert!(
        !o.stdout.contains("200000000"),
        "200 MB in a 64 MiB sandbox: {}",
        o.stdout
    );
    let small = "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}";
    let o = run_in(&p, &w.ws, "/bin/bash", small).await;
    assert!(o.ok && o.stdout.contains("1000000"), "{}", o.stderr);
}

#[tokio::test]
async fn a_fork_bomb_stops_at_pids_limit() {
    if !available() {
        return;
    }
    let w = world();
    let mut p = policy(&w.ws, Access::Rw);
    p.pids_limit = Some(16);
    let marker = format!("77{}", std::process::id());
    let o = sh(&p, &format!("i=0; while [ $i -lt 100 ]; do sleep {marker} >/dev/null 2>&1 & i=$((i+1)); done; echo done")).await;
    let alive = count_marker(&marker);
    kill_marker(&marker);
    assert!(o.stderr.contains("fork"), "no fork failed: {}", o.stderr);
    assert!(alive <= 16, "{alive} processes under pidsLimit 16");
}

fn count_marker(marker: &str) -> usize {
    pids_with(marker).len()
}

fn pids_with(marker: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>()
            && let Ok(c) = std::fs::read(e.path().join("cmdline"))
            && String::from_utf8_lossy(&c).split('\0').any(|a| a == marker)
        {
            v.push(pid);
        }
    }
    v
}

fn kill_marker(marker: &str) {
    for pid in pids_with(marker) {
        // SAFETY: kill(2) of a process found by its unique marker argument.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[tokio::test]
async fn descendants_cannot_leave_the_process_group() {
    if !available() {
        return;
    }
    let w = world();
    let p = policy(&w.ws, Access::Rw);
    let marker = format!("99{}", std::process::id());
    // setsid(1), a job-control shell (setpgid) and a double fork all try to escape.
    let script = format!(
        "setsid sleep {marker} >/dev/null 2>&1 & bash -mc 'sleep {marker} >/dev/null 2>&1 &' >/dev/null 2>&1; (sleep {marker} >/dev/null 2>&1 &) ; sleep 0.2; echo $$"
    );
    let o = run_in(&p, &w.ws, "/bin/bash", &script).await;
    let pgid: i32 = o.stdout.trim().parse().expect("pid printed");
    let alive = pids_with(&marker);
    assert!(!alive.is_empty(), "no marker started: {}", o.stderr);
    for pid in &alive {
        // SAFETY: getpgid(2) only reads.
        #[allow(unsafe_code)]
        let g = unsafe { libc::getpgid(*pid) };
        assert_eq!(g, pgid, "marker {pid} left the group: {}", o.stderr);
    }
    // SAFETY: kill(2) of the run's process group, as the exec tool does.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    for _ in 0..100 {
        if pids_with(&marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("markers survived the group kill: {:?}", pids_with(&marker));
}
