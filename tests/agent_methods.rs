//! The operator-facing assistant methods over a real WebSocket: `agent` (two answers),
//! `agent.wait`, `send` to Telegram, and `sessions.patch/preview/reset/delete`.

mod common;

use common::fakes::Reply;
use common::world::World;
use common::{call, next, operator, res, send};
use serde_json::json;

#[tokio::test]
async fn agent_answers_accepted_then_the_result_and_agent_wait_sees_it() {
    let w = World::new().await;
    w.anthropic.script([Reply::Text("forty-two".into())]);
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    send(&mut ws, json!({"type": "req", "id": "a1", "method": "agent", "params": {"message": "the answer?", "idempotencyKey": "job-1"}})).await;
    let first = res(&mut ws, "a1").await;
    assert_eq!(first["payload"]["status"], "accepted", "{first}");
    assert_eq!(first["payload"]["runId"], "job-1");
    let second = res(&mut ws, "a1").await;
    assert_eq!(second["payload"]["status"], "ok", "{second}");
    assert_eq!(
        second["payload"]["result"]["payloads"][0]["text"],
        "forty-two"
    );
    let waited = call(
        &mut ws,
        "w",
        "agent.wait",
        json!({"runId": "job-1", "timeoutMs": 1000}),
    )
    .await;
    assert_eq!(waited["payload"]["status"], "ok", "{waited}");
    assert!(waited["payload"]["endedAt"].as_i64().is_some());
    // Unknown agents are refused with the original's text.
    let bad = call(
        &mut ws,
        "b",
        "agent",
        json!({"message": "x", "idempotencyKey": "k", "agentId": "ghost"}),
    )
    .await;
    assert_eq!(
        bad["error"]["message"],
        "invalid agent params: unknown agent id \"ghost\""
    );
    let none = call(
        &mut ws,
        "n",
        "agent.wait",
        json!({"runId": "never", "timeoutMs": 10}),
    )
    .await;
    assert_eq!(none["payload"]["status"], "timeout");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_failed_agent_run_answers_with_an_error_and_its_payload() {
    let w = World::new().await;
    w.anthropic.always(Reply::Status(401));
    w.openai.always(Reply::Status(401));
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    send(&mut ws, json!({"type": "req", "id": "a1", "method": "agent", "params": {"message": "hi", "idempotencyKey": "job-2"}})).await;
    assert_eq!(res(&mut ws, "a1").await["payload"]["status"], "accepted");
    let second = res(&mut ws, "a1").await;
    assert_eq!(second["ok"], false, "{second}");
    assert_eq!(second["error"]["code"], "UNAVAILABLE");
    assert_eq!(second["payload"]["status"], "error");
    assert!(
        second["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("All models failed (2)"),
        "{second}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn send_delivers_to_a_telegram_chat_once_per_idempotency_key() {
    let w = World::new().await;
    let mut gw = w.gateway(json!({}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    let r = call(
        &mut ws,
        "s",
        "send",
        json!({"to": "4242", "message": "*ping*", "channel": "telegram", "idempotencyKey": "s-1"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["channel"], "telegram");
    let again = call(
        &mut ws,
        "s2",
        "send",
        json!({"to": "4242", "message": "*ping*", "channel": "telegram", "idempotencyKey": "s-1"}),
    )
    .await;
    assert_eq!(again["payload"], r["payload"]);
    let sent = w.tg.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["chat_id"], 4242);
    assert_eq!(sent[0]["text"], "<i>ping</i>");
    let bad = call(
        &mut ws,
        "s3",
        "send",
        json!({"to": "x", "message": "m", "channel": "signal", "idempotencyKey": "s-2"}),
    )
    .await;
    let msg = bad["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("unsupported channel: signal (this gateway sends to: telegram"),
        "{bad}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn sessions_can_be_patched_previewed_reset_and_deleted() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("noted".into()));
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    for (i, key) in ["main", "side"].iter().enumerate() {
        let run = format!("r{i}");
        call(
            &mut ws,
            &run,
            "chat.send",
            json!({"sessionKey": key, "message": format!("hello {key}"), "idempotencyKey": run}),
        )
        .await;
        loop {
            let f = next(&mut ws).await.unwrap();
            if f["event"] == "chat"
                && f["payload"]["runId"] == run
                && f["payload"]["state"] == "final"
            {
                break;
            }
        }
    }
    let p = call(
        &mut ws,
        "p",
        "sessions.patch",
        json!({"key": "side", "label": "Side quest", "thinkingLevel": "high"}),
    )
    .await;
    assert_eq!(p["payload"]["entry"]["label"], "Side quest", "{p}");
    let bad = call(
        &mut ws,
        "pb",
        "sessions.patch",
        json!({"key": "side", "thinkingLevel": "extreme"}),
    )
    .await;
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("thinkingLevel"),
        "{bad}"
    );
    let pv = call(
        &mut ws,
        "v",
        "sessions.preview",
        json!({"keys": ["side", "nope"]}),
    )
    .await;
    let previews = pv["payload"]["previews"].as_array().unwrap();
    assert_eq!(previews[0]["status"], "ok");
    assert_eq!(previews[0]["items"][0]["text"], "hello side");
    assert_eq!(previews[1]["status"], "missing");
    let list = call(&mut ws, "l", "sessions.list", json!({})).await;
    let labels: Vec<_> = list["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].clone())
        .collect();
    assert!(labels.contains(&json!("Side quest")), "{list}");
    let before = p["payload"]["entry"]["sessionId"].clone();
    let r = call(&mut ws, "r", "sessions.reset", json!({"key": "side"})).await;
    assert_ne!(r["payload"]["entry"]["sessionId"], before);
    assert_eq!(
        r["payload"]["entry"]["label"], "Side quest",
        "labels survive a reset"
    );
    let h = call(&mut ws, "h", "chat.history", json!({"sessionKey": "side"})).await;
    assert_eq!(h["payload"]["messages"], json!([]));
    let main = call(&mut ws, "dm", "sessions.delete", json!({"key": "main"})).await;
    assert_eq!(
        main["error"]["message"],
        "Cannot delete the main session (agent:main:main)."
    );
    let d = call(&mut ws, "d", "sessions.delete", json!({"key": "side"})).await;
    assert_eq!(d["payload"]["deleted"], true, "{d}");
    let pv = call(&mut ws, "v2", "sessions.preview", json!({"keys": ["side"]})).await;
    assert_eq!(pv["payload"]["previews"][0]["status"], "missing");
    gw.shutdown().await;
}

#[tokio::test]
async fn agent_with_deliver_sends_the_reply_to_the_telegram_chat() {
    let w = World::new().await;
    w.anthropic.script([Reply::Text("daily digest".into())]);
    let mut gw = w.gateway(json!({}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    send(&mut ws, json!({"type": "req", "id": "a", "method": "agent", "params": {"message": "digest", "idempotencyKey": "d-1", "deliver": true, "channel": "telegram", "to": "777"}})).await;
    res(&mut ws, "a").await;
    let done = res(&mut ws, "a").await;
    assert_eq!(done["payload"]["status"], "ok", "{done}");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["chat_id"], 777);
    assert_eq!(sent[0]["text"], "daily digest");
    gw.shutdown().await;
}

/// Runs one chat.send to completion; returns the final event's payload.
async fn chat(ws: &mut common::Ws, key: &str, message: &str, run: &str) -> serde_json::Value {
    let ack = call(
        ws,
        run,
        "chat.send",
        json!({"sessionKey": key, "message": message, "idempotencyKey": run}),
    )
    .await;
    assert_eq!(ack["ok"], true, "{ack}");
    loop {
        let f = next(ws).await.unwrap();
        if f["event"] == "chat" && f["payload"]["runId"] == run && f["payload"]["state"] != "delta"
        {
            return f["payload"].clone();
        }
    }
}

#[tokio::test]
async fn messages_for_one_session_queue_in_order() {
    let w = World::new().await;
    w.anthropic.script([
        Reply::Text("first answer".into()),
        Reply::Text("second answer".into()),
    ]);
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let mut ws = operator(&gw.url).await;
    // Both are sent before either is answered.
    send(&mut ws, json!({"type": "req", "id": "q1", "method": "chat.send", "params": {"sessionKey": "main", "message": "one", "idempotencyKey": "q1"}})).await;
    send(&mut ws, json!({"type": "req", "id": "q2", "method": "chat.send", "params": {"sessionKey": "main", "message": "two", "idempotencyKey": "q2"}})).await;
    let mut finals = vec![];
    while finals.len() < 2 {
        let f = next(&mut ws).await.unwrap();
        if f["event"] == "chat" && f["payload"]["state"] == "final" {
            finals.push(f["payload"]["runId"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(finals, ["q1", "q2"]);
    // The second run saw the whole first turn: it waited for it.
    let second = w.anthropic.requests()[1]["messages"].to_string();
    let (a, b, c) = (
        second.find("one").unwrap(),
        second.find("first answer").unwrap(),
        second.find("two").unwrap(),
    );
    assert!(a < b && b < c, "{second}");
    gw.shutdown().await;
}

#[tokio::test]
async fn in_nix_mode_a_missing_program_names_the_option_to_add_it() {
    let w = World::new().await;
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": "ffmpeg-not-installed -i x"}),
        },
        Reply::Text("I need ffmpeg.".into()),
    ]);
    let mut gw = w
        .gateway_with(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "full"}}}),
            true,
        )
        .await;
    let mut ws = operator(&gw.url).await;
    let done = chat(&mut ws, "main", "convert it", "nix-1").await;
    assert_eq!(done["state"], "final");
    let told = w.anthropic.requests()[1]["messages"].to_string();
    assert!(
        told.contains("services.clawdbot.extraPackages") && told.contains("ffmpeg-not-installed"),
        "{told}"
    );
    gw.shutdown().await;
}
