//! Files in a newer format than this release knows: refused one by one, never touched.

use super::common::fakes::{FakeModel, FakeTelegram, Reply};
use super::common::{call, operator, write};
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_sessions_store_is_refused_untouched_and_everything_else_serves() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    write_config(root.path(), &tg, &model);
    let st = state(root.path());
    // "The next version" reshaped the index and marked it version 2.
    let sessions = st.join("agents/main/sessions/sessions.json");
    let future =
        json!({"version": 2, "sessions": {"agent:main:main": {"sessionId": "s-next"}}}).to_string();
    write(&sessions, &future);
    write(&st.join("cron/jobs.json"), &original_cron_store());
    write(&st.join("devices/paired.json"), &paired_device());

    let (mut gw, port) = start(root.path());
    let line = gw.wait_for("written by a newer clawdbot");
    assert!(
        line.contains("sessions.json") && line.contains("version 2"),
        "{line}"
    );
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;

    let status = call(&mut ws, "st", "status", json!({})).await;
    let refused = &status["payload"]["stateFormat"]["refused"];
    assert_eq!(refused.as_array().map(Vec::len), Some(1), "{status}");
    assert!(
        refused[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("agents/main/sessions/sessions.json")
    );
    assert_eq!(refused[0]["kind"], "sessions-index");
    assert_eq!(refused[0]["foundVersion"], "2");
    assert_eq!(refused[0]["knownVersion"], 1);
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("roll forward or restore a backup")
    );
    let health = call(&mut ws, "h", "health", json!({})).await;
    assert_eq!(health["payload"]["stateFormat"]["ok"], false, "{health}");
    assert!(
        health["payload"]["sessions"]["error"]
            .as_str()
            .unwrap()
            .contains("newer clawdbot")
    );

    // The CLI shows it too.
    for what in ["health", "status"] {
        let mut c = command(root.path());
        c.env("CLAWDBOT_GATEWAY_PORT", port.to_string())
            .env("CLAWDBOT_GATEWAY_TOKEN", common::TOKEN)
            .arg(what);
        let (code, out, err) = tokio::task::block_in_place(|| run(c));
        assert_eq!(code, 0, "{what}: {err}");
        assert!(
            out.contains(
                "sessions.json: sessions-index format version 2 was written by a newer clawdbot"
            ),
            "{what}: {out}"
        );
    }

    // What depends on the refused file says so, by name.
    let hist = call(&mut ws, "hi", "chat.history", json!({"sessionKey": "main"})).await;
    assert_eq!(hist["ok"], false, "{hist}");
    let msg = hist["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("sessions.json") && msg.contains("newer clawdbot"),
        "{msg}"
    );
    let r = call(
        &mut ws,
        "cs",
        "chat.send",
        json!({"sessionKey": "main", "message": "hi", "idempotencyKey": "r1"}),
    )
    .await;
    if r["ok"] == true {
        let events = common::chat_events(&mut ws, "r1").await;
        let last = events.last().unwrap();
        assert_eq!(last["state"], "error", "{last}");
        assert!(
            last["errorMessage"]
                .as_str()
                .unwrap()
                .contains("newer clawdbot"),
            "{last}"
        );
    } else {
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("newer clawdbot"),
            "{r}"
        );
    }

    // Everything else serves: the original's cron store and paired devices load.
    let jobs = call(&mut ws, "cl", "cron.list", json!({"includeDisabled": true})).await;
    assert_eq!(jobs["payload"]["jobs"][0]["id"], "job-original", "{jobs}");
    // (The CLI above paired itself next to the original's device: pairing works too.)
    let devices = call(&mut ws, "dl", "device.pair.list", json!({})).await;
    let ids: Vec<&str> = devices["payload"]["paired"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["deviceId"].as_str())
        .collect();
    assert!(ids.contains(&"dev-1") && ids.len() == 2, "{devices}");
    // Telegram keeps polling: a DM is accepted into the durable inbox (and confirmed
    // upstream) but not answered while its session store is refused.
    let update = tg.dm(42, "hello after the rollback");
    tg.wait_confirmed(update).await;
    let inbox = std::fs::read_to_string(st.join("telegram/inbox-default.json")).unwrap();
    assert!(inbox.contains("hello after the rollback"));
    assert!(
        tg.sent().is_empty(),
        "answered without a session store: {:?}",
        tg.sent()
    );
    assert_eq!(
        std::fs::read_to_string(&sessions).unwrap(),
        future,
        "the newer file was touched"
    );

    // The operator restores the backup the newer release left (here: an empty v1
    // index): the kept message is answered and the refusal is gone from `status`.
    let tmp = sessions.with_extension("restore");
    std::fs::write(&tmp, "{}").unwrap();
    std::fs::rename(&tmp, &sessions).unwrap();
    let sent = tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "re rollback", "{sent:?}");
    eventually("the refusal to clear", async || {
        let s = call(&mut ws, "st2", "status", json!({})).await;
        (s["payload"]["stateFormat"]["ok"] == true).then_some(())
    })
    .await;
    stop(gw);
}

/// "The next version" bumped every file it writes: this release refuses each one by
/// name, starts anyway, serves what needs none of them, and leaves every byte as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_of_the_next_version_is_refused_file_by_file_and_left_byte_for_byte() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    write_config(root.path(), &tg, &model);
    let st = state(root.path());
    let files: Vec<(&str, &str, String)> = vec![
        (
            "sessions-index",
            "agents/main/sessions/sessions.json",
            json!({"version": 2, "s": {}}).to_string(),
        ),
        (
            "transcript",
            "agents/main/sessions/s-next.jsonl",
            "{\"type\":\"session\",\"version\":4,\"id\":\"s-next\"}\n".into(),
        ),
        (
            "devices-paired",
            "devices/paired.json",
            json!({"version": 2, "devices": []}).to_string(),
        ),
        (
            "devices-pending",
            "devices/pending.json",
            json!({"version": 2}).to_string(),
        ),
        (
            "channel-pairing",
            "credentials/telegram-pairing.json",
            json!({"version": 2, "requests": {}}).to_string(),
        ),
        (
            "channel-allowfrom",
            "credentials/telegram-allowFrom.json",
            json!({"version": 2, "allowFrom": {}}).to_string(),
        ),
        (
            "channel-inbox",
            "telegram/inbox-default.json",
            json!({"version": 2, "queue": []}).to_string(),
        ),
        (
            "telegram-offset",
            "telegram/update-offset-default.json",
            json!({"version": 2, "offset": 5}).to_string(),
        ),
        (
            "cron-jobs",
            "cron/jobs.json",
            json!({"version": 2, "jobs": {}}).to_string(),
        ),
        (
            "heartbeat-state",
            "heartbeat/state.json",
            json!({"version": 2}).to_string(),
        ),
        (
            "exec-allowlist",
            "exec-allowlist.json",
            json!({"version": 3}).to_string(),
        ),
        (
            "auth-profiles",
            "agents/main/agent/auth-profiles.json",
            json!({"version": 2, "profiles": []}).to_string(),
        ),
    ];
    for (_, path, text) in &files {
        write(&st.join(path), text);
    }
    let newer_run = "{\"ts\":1,\"jobId\":\"j\",\"action\":\"finished\",\"v\":2}\n";
    write(&st.join("cron/runs/j.jsonl"), newer_run);

    let (gw, port) = start(root.path());
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let status = call(&mut ws, "st", "status", json!({})).await;
    let mut kinds: Vec<&str> = status["payload"]["stateFormat"]["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    // Transcripts are checked when opened, not at start.
    let mut want: Vec<&str> = files
        .iter()
        .map(|f| f.0)
        .filter(|k| *k != "transcript")
        .collect();
    want.sort();
    assert_eq!(kinds, want, "{status}");

    // Things that would write the refused files answer with the refusal...
    let add = call(&mut ws, "ca", "cron.add", json!({"name": "n", "schedule": {"kind": "every", "everyMs": 60000},
        "sessionTarget": "main", "wakeMode": "now", "payload": {"kind": "systemEvent", "text": "x"}})).await;
    assert_eq!(add["ok"], false, "{add}");
    assert!(
        add["error"]["message"]
            .as_str()
            .unwrap()
            .contains("newer clawdbot"),
        "{add}"
    );
    let hist = call(&mut ws, "hi", "chat.history", json!({"sessionKey": "main"})).await;
    assert!(
        hist["error"]["message"]
            .as_str()
            .unwrap()
            .contains("newer clawdbot"),
        "{hist}"
    );
    // ...the Telegram account whose inbox is refused stops with that reason...
    let chs = eventually("telegram to report its inbox", async || {
        let c = call(&mut ws, "ch", "channels.status", json!({})).await;
        let acct = c["payload"]["channelAccounts"]["telegram"][0].clone();
        acct["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("inbox-default.json"))
            .then_some(acct)
    })
    .await;
    assert!(
        chs["lastError"]
            .as_str()
            .unwrap()
            .contains("newer clawdbot"),
        "{chs}"
    );
    // ...a heartbeat runs (and fails on the refused sessions) without recording its
    // time over the newer heartbeat state...
    let r = call(
        &mut ws,
        "w",
        "wake",
        json!({"mode": "now", "text": "check"}),
    )
    .await;
    assert_eq!(r["payload"], json!({"ok": true}), "{r}");
    loop {
        let f = common::next(&mut ws).await.expect("socket open");
        if f["type"] == "event" && f["event"] == "heartbeat" {
            break;
        }
    }
    // ...and what needs none of them serves.
    let health = call(&mut ws, "h", "health", json!({})).await;
    assert_eq!(health["ok"], true, "{health}");
    let devices = call(&mut ws, "dl", "device.pair.list", json!({})).await;
    assert_eq!(devices["payload"]["paired"], json!([]), "{devices}");
    let runs = call(&mut ws, "cr", "cron.runs", json!({"id": "j"})).await;
    assert_eq!(
        runs["payload"]["entries"],
        json!([]),
        "a newer run line was read: {runs}"
    );
    stop(gw);

    for (_, path, text) in &files {
        assert_eq!(
            &std::fs::read_to_string(st.join(path)).unwrap(),
            text,
            "{path} changed"
        );
    }
    assert_eq!(
        std::fs::read_to_string(st.join("cron/runs/j.jsonl")).unwrap(),
        newer_run
    );
    let (code, f) = doctor(root.path(), &[]);
    assert_eq!(code, 1);
    for (kind, path, _) in &files {
        assert!(
            has(&f, "error", &[path, kind, "newer clawdbot"]),
            "doctor misses {path}: {f:?}"
        );
    }
    assert!(
        has(&f, "info", &["j.jsonl", "1 line(s) in a newer format"]),
        "{f:?}"
    );
}
