//! Crash safety with the real binary: a `kill -9` while the model is still answering
//! loses nothing and repeats nothing. After the restart the message is answered exactly
//! once, and the transcript holds it once. Also the pairing CLI against that binary.

mod common;

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use common::proc::{Proc, command, start_gateway, state};
use serde_json::{Value, json};

const TOKEN: &str = "crash-test-token";

fn start_on(root: &std::path::Path) -> (Proc, u16) {
    start_gateway(root, TOKEN, &[])
}

fn start(root: &std::path::Path) -> Proc {
    start_on(root).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_receiving_and_replying_answers_exactly_once_after_restart() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url, "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();

    // First life: the update is accepted (offset confirmed), the model hangs, kill -9.
    model.script([Reply::Hang]);
    let mut gw = start(root.path());
    let update = tg.dm(31, "remember the milk");
    model.wait_requests(1).await;
    tg.wait_confirmed(update).await;
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    assert!(tg.sent().is_empty());

    // Second life: the inbox is replayed, the model answers, the reply goes out once.
    model.script([
        Reply::Text("Noted: milk.".into()),
        Reply::Text("second".into()),
    ]);
    let _gw = start(root.path());
    let sent = tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "Noted: milk.");
    assert_eq!(sent[0]["chat_id"], 31);
    // A later message in the same chat is answered next: nothing was sent twice between.
    tg.dm(31, "and eggs");
    let sent = tg.wait_sent(2).await;
    assert_eq!(sent[1]["text"], "second");
    assert_eq!(sent.len(), 2);
    // The model saw the first message once, not twice, on the retry.
    let retry = &model.requests()[1];
    let users: Vec<&Value> = retry["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .collect();
    assert_eq!(users.len(), 1, "{retry}");
    // The transcript holds each user message once.
    let sessions = state(root.path()).join("agents/main/sessions");
    let store: Value =
        serde_json::from_str(&std::fs::read_to_string(sessions.join("sessions.json")).unwrap())
            .unwrap();
    let sid = store["agent:main:main"]["sessionId"].as_str().unwrap();
    let transcript = std::fs::read_to_string(sessions.join(format!("{sid}.jsonl"))).unwrap();
    assert_eq!(
        transcript.matches("remember the milk").count(),
        1,
        "{transcript}"
    );
    assert_eq!(transcript.matches("Noted: milk.").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_and_approves_a_pairing_code() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Text("hi, paired friend".into()));
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();
    let (_gw, port) = start_on(root.path());
    tg.dm(55, "hello bot");
    let sent = tg.wait_sent(1).await;
    let code = sent[0]["text"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap()
        .to_string();
    let url = format!("ws://127.0.0.1:{port}");
    let cli = |args: &[&str]| {
        let mut c = command(root.path());
        c.args(args).args(["--url", &url, "--token", TOKEN]);
        common::proc::run(c)
    };
    let (rc, out, err) = cli(&["pairing", "list"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(&code) && out.contains("55"), "{out}");
    let (rc, _, err) = cli(&["pairing", "approve", "telegram", "NOTACODE"]);
    assert_eq!(rc, 1);
    assert!(err.contains("no pending telegram pairing request"), "{err}");
    let (rc, out, err) = cli(&["pairing", "approve", "telegram", &code]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("Approved telegram sender 55"), "{out}");
    assert!(model.requests().is_empty());
    tg.dm(55, "hello again");
    let sent = tg.wait_sent(2).await;
    assert_eq!(sent[1]["text"], "hi, paired friend");
}
