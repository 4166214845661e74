//! Same-version files with fields this release does not know, the original's older
//! formats, and what doctor makes of them.

use super::common::fakes::{FakeModel, FakeTelegram, Reply};
use super::common::{call, chat_send, operator, write};
use super::*;

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
