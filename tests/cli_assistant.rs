//! The everyday CLI against the real binary: `agent` prints the answer (and delivers it
//! with `--deliver`), `message send` reaches a chat, `sessions` lists and shows,
//! `logs` reads the gateway's log, `models status` checks keys without a gateway.

mod common;

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use common::proc::{command, run, start_gateway, state};
use serde_json::{Value, json};

const TOKEN: &str = "cli-assistant-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_message_sessions_logs_and_models() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test", "fallbacks": ["openai/gpt-test"]}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();
    let (_gw, port) = start_gateway(root.path(), TOKEN, &[]);
    let url = format!("ws://127.0.0.1:{port}");
    let cli = |args: &[&str]| {
        let mut c = command(root.path());
        c.args(args).args(["--url", &url, "--token", TOKEN]);
        run(c)
    };

    let (rc, out, err) = cli(&["agent", "--message", "hello there"]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out.trim(), "re there");
    let (rc, out, err) = cli(&[
        "agent",
        "-m",
        "ping pong",
        "--deliver",
        "--channel",
        "telegram",
        "--to",
        "4242",
        "--json",
    ]);
    assert_eq!(rc, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["status"], "ok", "{v}");
    let sent = tg.wait_sent(1).await;
    assert_eq!(
        (sent[0]["chat_id"].as_i64(), sent[0]["text"].as_str()),
        (Some(4242), Some("re pong"))
    );
    let (rc, _, err) = cli(&["agent", "-m", "x", "--deliver"]);
    assert_eq!(rc, 1);
    assert!(err.contains("--channel and --to"), "{err}");

    let (rc, out, err) = cli(&[
        "message",
        "send",
        "--channel",
        "telegram",
        "--to",
        "99",
        "--message",
        "*done*",
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.starts_with("Sent to telegram 99 (message "), "{out}");
    let sent = tg.wait_sent(2).await;
    assert_eq!(sent[1]["text"], "<i>done</i>");
    let (rc, _, err) = cli(&[
        "message",
        "send",
        "--channel",
        "signal",
        "--to",
        "1",
        "-m",
        "x",
    ]);
    assert_eq!(rc, 1);
    assert!(err.contains("unsupported channel: signal"), "{err}");

    let (rc, out, err) = cli(&["sessions"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("agent:main:main"), "{out}");
    let (rc, out, _) = cli(&["sessions", "show", "agent:main:main"]);
    assert_eq!(rc, 0);
    assert!(
        out.contains("user: hello there") && out.contains("assistant: re there"),
        "{out}"
    );
    let (rc, out, _) = cli(&["sessions", "--json"]);
    assert_eq!(rc, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["count"].as_u64().unwrap() >= 1);

    let (rc, out, err) = cli(&["logs", "--limit", "500"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("listening on"), "{out}");
    let (rc, out, _) = cli(&["logs", "--level", "error", "--limit", "500"]);
    assert_eq!(rc, 0);
    assert!(!out.contains("listening on"), "{out}");
    let (rc, _, err) = cli(&["logs", "--level", "loud"]);
    assert_eq!(rc, 1);
    assert!(err.contains("unknown --level"), "{err}");

    let (rc, out, _) = cli(&["models"]);
    assert_eq!(rc, 0);
    assert!(out.contains("anthropic/claude-test"), "{out}");
    // Offline: the configured chain and whether each model has a key.
    let mut c = command(root.path());
    c.args(["models", "status"]);
    let (rc, out, err) = run(c);
    assert_eq!(rc, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("primary")
            && lines[0].contains("anthropic/claude-test")
            && lines[0].contains("key found"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("fallback")
            && lines[1].contains("openai/gpt-test")
            && !lines[1].contains("key found"),
        "{out}"
    );
}
