//! The real binary as users and service managers run it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::proc::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn starts_with_no_config_and_generates_a_private_token() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(root.path());
    cmd.args(["gateway", "--port", &port.to_string()]);
    let mut gw = Proc::spawn(cmd);
    let line = gw.wait_for("listening on");
    assert!(
        line.ends_with(&format!(
            "[gateway] listening on ws://127.0.0.1:{port} (PID {})",
            gw.child.id()
        )),
        "{line}"
    );
    gw.wait_for("open the Control UI with: clawdbot dashboard");
    let token_path = state(root.path()).join("credentials/gateway-token");
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(token.len(), 64);
    assert_eq!(
        std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The token never appears in the log.
    assert!(!gw.seen.join("\n").contains(&token));
    // `dashboard` prints the tokenized URL; `health` finds the gateway from the same files.
    let mut c = command(root.path());
    c.env("CLAWDBOT_GATEWAY_PORT", port.to_string())
        .arg("dashboard");
    let (code, out, _) = run(c);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!("http://127.0.0.1:{port}/#token={token}")
    );
    let mut c = command(root.path());
    c.env("CLAWDBOT_GATEWAY_PORT", port.to_string())
        .args(["health", "--json"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(h["ok"], true);
    assert_eq!(h["defaultAgentId"], "main");
    // The CLI's device identity is where the original keeps it.
    assert!(
        root.path()
            .join("home/.clawdbot/identity/device.json")
            .exists()
    );
    // A restart reuses the same token.
    gw.signal("TERM");
    assert_eq!(gw.wait_exit().0, Some(0));
    let mut cmd = command(root.path());
    cmd.args(["gateway", "--port", &port.to_string()]);
    let mut again = Proc::spawn(cmd);
    again.wait_for("using the generated token");
    assert_eq!(std::fs::read_to_string(&token_path).unwrap().trim(), token);
}

#[test]
fn non_loopback_bind_without_a_secret_is_refused() {
    let root = tempfile::tempdir().unwrap();
    for bind in ["lan", "auto", "tailnet", "custom"] {
        let mut cmd = command(root.path());
        cmd.args([
            "gateway",
            "--bind",
            bind,
            "--port",
            &free_port().to_string(),
        ]);
        let (code, _, err) = run(cmd);
        assert_eq!(code, 1, "{bind}");
        assert!(
            err.contains(&format!("Refusing to bind gateway to {bind} without auth.")),
            "{err}"
        );
        for hint in [
            "gateway.auth.token",
            "gateway.auth.tokenFile",
            "CLAWDBOT_GATEWAY_TOKEN",
            "--token",
        ] {
            assert!(err.contains(hint), "missing hint {hint}: {err}");
        }
    }
    // The guide's form works.
    let port = free_port();
    let mut cmd = command(root.path());
    cmd.args([
        "gateway",
        "--bind",
        "lan",
        "--port",
        &port.to_string(),
        "--allow-unconfigured",
        "--token",
        "s3cret",
    ]);
    let mut gw = Proc::spawn(cmd);
    let line = gw.wait_for("listening on");
    assert!(line.contains(&format!("ws://0.0.0.0:{port}")), "{line}");
    assert!(!gw.seen.join("\n").contains("s3cret"));
}

#[tokio::test]
async fn second_gateway_on_the_same_config_fails_fast_and_kill_9_leaves_no_stale_lock() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(root.path());
    cmd.args(["gateway", "--port", &port.to_string(), "--token", "T"]);
    let mut first = Proc::spawn(cmd);
    first.wait_for("listening on");
    let mut cmd = command(root.path());
    cmd.args([
        "gateway",
        "--port",
        &free_port().to_string(),
        "--token",
        "T",
    ]);
    let started = std::time::Instant::now();
    let (code, _, err) = run(cmd);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "gateway already running (pid {}, port {port})",
            first.child.id()
        )),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3), "must fail fast");

    // kill -9, then start again: no manual step.
    first.signal("KILL");
    first.wait_exit();
    let mut cmd = command(root.path());
    cmd.args(["gateway", "--port", &port.to_string(), "--token", "T"]);
    let mut second = Proc::spawn(cmd);
    second.wait_for("listening on");

    // --force takes over from a live one.
    let port3 = free_port();
    let mut cmd = command(root.path());
    cmd.args([
        "gateway",
        "--port",
        &port3.to_string(),
        "--token",
        "T",
        "--force",
    ]);
    let mut third = Proc::spawn(cmd);
    third.wait_for(&format!("listening on ws://127.0.0.1:{port3}"));
    let (code, _) = second.wait_exit();
    assert_eq!(code, Some(0), "the old gateway stops gracefully on SIGTERM");
}

#[tokio::test]
async fn sigterm_closes_clients_with_1012_and_exits_0() {
    let root = tempfile::tempdir().unwrap();
    let (mut gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    gw.signal("TERM");
    let mut saw = false;
    let code = loop {
        match next(&mut ws).await {
            Some(f) if f["event"] == "shutdown" => saw = true,
            Some(_) => {}
            None => break closed(&mut ws).await,
        }
    };
    assert!(saw, "shutdown event before close");
    let _ = code;
    let (exit, out) = gw.wait_exit();
    assert_eq!(exit, Some(0), "{out}");
    assert!(out.contains("received SIGTERM; shutting down"));
}

#[tokio::test]
async fn sighup_reloads_a_valid_config_and_keeps_the_old_one_when_invalid() {
    let root = tempfile::tempdir().unwrap();
    let cfg = state(root.path()).join("clawdbot.json");
    write(&cfg, r#"{ "agents": { "list": [ { "id": "main" } ] } }"#);
    let (mut gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let url = format!("ws://127.0.0.1:{port}");

    write(
        &cfg,
        r#"{ "agents": { "list": [ { "id": "main" }, { "id": "work", "default": true } ] } }"#,
    );
    gw.signal("HUP");
    gw.wait_for("config reloaded (SIGHUP)");
    let mut ws = operator(&url).await;
    let agents = call(&mut ws, "a", "agents.list", json!({})).await;
    assert_eq!(agents["payload"]["defaultId"], "work");

    write(&cfg, r#"{ "gateway": { "prot": 1 } }"#);
    gw.signal("HUP");
    gw.wait_for("config reload failed (SIGHUP)");
    let status = call(&mut ws, "s", "status", json!({})).await;
    let reload = &status["payload"]["gateway"]["configReload"];
    assert_eq!(reload["ok"], false);
    assert!(
        reload["lastError"]
            .as_str()
            .unwrap()
            .contains("gateway.prot"),
        "{reload}"
    );
    let agents = call(&mut ws, "b", "agents.list", json!({})).await;
    assert_eq!(
        agents["payload"]["defaultId"], "work",
        "old config stays in force"
    );
}

#[tokio::test]
async fn config_file_change_is_picked_up_without_a_signal() {
    let root = tempfile::tempdir().unwrap();
    let cfg_dir = root.path().join("store");
    // Like home-manager: the config path is a symlink re-pointed at a new file.
    write(
        &cfg_dir.join("gen1.json"),
        r#"{ "agents": { "list": [ { "id": "one" } ] } }"#,
    );
    write(
        &cfg_dir.join("gen2.json"),
        r#"{ "agents": { "list": [ { "id": "two" } ] } }"#,
    );
    let link = state(root.path()).join("clawdbot.json");
    std::fs::create_dir_all(state(root.path())).unwrap();
    std::os::unix::fs::symlink(cfg_dir.join("gen1.json"), &link).unwrap();
    let (mut gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let tmp = state(root.path()).join("clawdbot.json.new");
    std::os::unix::fs::symlink(cfg_dir.join("gen2.json"), &tmp).unwrap();
    std::fs::rename(&tmp, &link).unwrap();
    gw.wait_for("config reloaded (config file changed)");
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let agents = call(&mut ws, "a", "agents.list", json!({})).await;
    assert_eq!(agents["payload"]["defaultId"], "two");
}

fn recv_until(sock: &UnixDatagram, needle: &str) -> String {
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).expect("notify datagram");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if msg.contains(needle) {
            return msg;
        }
    }
}

fn notify_roundtrip(sock: UnixDatagram, notify_socket: &str) {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(root.path());
    cmd.env("NOTIFY_SOCKET", notify_socket).args([
        "gateway",
        "--port",
        &port.to_string(),
        "--token",
        "T",
    ]);
    let mut gw = Proc::spawn(cmd);
    let ready = recv_until(&sock, "READY=1");
    assert!(
        ready.contains(&format!("MAINPID={}", gw.child.id())),
        "{ready}"
    );
    assert!(
        ready.contains(&format!("STATUS=ready; listening on 127.0.0.1:{port}")),
        "{ready}"
    );
    // READY comes only once the socket accepts connections.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("listening when READY=1 arrives");
    gw.signal("HUP");
    let reloading = recv_until(&sock, "RELOADING=1");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    recv_until(&sock, "READY=1");
    gw.signal("TERM");
    recv_until(&sock, "STOPPING=1");
    assert_eq!(gw.wait_exit().0, Some(0));
}

#[test]
fn sd_notify_over_a_path_socket() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notify");
    let sock = UnixDatagram::bind(&p).unwrap();
    notify_roundtrip(sock, p.to_str().unwrap());
}

#[test]
fn sd_notify_over_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("clawdbot-test-{}", uuid::Uuid::new_v4());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = UnixDatagram::bind_addr(&addr).unwrap();
    notify_roundtrip(sock, &format!("@{name}"));
}

#[test]
fn client_commands_fail_with_one_clear_line_when_unreachable() {
    let root = tempfile::tempdir().unwrap();
    let mut c = command(root.path());
    c.env("CLAWDBOT_GATEWAY_PORT", free_port().to_string())
        .arg("health");
    let (code, out, err) = run(c);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("Health check failed: gateway not reachable at ws://127.0.0.1:"),
        "{err}"
    );
    assert!(first.contains("Start it with `clawdbot gateway`"), "{err}");
}
