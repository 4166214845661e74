//! The Telegram channel's edges: a rejected token, a 409 conflict, HTML Telegram cannot
//! parse, the typing indicator, and chat commands that never reach the model. Waits are
//! on status changes and recorded requests, never sleeps.

mod common;

use std::time::Duration;

use common::fakes::Reply;
use common::world::World;
use common::{call, operator};
use serde_json::json;

#[tokio::test]
async fn a_rejected_bot_token_stops_the_account_with_a_clear_status() {
    let w = World::new().await;
    let mut gw = w.gateway(json!({"botToken": "111:wrong"}), json!({})).await;
    let st = gw
        .gw
        .channels
        .status
        .wait_for("telegram", "default", Duration::from_secs(20), |s| {
            !s.running && s.last_error.is_some()
        })
        .await
        .expect("the account stops");
    let err = st.last_error.unwrap();
    assert!(
        err.contains("rejected the bot token") && err.contains("401"),
        "{err}"
    );
    assert!(!err.contains("111:wrong"), "the token must not leak: {err}");
    // It does not keep hammering the API: no getUpdates at all.
    assert!(w.tg.state.polls.lock().unwrap().is_empty());
    let mut ws = operator(&gw.url).await;
    let s = call(&mut ws, "s", "channels.status", json!({})).await;
    let acct = &s["payload"]["channelAccounts"]["telegram"][0];
    assert_eq!(acct["running"], false, "{s}");
    assert!(
        acct["lastError"]
            .as_str()
            .unwrap()
            .contains("rejected the bot token")
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_conflict_is_reported_then_polling_recovers() {
    let w = World::new().await;
    w.tg.state.fail_polls.lock().unwrap().push(409);
    w.anthropic.always(Reply::Text("still here".into()));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    let st = gw
        .gw
        .channels
        .status
        .wait_for("telegram", "default", Duration::from_secs(20), |s| {
            s.last_error.is_some()
        })
        .await
        .expect("the conflict shows in the status");
    let err = st.last_error.unwrap();
    assert!(err.contains("409") && err.contains("only one may"), "{err}");
    assert!(!st.connected);
    // After the backoff it polls again, clears the error and answers.
    w.tg.dm(3, "are you there?");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "still here");
    let st = gw.gw.channels.status.get("telegram", "default").unwrap();
    assert!(st.connected && st.last_error.is_none(), "{st:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_429_without_retry_after_is_retried_not_dropped() {
    let w = World::new().await;
    w.tg.state.fail_sends.lock().unwrap().extend([429, 429]);
    w.anthropic.always(Reply::Text("eventually".into()));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    w.tg.dm(4, "hello?");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "eventually");
    assert!(w.tg.state.fail_sends.lock().unwrap().is_empty());
    // Answered from the transcript: the model was asked once.
    assert_eq!(w.anthropic.requests().len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn html_telegram_rejects_is_sent_again_as_plain_text_and_typing_is_shown() {
    let w = World::new().await;
    *w.tg.state.reject_html.lock().unwrap() = true;
    w.anthropic.always(Reply::Text("**bold** answer".into()));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    w.tg.dm(4, "format please");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].get("parse_mode").is_none());
    assert_eq!(sent[0]["text"], "**bold** answer");
    let actions = w.tg.state.actions.lock().unwrap().clone();
    assert!(
        actions
            .iter()
            .any(|a| a["chat_id"] == 4 && a["action"] == "typing"),
        "{actions:?}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn status_and_new_are_answered_without_the_model() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("model answer".into()));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    w.tg.dm(8, "hello");
    w.tg.wait_sent(1).await;
    w.tg.dm(8, "/status");
    let sent = w.tg.wait_sent(2).await;
    let status = sent[1]["text"].as_str().unwrap();
    assert!(
        status.contains("anthropic/claude-test") && status.contains("agent:main:main"),
        "{status}"
    );
    w.tg.dm(8, "/new");
    let sent = w.tg.wait_sent(3).await;
    assert!(
        sent[2]["text"].as_str().unwrap().contains("New session"),
        "{sent:?}"
    );
    assert_eq!(
        w.anthropic.requests().len(),
        1,
        "commands do not call the model"
    );
    // The next message starts with an empty history.
    w.tg.dm(8, "fresh start");
    w.tg.wait_sent(4).await;
    let req = &w.anthropic.requests()[1];
    let msgs = req["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{req}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_reloaded_allowlist_applies_without_a_restart() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("welcome".into()));
    let mut gw = w
        .gateway(
            json!({"dmPolicy": "allowlist", "allowFrom": [1]}),
            json!({}),
        )
        .await;
    let cfg = w.config(
        w.workspace.path(),
        json!({"dmPolicy": "allowlist", "allowFrom": [1, 2]}),
        json!({}),
    );
    std::fs::write(&gw.gw.host.paths.config_path, cfg).unwrap();
    gw.gw.reload_config("test").unwrap();
    w.tg.dm(2, "am I in now?");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["chat_id"], 2);
    assert_eq!(sent[0]["text"], "welcome");
    gw.shutdown().await;
}
