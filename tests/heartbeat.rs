//! Heartbeats against the fake Telegram and the fake model: a beat with `HEARTBEAT.md`
//! delivers the model's text to the last chat, `HEARTBEAT_OK` delivers nothing, outside
//! `activeHours` nothing runs, `wake` runs one now with its text, `set-heartbeats`
//! pauses them and `health` says so, and a restart does not beat once per missed slot;
//! the same alert is not sent twice in a day, and the channels' `heartbeat` visibility
//! (`showOk`, `showAlerts`, `useIndicator`) is applied.
//! Waits are on `heartbeat` events and recorded requests, never sleeps.

mod common;

use common::fakes::{BOT_TOKEN, FakeModel, FakeTelegram, Reply};
use common::world::{World, last_user_text};
use common::{Ws, call, next, operator};
use serde_json::{Value, json};

/// The next `heartbeat` event on an operator connection.
async fn beat(ws: &mut Ws) -> Value {
    loop {
        let f = next(ws).await.expect("socket open");
        if f["event"] == "heartbeat" {
            return f["payload"].clone();
        }
    }
}

fn open_dms() -> Value {
    json!({"dmPolicy": "open", "allowFrom": ["*"]})
}

#[tokio::test]
async fn a_beat_delivers_alerts_to_the_last_chat_and_keeps_acks_silent() {
    let w = World::new().await;
    std::fs::write(
        w.workspace.path().join("HEARTBEAT.md"),
        "# Checks\n- remind me of the dentist\n",
    )
    .unwrap();
    w.anthropic.script([
        Reply::Text("hello Ada".into()),
        Reply::Text("Reminder: dentist at 3pm.".into()),
        Reply::Text("**HEARTBEAT_OK**".into()),
    ]);
    let hb = json!({"agents": {"defaults": {"heartbeat": {"every": "1s"}}}});
    let mut gw = w.gateway(open_dms(), hb).await;
    let mut ws = operator(&gw.url).await;
    // Ada talks first: her chat becomes the session's last channel.
    w.tg.dm(77, "hi");
    w.tg.wait_sent(1).await;
    let ev = loop {
        let ev = beat(&mut ws).await;
        if ev["status"] == "sent" {
            break ev;
        }
    };
    assert_eq!(
        (ev["channel"].as_str(), ev["to"].as_str()),
        (Some("telegram"), Some("77")),
        "{ev}"
    );
    assert_eq!(ev["indicatorType"], "alert");
    let sent = w.tg.wait_sent(2).await;
    assert_eq!(sent[1]["chat_id"], 77);
    assert_eq!(sent[1]["text"], "Reminder: dentist at 3pm.");
    // The beat asked with the heartbeat prompt, in the main session (it saw the DM).
    let reqs = w.anthropic.requests();
    assert!(
        last_user_text(&reqs[1]).starts_with("Read HEARTBEAT.md if it exists"),
        "{}",
        last_user_text(&reqs[1])
    );
    assert!(reqs[1].to_string().contains("hello Ada"));
    // The next beat is an acknowledgement: nothing is sent.
    let ev = beat(&mut ws).await;
    assert_eq!(ev["status"], "ok-token", "{ev}");
    assert_eq!(ev["indicatorType"], "ok");
    let last = call(&mut ws, "l", "last-heartbeat", json!({})).await;
    assert_eq!(last["payload"]["status"], "ok-token", "{last}");
    // Pausing: health tells the truth, and no beat runs.
    let r = call(&mut ws, "p", "set-heartbeats", json!({"enabled": false})).await;
    assert_eq!(r["payload"], json!({"ok": true, "enabled": false}));
    let h = call(&mut ws, "h", "health", json!({"probe": true})).await;
    assert_eq!(
        h["payload"]["agents"][0]["heartbeat"]["enabled"], false,
        "{h}"
    );
    assert_eq!(h["payload"]["heartbeatSeconds"], 0);
    assert_eq!(w.tg.sent().len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn outside_active_hours_or_with_an_empty_checklist_nothing_runs() {
    let w = World::new().await;
    std::fs::write(w.workspace.path().join("HEARTBEAT.md"), "- check mail\n").unwrap();
    // A one-hour window that starts two hours from now (UTC).
    let now_h = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600)
        % 24;
    let (start, end) = ((now_h + 2) % 24, (now_h + 3) % 24);
    let hb = json!({"agents": {"defaults": {"heartbeat": {"every": "1s",
        "activeHours": {"start": format!("{start:02}:00"), "end": format!("{end:02}:00"), "timezone": "UTC"}}}}});
    let mut gw = w.gateway(json!({"enabled": false}), hb).await;
    let mut ws = operator(&gw.url).await;
    let ev = beat(&mut ws).await;
    assert_eq!(
        (ev["status"].as_str(), ev["reason"].as_str()),
        (Some("skipped"), Some("quiet-hours"))
    );
    gw.shutdown().await;

    // A checklist with only headings and empty items: skipped, no model call.
    std::fs::write(
        w.workspace.path().join("HEARTBEAT.md"),
        "# Heartbeat\n\n- [ ]\n",
    )
    .unwrap();
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"agents": {"defaults": {"heartbeat": {"every": "1s"}}}}),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    let ev = beat(&mut ws).await;
    assert_eq!(ev["reason"], "empty-heartbeat-file", "{ev}");
    assert!(w.anthropic.requests().is_empty());
    gw.shutdown().await;
}

#[tokio::test]
async fn wake_runs_a_beat_now_with_its_text_and_no_target_is_reported() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("The oven is on!".into()));
    let hb = json!({"agents": {"defaults": {"heartbeat": {"every": "1h"}}}});
    let mut gw = w.gateway(json!({"enabled": false}), hb).await;
    let mut ws = operator(&gw.url).await;
    let bad = call(&mut ws, "b", "wake", json!({"mode": "later", "text": "x"})).await;
    assert_eq!(bad["ok"], false);
    let empty = call(&mut ws, "e", "wake", json!({"mode": "now", "text": " "})).await;
    assert_eq!(empty["payload"], json!({"ok": false}));
    let r = call(
        &mut ws,
        "w",
        "wake",
        json!({"mode": "now", "text": "Check the oven"}),
    )
    .await;
    assert_eq!(r["payload"], json!({"ok": true}));
    let ev = beat(&mut ws).await;
    // Nobody talked to the bot yet: the run happened, nothing could be delivered.
    assert_eq!(
        (ev["status"].as_str(), ev["reason"].as_str()),
        (Some("skipped"), Some("no-target")),
        "{ev}"
    );
    assert_eq!(ev["preview"], "The oven is on!");
    let reqs = w.anthropic.requests();
    assert_eq!(reqs.len(), 1);
    let text = last_user_text(&reqs[0]);
    assert!(
        text.starts_with("System: Check the oven\n\nRead HEARTBEAT.md"),
        "{text}"
    );
    // agent.identity.get answers the original's clients.
    let id = call(&mut ws, "i", "agent.identity.get", json!({})).await;
    assert_eq!(
        id["payload"],
        json!({"agentId": "main", "name": "Assistant", "avatar": "A"}),
        "{id}"
    );
    gw.shutdown().await;
}

/// The real binary, restarted after a day down: one beat at start, not one per missed
/// slot, and the last beat is remembered in the state dir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_downtime_beats_once() {
    use common::proc::{start_gateway, state};
    let tg = FakeTelegram::start().await;
    let model = FakeModel::anthropic().await;
    model.always(Reply::Echo);
    let root = tempfile::tempdir().unwrap();
    let st = state(root.path());
    std::fs::create_dir_all(st.join("heartbeat")).unwrap();
    let day_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 86_400_000;
    std::fs::write(
        st.join("heartbeat/state.json"),
        json!({"version": 1, "agents": {"main": {"lastRunAtMs": day_ago}}}).to_string(),
    )
    .unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"},
            "heartbeat": {"every": "1m", "target": "none"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"telegram": {"botToken": BOT_TOKEN, "apiRoot": tg.url, "dmPolicy": "open", "allowFrom": ["*"]}},
    });
    std::fs::write(st.join("clawdbot.json"), cfg.to_string()).unwrap();
    let (mut gw, _) = start_gateway(root.path(), "hb-token", &[]);
    gw.wait_for("heartbeat skipped (no-target)");
    // A message after the beat: the session's queue shows whatever ran before it.
    tg.dm(5, "ping");
    let sent = tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "re ping");
    let beats = model
        .requests()
        .iter()
        .filter(|r| last_user_text(r).contains("HEARTBEAT.md"))
        .count();
    assert_eq!(beats, 1, "one beat for a day of missed slots");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(st.join("heartbeat/state.json")).unwrap())
            .unwrap();
    assert!(saved["agents"]["main"]["lastRunAtMs"].as_i64().unwrap() > day_ago + 86_000_000);
    gw.signal("TERM");
    gw.wait_exit();
}

#[tokio::test]
async fn a_repeated_alert_is_not_sent_twice_and_visibility_is_applied() {
    let w = World::new().await;
    std::fs::write(w.workspace.path().join("HEARTBEAT.md"), "- rent\n").unwrap();
    w.anthropic.script([
        Reply::Text("Rent is due.".into()),
        Reply::Text("Rent is due.".into()),
        Reply::Text("HEARTBEAT_OK".into()),
    ]);
    // The channel shows acknowledgements (showOk) and puts no indicator on events; the
    // beats go to one chat, named in the config.
    let mut tg = open_dms();
    tg["heartbeat"] = json!({"showOk": true, "useIndicator": false});
    let hb = json!({"agents": {"defaults": {"heartbeat":
        {"every": "1s", "target": "telegram", "to": "77"}}}});
    let mut gw = w.gateway(tg, hb).await;
    let mut ws = operator(&gw.url).await;
    let mut seen = vec![];
    while seen.len() < 3 {
        let ev = beat(&mut ws).await;
        if ev["status"] != "skipped" || ev["reason"] == "duplicate" {
            seen.push(ev);
        }
    }
    assert_eq!(seen[0]["status"], "sent", "{seen:?}");
    assert_eq!(
        seen[1]["reason"], "duplicate",
        "the same text again: {seen:?}"
    );
    assert_eq!(seen[2]["status"], "ok-token", "{seen:?}");
    assert_eq!(seen[2]["silent"], false, "showOk sent it: {seen:?}");
    assert!(
        seen.iter().all(|e| e.get("indicatorType").is_none()),
        "{seen:?}"
    );
    let sent = w.tg.wait_sent(2).await;
    let texts: Vec<&str> = sent.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Rent is due.", "HEARTBEAT_OK"]);
    assert_eq!(sent[0]["chat_id"], 77);
    gw.shutdown().await;
}

#[tokio::test]
async fn with_alerts_and_acks_and_indicators_off_no_beat_calls_the_model() {
    let w = World::new().await;
    std::fs::write(w.workspace.path().join("HEARTBEAT.md"), "- rent\n").unwrap();
    w.anthropic.always(Reply::Text("hello".into()));
    let hb = json!({"agents": {"defaults": {"heartbeat":
                        {"every": "1s", "target": "telegram", "to": "77"}}},
                    "channels": {"defaults": {"heartbeat":
                        {"showOk": false, "showAlerts": false, "useIndicator": false}}}});
    let mut gw = w.gateway(open_dms(), hb).await;
    let mut ws = operator(&gw.url).await;
    let ev = loop {
        let ev = beat(&mut ws).await;
        if ev["reason"] == "alerts-disabled" {
            break ev;
        }
    };
    assert_eq!(ev["status"], "skipped");
    assert!(w.anthropic.requests().is_empty(), "the beat ran the model");
    gw.shutdown().await;
}
