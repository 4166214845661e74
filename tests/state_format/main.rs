//! State that survives going back a version (docs/state-format.md), with the real binary:
//! a state dir written by "the next version" (a format bump made here) is refused file
//! by file and left byte for byte while everything else serves; a current file carrying
//! fields this release does not know, and the original's older formats, keep working;
//! `doctor` reports both and `doctor --migrate` upgrades only what has a migration.
//!
//! `refused.rs`: newer files; `compatible.rs`: same-version files with unknown fields,
//! the original's older formats, doctor; `original.rs`: a rollback to the original.

#[path = "../common/mod.rs"]
mod common;
mod compatible;
mod original;
mod refused;

use std::path::Path;
use std::time::{Duration, Instant};

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram};
use common::proc::{Proc, command, run, start_gateway, state};
use common::write;
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
