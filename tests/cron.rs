//! Cron jobs end to end: an `every` agent turn delivered to Telegram, a one-shot `at`
//! that deletes itself, a system event seen by the main session's next turn, cron off,
//! and (with the real binary) a job that survives a restart and a `kill -9` mid-run that
//! does not run its slot again. Waits are on events and recorded requests.

mod common;

use std::time::Duration;

use common::fakes::Reply;
use common::proc::{start_gateway, state};
use common::world::{World, last_user_text};
use common::{Ws, call, next, operator};
use serde_json::{Value, json};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Waits (at most 20 s) for a `cron` event matching `f`.
async fn cron_event(ws: &mut Ws, f: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let fr = next(ws).await.expect("socket open");
            if fr["type"] == "event" && fr["event"] == "cron" && f(&fr["payload"]) {
                return fr["payload"].clone();
            }
        }
    })
    .await
    .expect("cron event in time")
}

#[tokio::test]
async fn an_every_job_runs_an_agent_turn_and_delivers_it_to_telegram() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("Good morning!".into()));
    let mut gw = w.gateway(json!({}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "morning", "schedule": {"kind": "every", "everyMs": 1000},
            "sessionTarget": "isolated", "wakeMode": "now",
            "payload": {"kind": "agentTurn", "message": "say good morning", "deliver": true,
                        "channel": "telegram", "to": "4242"},
        }),
    )
    .await;
    assert_eq!(added["ok"], true, "{added}");
    let job = &added["payload"];
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["enabled"], true);
    assert_eq!(job["schedule"], json!({"kind": "every", "everyMs": 1000}));
    assert!(job["state"]["nextRunAtMs"].as_i64().unwrap() > job["createdAtMs"].as_i64().unwrap());

    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "Good morning!");
    assert_eq!(sent[0]["chat_id"].to_string().trim_matches('"'), "4242");
    let reqs = w.anthropic.requests();
    assert_eq!(last_user_text(&reqs[0]), "say good morning");
    let fin = cron_event(&mut ws, |p| {
        p["action"] == "finished" && p["jobId"] == id.as_str()
    })
    .await;
    assert_eq!(fin["status"], "ok", "{fin}");
    assert!(fin["nextRunAtMs"].is_i64());

    let runs = call(&mut ws, "r", "cron.runs", json!({"id": id, "limit": 10})).await;
    let e = &runs["payload"]["entries"][0];
    assert_eq!(e["action"], "finished", "{runs}");
    assert_eq!(e["status"], "ok");
    assert_eq!(e["jobId"], id.as_str());
    assert_eq!(e["delivered"], true);
    assert!(e["ts"].is_i64() && e["durationMs"].is_i64());

    let st = call(&mut ws, "s", "cron.status", json!({})).await;
    assert_eq!(st["payload"]["enabled"], true, "{st}");
    assert_eq!(st["payload"]["jobs"], 1);
    assert!(st["payload"]["nextWakeAtMs"].is_i64());
    assert!(
        st["payload"]["storePath"]
            .as_str()
            .unwrap()
            .ends_with("cron/jobs.json")
    );
    let list = call(&mut ws, "l", "cron.list", json!({})).await;
    assert_eq!(list["payload"]["jobs"][0]["id"], id.as_str(), "{list}");
    assert_eq!(list["payload"]["jobs"][0]["state"]["lastStatus"], "ok");
    // Strict params and the original's scopes/texts.
    let bad = call(&mut ws, "b", "cron.list", json!({"nope": 1})).await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected property 'nope'")
    );
    let bad = call(
        &mut ws,
        "b2",
        "cron.update",
        json!({"id": "missing", "patch": {}}),
    )
    .await;
    assert_eq!(bad["error"]["message"], "unknown cron job id: missing");
    let rm = call(&mut ws, "x", "cron.remove", json!({"jobId": id})).await;
    assert_eq!(rm["payload"], json!({"ok": true, "removed": true}));
    gw.shutdown().await;
}

#[tokio::test]
async fn an_at_job_runs_once_deletes_itself_and_its_text_reaches_the_main_session() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("noted".into()));
    let mut gw = w.gateway(json!({}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "reminder", "schedule": {"kind": "at", "atMs": now_ms() + 300},
            "sessionTarget": "main", "wakeMode": "now", "deleteAfterRun": true,
            "payload": {"kind": "systemEvent", "text": "Reminder: water the plants"},
        }),
    )
    .await;
    let id = added["payload"]["id"].as_str().unwrap().to_string();
    let fin = cron_event(&mut ws, |p| p["action"] == "finished").await;
    assert_eq!(fin["status"], "ok");
    assert_eq!(fin["summary"], "Reminder: water the plants");
    let gone = cron_event(&mut ws, |p| p["action"] == "removed").await;
    assert_eq!(gone["jobId"], id.as_str());
    let list = call(&mut ws, "l", "cron.list", json!({"includeDisabled": true})).await;
    assert_eq!(list["payload"]["jobs"], json!([]), "{list}");
    let store: Value = serde_json::from_str(
        &std::fs::read_to_string(gw.state_dir().join("cron/jobs.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(store, json!({"version": 1, "jobs": []}));
    let runs = call(&mut ws, "r", "cron.runs", json!({"id": id})).await;
    assert_eq!(
        runs["payload"]["entries"].as_array().unwrap().len(),
        1,
        "ran once: {runs}"
    );

    // wakeMode "now" woke the heartbeat: its turn in the main session showed the line
    // to the model.
    let reqs = w.anthropic.wait_requests(1).await;
    let text = last_user_text(&reqs[0]);
    assert!(
        text.starts_with("System: Reminder: water the plants\n\nRead HEARTBEAT.md"),
        "{text}"
    );
    // Shown once: the next chat turn does not repeat it.
    let r = common::chat_send(&mut ws, "main", "what's up?", "run-1").await;
    assert_eq!(r.last().unwrap()["state"], "final");
    let text = last_user_text(w.anthropic.requests().last().unwrap());
    assert_eq!(text, "what's up?");
    gw.shutdown().await;
}

async fn assert_nothing_runs(extra: Value) {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("should not run".into()));
    let mut gw = w.gateway(json!({}), extra).await;
    let mut ws = operator(&gw.url).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "tick", "schedule": {"kind": "every", "everyMs": 50},
            "sessionTarget": "main", "wakeMode": "now",
            "payload": {"kind": "systemEvent", "text": "tick"},
        }),
    )
    .await;
    assert_eq!(added["ok"], true, "methods still answer: {added}");
    let id = added["payload"]["id"].as_str().unwrap().to_string();
    let st = call(&mut ws, "s", "cron.status", json!({})).await;
    assert_eq!(st["payload"]["enabled"], false, "{st}");
    assert_eq!(st["payload"]["nextWakeAtMs"], Value::Null);
    // Twenty slots' worth of time: no run starts.
    let started = tokio::time::timeout(
        Duration::from_millis(1000),
        cron_event(&mut ws, |p| p["action"] == "started"),
    )
    .await;
    assert!(started.is_err(), "a job ran with cron off: {started:?}");
    let runs = call(&mut ws, "r", "cron.runs", json!({"id": id})).await;
    assert_eq!(runs["payload"]["entries"], json!([]));
    assert_eq!(
        gw.gw.host.agents.system_events.pending("agent:main:main"),
        0
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn cron_enabled_false_runs_nothing() {
    assert_nothing_runs(json!({"cron": {"enabled": false}})).await;
}

#[tokio::test]
async fn clawdbot_skip_cron_runs_nothing() {
    assert_nothing_runs(json!({"env": {"CLAWDBOT_SKIP_CRON": "1"}})).await;
}

/// With the real binary: a job added over RPC is still there after a restart, and a
/// `kill -9` while its agent turn hangs in the model does not run that slot again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_restart_and_a_kill_9_mid_run_is_not_repeated() {
    let model = common::fakes::FakeModel::anthropic().await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();

    // First life: a one-shot agent turn starts and hangs in the model; kill -9.
    model.script([Reply::Hang]);
    let (mut gw, port) = start_gateway(root.path(), common::TOKEN, &[]);
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "once", "schedule": {"kind": "at", "atMs": now_ms() + 200},
            "sessionTarget": "isolated", "wakeMode": "next-heartbeat",
            "payload": {"kind": "agentTurn", "message": "first slot"},
        }),
    )
    .await;
    let id = added["payload"]["id"].as_str().unwrap().to_string();
    model.wait_requests(1).await;
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    let store: Value = serde_json::from_str(
        &std::fs::read_to_string(state(root.path()).join("cron/jobs.json")).unwrap(),
    )
    .unwrap();
    assert!(
        store["jobs"][0]["state"]["runningAtMs"].is_i64(),
        "marked before the run: {store}"
    );

    // Second life: the job is still there, recorded as interrupted, and not re-run.
    model.always(Reply::Text("done".into()));
    let (_gw, port) = start_gateway(root.path(), common::TOKEN, &[]);
    let mut ws = operator(&format!("ws://127.0.0.1:{port}")).await;
    // A second job due right away: once it has run, the timer has had its chance to
    // (wrongly) re-run the first.
    call(
        &mut ws,
        "b",
        "cron.add",
        json!({
            "name": "probe", "schedule": {"kind": "at", "atMs": now_ms() + 100},
            "sessionTarget": "isolated", "wakeMode": "next-heartbeat",
            "payload": {"kind": "agentTurn", "message": "probe slot"},
        }),
    )
    .await;
    let reqs = model.wait_requests(2).await;
    cron_event(&mut ws, |p| p["action"] == "finished").await;
    let list = call(&mut ws, "l", "cron.list", json!({"includeDisabled": true})).await;
    let jobs = list["payload"]["jobs"].as_array().unwrap();
    let first = jobs
        .iter()
        .find(|j| j["id"] == id.as_str())
        .expect("survived the restart");
    assert_eq!(first["enabled"], false, "{first}");
    assert_eq!(first["state"]["lastStatus"], "error");
    assert!(
        first["state"]["lastError"]
            .as_str()
            .unwrap()
            .contains("interrupted")
    );
    assert!(first["state"].get("runningAtMs").is_none());
    let firsts = model
        .requests()
        .iter()
        .filter(|r| last_user_text(r) == "first slot")
        .count();
    assert_eq!(firsts, 1, "the killed slot ran again: {reqs:?}");
    assert_eq!(model.requests().len(), 2);

    // The CLI reads the same list from the running gateway.
    let url = format!("ws://127.0.0.1:{port}");
    let mut cmd = common::proc::command(root.path());
    cmd.args([
        "cron",
        "list",
        "--all",
        "--json",
        "--url",
        &url,
        "--token",
        common::TOKEN,
    ]);
    let (code, out, err) = common::proc::run(cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id.as_str()),
        "{out}"
    );
    let mut cmd = common::proc::command(root.path());
    cmd.args([
        "cron",
        "add",
        "--name",
        "x",
        "--every",
        "10y",
        "--system-event",
        "t",
        "--url",
        &url,
    ]);
    let (code, _, err) = common::proc::run(cmd);
    assert_eq!(code, 2);
    assert!(err.contains("invalid duration unit"), "{err}");
}

#[tokio::test]
async fn delivery_without_a_target_uses_the_main_sessions_last_chat_or_records_why_not() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("cron says hi".into()));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    let mut ws = operator(&gw.url).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "daily", "schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Europe/Vienna"},
            "sessionTarget": "isolated", "wakeMode": "next-heartbeat",
            "payload": {"kind": "agentTurn", "message": "hello", "deliver": true, "bestEffortDeliver": true},
        }),
    )
    .await;
    let id = added["payload"]["id"].as_str().unwrap().to_string();
    // Not due: a run without `mode` (or `mode:"due"`) does nothing.
    let r = call(&mut ws, "d", "cron.run", json!({"id": id})).await;
    assert_eq!(
        r["payload"],
        json!({"ok": true, "ran": false, "reason": "not-due"})
    );
    // No chat yet: the run is ok (best effort) but not delivered, and says why.
    let r = call(&mut ws, "f", "cron.run", json!({"id": id, "mode": "force"})).await;
    assert_eq!(r["payload"], json!({"ok": true, "ran": true}), "{r}");
    let runs = call(&mut ws, "r", "cron.runs", json!({"id": id})).await;
    let e = &runs["payload"]["entries"][0];
    assert_eq!(e["status"], "ok", "{runs}");
    assert_eq!(e["delivered"], false);
    assert!(
        e["deliveryError"]
            .as_str()
            .unwrap()
            .contains("no delivery target")
    );
    assert!(w.tg.sent().is_empty());

    // A Telegram DM makes that chat the main session's last one; the job delivers there.
    w.tg.dm(77, "hi bot");
    w.tg.wait_sent(1).await;
    let r = call(
        &mut ws,
        "f2",
        "cron.run",
        json!({"id": id, "mode": "force"}),
    )
    .await;
    assert_eq!(r["payload"]["ran"], true);
    let sent = w.tg.wait_sent(2).await;
    assert_eq!(sent[1]["text"], "cron says hi");
    assert_eq!(sent[1]["chat_id"].to_string().trim_matches('"'), "77");

    // A payload patch of the same kind merges; a bad schedule names the key.
    let up = call(
        &mut ws,
        "u",
        "cron.update",
        json!({"id": id, "patch": {"payload": {"kind": "agentTurn", "message": "bye"}, "enabled": false}}),
    )
    .await;
    assert_eq!(up["payload"]["payload"]["message"], "bye", "{up}");
    assert_eq!(up["payload"]["payload"]["deliver"], true);
    assert_eq!(up["payload"]["enabled"], false);
    assert!(up["payload"]["state"].get("nextRunAtMs").is_none());
    let bad = call(
        &mut ws,
        "u2",
        "cron.update",
        json!({"id": id, "patch": {"schedule": {"kind": "cron", "expr": "0 7 * * *", "tz": "Mars/Base"}}}),
    )
    .await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("schedule.tz"),
        "{bad}"
    );
    let bad = call(
        &mut ws,
        "a2",
        "cron.add",
        json!({"name": "x", "schedule": {"kind": "every", "everyMs": 1000}, "sessionTarget": "main",
               "payload": {"kind": "agentTurn", "message": "m"}}),
    )
    .await;
    assert_eq!(
        bad["error"]["message"],
        "main cron jobs require payload.kind=\"systemEvent\""
    );
    let bad = call(
        &mut ws,
        "a3",
        "cron.add",
        json!({"name": "x", "schedule": {"kind": "every", "everyMs": 1000, "every": 5}, "sessionTarget": "main",
               "payload": {"kind": "systemEvent", "text": "t"}}),
    )
    .await;
    assert_eq!(
        bad["error"]["message"],
        "unexpected property 'schedule.every' for kind \"every\""
    );
    let bad = call(&mut ws, "r2", "cron.runs", json!({})).await;
    assert_eq!(
        bad["error"]["message"],
        "invalid cron.runs params: missing id"
    );
    // `wake` queues a line for the main session (after the isolated run's summary line,
    // which the original posts there too); `next-heartbeat` leaves it queued.
    let r = call(
        &mut ws,
        "w",
        "wake",
        json!({"mode": "next-heartbeat", "text": "Wake up"}),
    )
    .await;
    assert_eq!(r["payload"], json!({"ok": true}));
    assert_eq!(
        gw.gw.host.agents.system_events.drain("agent:main:main"),
        ["Cron: cron says hi", "Wake up"]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_agent_turn_past_its_timeout_seconds_is_an_error_run() {
    let w = World::new().await;
    w.anthropic.always(Reply::Hang);
    let mut gw = w.gateway(json!({}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    let added = call(
        &mut ws,
        "a",
        "cron.add",
        json!({
            "name": "slow", "schedule": {"kind": "every", "everyMs": 3_600_000},
            "sessionTarget": "isolated",
            "payload": {"kind": "agentTurn", "message": "take your time", "timeoutSeconds": 1},
        }),
    )
    .await;
    let id = added["payload"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        added["payload"]["wakeMode"], "next-heartbeat",
        "the default"
    );
    let r = call(&mut ws, "f", "cron.run", json!({"id": id, "mode": "force"})).await;
    assert_eq!(r["payload"]["ran"], true, "{r}");
    let runs = call(&mut ws, "r", "cron.runs", json!({"id": id})).await;
    let e = &runs["payload"]["entries"][0];
    assert_eq!(e["status"], "error", "{runs}");
    assert_eq!(e["error"], "timed out after 1s");
    let list = call(&mut ws, "l", "cron.list", json!({})).await;
    let st = &list["payload"]["jobs"][0]["state"];
    assert_eq!(st["lastStatus"], "error");
    assert!(st.get("runningAtMs").is_none(), "{st}");
    gw.shutdown().await;
}

/// Two isolated jobs started together, the first one's model call hanging until its
/// timeout: returns whether the first had finished when the second reached the model.
async fn second_waits_for_first(max_concurrent: Option<u64>) -> bool {
    let w = World::new().await;
    w.anthropic
        .script([Reply::Hang, Reply::Text("second".into())]);
    let extra = match max_concurrent {
        Some(n) => json!({"cron": {"maxConcurrentRuns": n}}),
        None => json!({}),
    };
    let mut gw = w.gateway(json!({}), extra).await;
    let mut ws = operator(&gw.url).await;
    let mut ids = vec![];
    for (name, timeout) in [("first", 3), ("second", 30)] {
        let r = call(
            &mut ws,
            name,
            "cron.add",
            json!({"name": name, "schedule": {"kind": "every", "everyMs": 3_600_000},
                   "sessionTarget": "isolated", "wakeMode": "now",
                   "payload": {"kind": "agentTurn", "message": name, "timeoutSeconds": timeout}}),
        )
        .await;
        ids.push(r["payload"]["id"].as_str().unwrap().to_string());
    }
    // Start both at once (cron.run answers when its run finished), first one first.
    let url = gw.url.clone();
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let first = tokio::spawn({
        let url = url.clone();
        async move {
            let mut ws = operator(&url).await;
            call(&mut ws, "ra", "cron.run", json!({"id": a, "mode": "force"})).await
        }
    });
    w.anthropic.wait_requests(1).await;
    let second = tokio::spawn(async move {
        let mut ws = operator(&url).await;
        call(&mut ws, "rb", "cron.run", json!({"id": b, "mode": "force"})).await
    });
    let reqs = w.anthropic.wait_requests(2).await;
    assert_eq!(last_user_text(&reqs[1]), "second");
    let runs = call(
        &mut ws,
        "runs",
        "cron.runs",
        json!({"id": ids[0], "limit": 5}),
    )
    .await;
    let first_done = !runs["payload"]["entries"].as_array().unwrap().is_empty();
    assert_eq!(first.await.unwrap()["payload"]["ran"], true);
    assert_eq!(second.await.unwrap()["payload"]["ran"], true);
    gw.shutdown().await;
    first_done
}

#[tokio::test]
async fn agent_turns_of_jobs_run_one_at_a_time_unless_max_concurrent_runs_says_more() {
    // The original's cron lane: one at a time by default.
    assert!(
        second_waits_for_first(None).await,
        "the second job reached the model while the first still ran"
    );
    // cron.maxConcurrentRuns = 2: the second runs beside the hanging first.
    assert!(
        !second_waits_for_first(Some(2)).await,
        "with two places the second job waited for the first"
    );
}
