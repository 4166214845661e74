//! Accepted means answered, exactly once, in the right chat — with the real binary.
//! A random `kill -9` loop while five chats share `agent:main:main`, and a state dir
//! on a small tmpfs that fills up and frees again while the gateway keeps running.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use common::proc::{Proc, start_gateway, state};
use serde_json::{Value, json};

fn write_config(root: &Path, tg: &FakeTelegram, model: &FakeModel) {
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url, "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    std::fs::write(state(root).join("clawdbot.json"), cfg.to_string()).unwrap();
}

fn start(root: &Path) -> (Proc, u16) {
    tokio::task::block_in_place(|| start_gateway(root, common::TOKEN, &[]))
}

/// User turns in the main session's transcript that carry `needle`.
fn user_turns(root: &Path, needle: &str) -> usize {
    let sessions = state(root).join("agents/main/sessions");
    let store: Value =
        serde_json::from_str(&std::fs::read_to_string(sessions.join("sessions.json")).unwrap())
            .unwrap();
    let sid = store["agent:main:main"]["sessionId"].as_str().unwrap();
    std::fs::read_to_string(sessions.join(format!("{sid}.jsonl")))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""role":"user""#) && l.contains(needle))
        .count()
}

/// Waits until every token has at least one reply; returns all sends.
async fn wait_answered(tg: &FakeTelegram, tokens: &HashMap<String, (i64, i64)>) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let sent = tg.sent();
        let missing = tokens
            .keys()
            .filter(|t| !sent.iter().any(|s| s["text"] == format!("re {t}")))
            .count();
        if missing == 0 {
            return sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} message(s) never answered"
        );
        tg.wait_sent(sent.len() + 1).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kill_9_loses_nothing_repeats_no_turn_and_answers_in_the_right_chat() {
    use rand::Rng;
    let kills: usize = std::env::var("CLAWDBOT_KILL_LOOPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    write_config(root.path(), &tg, &model);
    let chats = [101i64, 102, 103, 104, 105];
    let mut tokens: HashMap<String, (i64, i64)> = HashMap::new();
    // How many sends the fake had seen when each life was killed.
    let mut kill_marks = vec![];
    for k in 0..kills {
        let (mut gw, _) = start(root.path());
        for j in 0..3 {
            for c in chats {
                let token = format!("t{k}x{c}x{j}");
                let id = tg.dm(c, &format!("message {token}"));
                tokens.insert(token, (c, id));
            }
        }
        // A random point: before, during or after runs and sends.
        let ms = rand::thread_rng().gen_range(0..600);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        gw.child.kill().unwrap();
        gw.child.wait().unwrap();
        kill_marks.push(tg.sent().len());
    }
    let (_gw, _) = start(root.path());
    let sent = wait_answered(&tg, &tokens).await;
    // A barrier: one more message answered means nothing else is still on its way.
    tokens.insert("barrier".into(), (101, tg.dm(101, "message barrier")));
    let sent_all = wait_answered(&tg, &tokens).await;
    assert_eq!(sent_all.len(), sent.len() + 1, "sends after the barrier");

    let mut copies: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, s) in sent_all.iter().enumerate() {
        let text = s["text"].as_str().unwrap();
        let token = text.strip_prefix("re ").expect("an echoed reply");
        let (chat, update_id) = tokens[token];
        assert_eq!(s["chat_id"], chat, "reply {text} went to another chat");
        assert_eq!(
            s["reply_parameters"]["message_id"],
            update_id * 10,
            "reply {text} quotes another message"
        );
        copies.entry(token.to_string()).or_default().push(i);
    }
    // A reply sent more than once is only the documented window, once per kill: every copy
    // but the last was the last send to that chat before a kill, and the next copy comes
    // after that kill (a life killed while re-sending the stored answer widens it again).
    let mut twice = 0;
    for (token, at) in &copies {
        if at.len() == 1 {
            continue;
        }
        twice += at.len() - 1;
        let chat = tokens[token].0;
        for pair in at.windows(2) {
            let mark = kill_marks.iter().find(|&&m| m > pair[0]).copied();
            let in_window = mark.is_some_and(|m| {
                pair[1] >= m
                    && !sent_all[pair[0] + 1..m]
                        .iter()
                        .any(|s| s["chat_id"] == chat)
            });
            assert!(
                in_window,
                "{token} answered again outside the send-then-crash window: sends {at:?}, kills at {kill_marks:?}"
            );
        }
    }
    eprintln!(
        "{kills} kills, {} messages, {twice} repeated in the send-then-crash window",
        tokens.len()
    );
    // At most one repeat per chat per kill: only the last send to a chat can be in its window.
    assert!(
        twice <= kills * chats.len(),
        "{twice} repeats for {kills} kills"
    );
    for token in tokens.keys() {
        assert_eq!(
            user_turns(root.path(), &format!("message {token}\"")),
            1,
            "user turn {token} stored more or less than once"
        );
    }
}

/// Unmounts the tmpfs even when the test fails.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn fill(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler"))?;
    for size in [1 << 20, 4096, 1] {
        let buf = vec![0u8; size];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    Ok(())
}

async fn status(port: u16) -> Value {
    let mut ws = common::operator(&format!("ws://127.0.0.1:{port}")).await;
    let r = common::call(&mut ws, "s1", "channels.status", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    r["payload"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_acknowledges_nothing_and_everything_flows_once_space_returns() {
    let root = tempfile::tempdir().unwrap();
    let dir = state(root.path());
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&dir)
        .output();
    let ok = matches!(&mounted, Ok(o) if o.status.success());
    if !ok {
        let why = match &mounted {
            Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_TMPFS").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_TMPFS=1 but mounting a tmpfs failed: {why}"
        );
        eprintln!("skipped: cannot mount a tmpfs (needs root): {why}");
        return;
    }
    let _mount = Mount(dir.clone());
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    write_config(root.path(), &tg, &model);
    let (mut gw, port) = start(root.path());
    tg.dm(200, "message warm");
    tg.wait_sent(1).await;

    fill(&dir).unwrap();
    let ids: Vec<i64> = (0..3)
        .map(|i| tg.dm(201 + i, &format!("message full{i}")))
        .collect();
    // The error shows in channels.status, naming the cause.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let s = status(port).await.to_string();
        if s.contains("storeError") {
            break s;
        }
        assert!(tokio::time::Instant::now() < deadline, "no storeError: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(shown.contains("ENOSPC"), "{shown}");
    let polls_then = tg.state.polls.lock().unwrap().len();
    // Let it retry a few times: the offset never moves past the unstored updates.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tg.state.polls.lock().unwrap().len() < polls_then + 2 {
        assert!(tokio::time::Instant::now() < deadline, "no retry polls");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acked = tg
        .state
        .polls
        .lock()
        .unwrap()
        .iter()
        .any(|o| o.is_some_and(|o| o > ids[0]));
    assert!(
        !acked,
        "an update was acknowledged while it could not be stored"
    );
    assert_eq!(tg.sent().len(), 1);

    std::fs::remove_file(dir.join("filler")).unwrap();
    let sent = tg.wait_sent(4).await;
    tg.dm(209, "message barrier");
    let sent_all = tg.wait_sent(5).await;
    assert_eq!(sent_all.len(), 5, "{sent:?}");
    for i in 0..3 {
        let n = sent_all
            .iter()
            .filter(|s| s["text"] == format!("re full{i}") && s["chat_id"] == 201 + i)
            .count();
        assert_eq!(n, 1, "full{i} answered {n} times: {sent_all:?}");
        assert_eq!(user_turns(root.path(), &format!("message full{i}\"")), 1);
    }
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "the gateway restarted"
    );
    let s = status(port).await.to_string();
    assert!(!s.contains("storeError"), "{s}");
    drop(gw);
}
