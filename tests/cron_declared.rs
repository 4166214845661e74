//! Cron jobs declared in the config (`cron.jobs`, what the Nix modules' option writes),
//! with the real binary: reconciled into the store at start, refused by cron.update and
//! cron.remove (naming the key, or the Nix option in Nix mode), updated and removed by a
//! reload while jobs made at run time are kept, and run on their schedule.

mod common;

use std::path::Path;

use common::proc::{start_gateway, state};
use common::{call, operator};
use serde_json::{Value, json};

fn write_config(root: &Path, cfg: &Value) {
    let path = state(root).join("clawdbot.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(cfg).unwrap()).unwrap();
}

fn config(jobs: Value) -> Value {
    json!({"agents": {"list": [{"id": "main"}]}, "cron": {"jobs": jobs}})
}

fn jobs_by_id(list: &Value) -> Vec<(String, Value)> {
    list["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].as_str().unwrap().to_string(), j.clone()))
        .collect()
}

#[tokio::test]
async fn declared_jobs_are_reconciled_refused_and_follow_a_reload() {
    let root = tempfile::tempdir().unwrap();
    write_config(
        root.path(),
        &config(json!({
            "stretch": {"schedule": {"kind": "every", "everyMs": 3_600_000},
                        "payload": {"kind": "systemEvent", "text": "Stretch."}},
            "gone-later": {"schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Lisbon"},
                           "payload": {"kind": "agentTurn", "message": "inbox"}},
        })),
    );
    let (mut gw, port) = start_gateway(root.path(), common::TOKEN, &[]);
    gw.wait_for("declared jobs (cron.jobs): 2 added, 0 updated, 0 removed");
    let url = format!("ws://127.0.0.1:{port}");
    let mut ws = operator(&url).await;

    let list = call(&mut ws, "l", "cron.list", json!({"includeDisabled": true})).await;
    let jobs = jobs_by_id(&list);
    let ids: Vec<&str> = jobs.iter().map(|(i, _)| i.as_str()).collect();
    assert!(
        ids.contains(&"declared:stretch") && ids.contains(&"declared:gone-later"),
        "{list}"
    );
    let (_, stretch) = jobs.iter().find(|(i, _)| i == "declared:stretch").unwrap();
    assert_eq!(stretch["sessionTarget"], "main");
    assert_eq!(stretch["name"], "stretch");
    let (_, later) = jobs
        .iter()
        .find(|(i, _)| i == "declared:gone-later")
        .unwrap();
    assert_eq!(
        later["sessionTarget"], "isolated",
        "an agent turn defaults to isolated"
    );

    // The methods refuse to change a declared job, naming where it is declared.
    for (method, params) in [
        (
            "cron.update",
            json!({"id": "declared:stretch", "patch": {"enabled": false}}),
        ),
        ("cron.remove", json!({"id": "declared:stretch"})),
    ] {
        let r = call(&mut ws, "u", method, params).await;
        assert_eq!(r["ok"], false, "{method}: {r}");
        let msg = r["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("declared in the config (cron.jobs.stretch)"),
            "{msg}"
        );
    }
    // A job made at run time, and a run of the declared job (allowed: it changes nothing).
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({"name": "mine", "schedule": {"kind": "every", "everyMs": 3_600_000},
               "sessionTarget": "main", "wakeMode": "next-heartbeat",
               "payload": {"kind": "systemEvent", "text": "mine"}}),
    )
    .await;
    assert_eq!(added["ok"], true, "{added}");
    let mine = added["payload"]["id"].as_str().unwrap().to_string();
    let ran = call(
        &mut ws,
        "r",
        "cron.run",
        json!({"id": "declared:stretch", "mode": "force"}),
    )
    .await;
    assert_eq!(ran["payload"]["ran"], true, "{ran}");

    // The declaration changes: stretch's text, gone-later removed, a new one added.
    write_config(
        root.path(),
        &config(json!({
            "stretch": {"schedule": {"kind": "every", "everyMs": 3_600_000},
                        "payload": {"kind": "systemEvent", "text": "Stretch and drink water."}},
            "new": {"schedule": {"kind": "every", "everyMs": 60_000},
                    "payload": {"kind": "systemEvent", "text": "new"}},
        })),
    );
    gw.signal("HUP");
    gw.wait_for("declared jobs (cron.jobs): 1 added, 1 updated, 1 removed");
    let list = call(&mut ws, "l2", "cron.list", json!({"includeDisabled": true})).await;
    let jobs = jobs_by_id(&list);
    let ids: Vec<&str> = jobs.iter().map(|(i, _)| i.as_str()).collect();
    assert!(!ids.contains(&"declared:gone-later"), "{list}");
    assert!(ids.contains(&"declared:new"), "{list}");
    assert!(
        ids.contains(&mine.as_str()),
        "the run-time job is kept: {list}"
    );
    let (_, stretch) = jobs.iter().find(|(i, _)| i == "declared:stretch").unwrap();
    assert_eq!(stretch["payload"]["text"], "Stretch and drink water.");
    assert_eq!(
        stretch["state"]["lastStatus"], "ok",
        "run history kept: {stretch}"
    );

    // A declaration made invalid keeps the stored job (and says why in status).
    write_config(
        root.path(),
        &config(json!({
            "stretch": {"schedule": {"kind": "every"}, "payload": {"kind": "systemEvent", "text": "x"}},
            "new": {"schedule": {"kind": "every", "everyMs": 60_000},
                    "payload": {"kind": "systemEvent", "text": "new"}},
        })),
    );
    gw.signal("HUP");
    gw.wait_for("cron.jobs.stretch.schedule");
    let status = call(&mut ws, "s", "cron.status", json!({})).await;
    let errs = status["payload"]["declaredErrors"].as_array().unwrap();
    assert!(
        errs[0]
            .as_str()
            .unwrap()
            .starts_with("cron.jobs.stretch.schedule"),
        "{status}"
    );
    let list = call(&mut ws, "l3", "cron.list", json!({"includeDisabled": true})).await;
    assert!(
        jobs_by_id(&list)
            .iter()
            .any(|(i, _)| i == "declared:stretch"),
        "an invalid declaration does not delete the job: {list}"
    );

    // The store is the original's shape, with the declared jobs in it.
    let store: Value = serde_json::from_str(
        &std::fs::read_to_string(state(root.path()).join("cron/jobs.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(store["version"], 1);
    assert!(
        store["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == "declared:new")
    );
}

#[tokio::test]
async fn in_nix_mode_a_declared_job_names_the_nix_option_and_check_config_rejects_a_bad_one() {
    let root = tempfile::tempdir().unwrap();
    let jobs = json!({"nightly": {"schedule": {"kind": "every", "everyMs": 3_600_000},
                                  "payload": {"kind": "systemEvent", "text": "n"}}});
    write_config(root.path(), &config(jobs));
    let mut cmd = common::proc::command(root.path());
    cmd.env("CLAWDBOT_NIX_MODE", "1")
        .env("CLAWDBOT_NIX_OPTION", "services.clawdbot.instances.family");
    let port = common::proc::free_port();
    cmd.args([
        "gateway",
        "--port",
        &port.to_string(),
        "--token",
        common::TOKEN,
    ]);
    let mut gw = common::proc::Proc::spawn(cmd);
    gw.wait_for("declared jobs (cron.jobs): 1 added");
    gw.wait_for("listening");
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let r = call(
        &mut ws,
        "u",
        "cron.remove",
        json!({"id": "declared:nightly"}),
    )
    .await;
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("declared by Nix (services.clawdbot.instances.family.cron.jobs.nightly)"),
        "{msg}"
    );

    // check-config (the Nix build's check) names the bad job's field.
    let bad = root.path().join("bad.json");
    std::fs::write(
        &bad,
        serde_json::to_string(&config(json!({"x": {"schedule": {"kind": "cron", "expr": "nope"},
                                                    "payload": {"kind": "systemEvent", "text": "t"}}})))
        .unwrap(),
    )
    .unwrap();
    let mut check = common::proc::command(root.path());
    check.args(["check-config", "--no-secrets"]).arg(&bad);
    let (code, _out, err) = common::proc::run(check);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cron.jobs.x.schedule:"), "{err}");
}
