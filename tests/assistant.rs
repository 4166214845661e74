//! The assistant end to end: Telegram updates from a fake Bot API become agent runs
//! against fake Anthropic/OpenAI streaming endpoints, and replies land in the right chat.
//! Everything waits on observed events (a sent message, a model request), never sleeps.

mod common;

use common::fakes::{BOT_USERNAME, Reply};
use common::world::{World, last_user_text};
use common::{call, chat_events, next, operator};
use serde_json::{Value, json};

#[tokio::test]
async fn a_dm_from_an_allowed_user_is_answered_in_its_chat_and_remembered() {
    let w = World::new().await;
    w.anthropic
        .script([Reply::Text("Hello **Ada**, 2 < 3".into())]);
    let mut gw = w
        .gateway(
            json!({"dmPolicy": "allowlist", "allowFrom": [42]}),
            json!({}),
        )
        .await;
    let update = w.tg.dm(42, "hi there");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["chat_id"], 42);
    assert_eq!(sent[0]["parse_mode"], "HTML");
    assert_eq!(sent[0]["text"], "Hello <b>Ada</b>, 2 &lt; 3");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], update * 10);
    let reqs = w.anthropic.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0]["model"], "claude-test");
    assert!(last_user_text(&reqs[0]).contains("hi there"));
    let system = reqs[0]["system"].to_string();
    assert!(
        system.contains("You are Claw, the test assistant."),
        "{system}"
    );
    assert!(w.openai.requests().is_empty());

    // The session and its transcript are on disk, and a second message sees the first.
    w.anthropic.script([Reply::Text("second answer".into())]);
    w.tg.dm(42, "and again");
    w.tg.wait_sent(2).await;
    let second = &w.anthropic.requests()[1];
    let history = second["messages"].to_string();
    assert!(
        history.contains("hi there") && history.contains("Hello **Ada**"),
        "{history}"
    );
    let mut ws = operator(&gw.url).await;
    let h = call(&mut ws, "h", "chat.history", json!({"sessionKey": "main"})).await;
    let msgs = h["payload"]["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 4, "{h}");
    assert_eq!(msgs[3]["role"], "assistant");
    let st = call(&mut ws, "s", "channels.status", json!({})).await;
    let acct = &st["payload"]["channelAccounts"]["telegram"][0];
    assert_eq!(acct["running"], true, "{st}");
    assert_eq!(acct["connected"], true);
    assert_eq!(acct["bot"]["username"], BOT_USERNAME);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_long_reply_is_split_without_breaking_code_fences() {
    let w = World::new().await;
    let code: String = (0..60).map(|i| format!("let x{i} = {i};\n")).collect();
    let text = format!(
        "{}\n\n```rust\n{code}```\n\nThe end.",
        "Intro sentence. ".repeat(40)
    );
    w.anthropic.script([Reply::Text(text.clone())]);
    let mut gw = w
        .gateway(
            json!({"dmPolicy": "open", "allowFrom": ["*"], "textChunkLimit": 400}),
            json!({}),
        )
        .await;
    w.tg.dm(5, "write code");
    let sent = w.tg.wait_sent(4).await;
    // A later message is answered after every chunk of the first (per-chat order).
    w.anthropic.script([Reply::Text("done".into())]);
    w.tg.dm(5, "thanks");
    let all = w.tg.wait_sent(sent.len() + 1).await;
    let all: Vec<&Value> = all.iter().take_while(|m| m["text"] != "done").collect();
    for m in &all {
        let t = m["text"].as_str().unwrap();
        assert!(t.chars().count() <= 4096);
        assert_eq!(
            t.matches("<pre>").count(),
            t.matches("</pre>").count(),
            "unbalanced: {t}"
        );
    }
    let joined: String = all.iter().map(|m| m["text"].as_str().unwrap()).collect();
    for i in 0..60 {
        assert!(
            joined.contains(&format!("let x{i} = {i};")),
            "line {i} lost"
        );
    }
    assert!(joined.ends_with("The end."));
    // Only the first chunk replies to the user's message.
    assert!(all[0].get("reply_parameters").is_some());
    assert!(all[1].get("reply_parameters").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unknown_sender_gets_a_pairing_code_and_no_agent_until_approved() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("welcome aboard".into()));
    let mut gw = w.gateway(json!({}), json!({})).await;
    w.tg.dm(77, "let me in");
    let sent = w.tg.wait_sent(1).await;
    let text = sent[0]["text"].as_str().unwrap();
    assert!(
        text.contains("access not configured") && text.contains("77"),
        "{text}"
    );
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 8);
    assert!(
        w.anthropic.requests().is_empty(),
        "the agent must not see unknown senders"
    );
    // Asking again does not mint a new code or reach the agent.
    w.tg.dm(77, "please?");
    let mut ws = operator(&gw.url).await;
    let list = call(&mut ws, "l", "pairing.list", json!({"channel": "telegram"})).await;
    assert_eq!(
        list["payload"]["requests"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    let bad = call(
        &mut ws,
        "b",
        "pairing.approve",
        json!({"channel": "telegram", "code": "ZZZZZZZZ"}),
    )
    .await;
    assert_eq!(bad["ok"], false);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clawdbot pairing list telegram")
    );
    let ok = call(
        &mut ws,
        "a",
        "pairing.approve",
        json!({"channel": "telegram", "code": code}),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["payload"]["id"], "77");
    w.tg.dm(77, "hello now");
    let sent = w.tg.wait_sent(2).await;
    assert_eq!(sent[1]["text"], "welcome aboard");
    assert_eq!(w.anthropic.requests().len(), 1);
    assert!(last_user_text(&w.anthropic.requests()[0]).contains("hello now"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_group_message_without_a_mention_is_ignored() {
    let w = World::new().await;
    w.anthropic.always(Reply::Text("at your service".into()));
    let mut gw = w.gateway(json!({"groupPolicy": "open"}), json!({})).await;
    w.tg.group(-1001, 5, "just chatting among humans");
    w.tg.group(-1001, 5, &format!("@{BOT_USERNAME} what's the plan?"));
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["chat_id"], -1001);
    let reqs = w.anthropic.requests();
    assert_eq!(reqs.len(), 1, "only the mention reaches the agent");
    let asked = last_user_text(&reqs[0]);
    assert!(
        asked.contains("what's the plan?") && !asked.contains("among humans"),
        "{asked}"
    );
    assert!(
        !asked.contains(BOT_USERNAME),
        "the mention is stripped: {asked}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_overloaded_primary_falls_back_in_order() {
    let w = World::new().await;
    w.anthropic.script([Reply::Status(529)]);
    w.openai.script([Reply::Text("from the fallback".into())]);
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    w.tg.dm(9, "anyone?");
    let sent = w.tg.wait_sent(1).await;
    assert_eq!(sent[0]["text"], "from the fallback");
    assert_eq!(w.anthropic.requests().len(), 1);
    let o = w.openai.requests();
    assert_eq!(o.len(), 1);
    assert_eq!(o[0]["model"], "gpt-test");
    assert_eq!(o[0]["stream"], true);
    gw.shutdown().await;
}

#[tokio::test]
async fn when_every_model_fails_the_user_gets_one_clear_error() {
    let w = World::new().await;
    w.anthropic.always(Reply::Status(500));
    w.openai.always(Reply::Status(503));
    let mut gw = w
        .gateway(json!({"dmPolicy": "open", "allowFrom": ["*"]}), json!({}))
        .await;
    w.tg.dm(9, "hello?");
    let sent = w.tg.wait_sent(1).await;
    let text = sent[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("⚠️ Agent failed before reply: All models failed (2):"),
        "{text}"
    );
    assert!(
        text.contains("anthropic/claude-test") && text.contains("openai/gpt-test"),
        "{text}"
    );
    // Exactly one message for the failure: the next one is the next answer.
    w.anthropic.script([Reply::Text("back again".into())]);
    w.tg.dm(9, "now?");
    let sent = w.tg.wait_sent(2).await;
    assert!(
        sent[1]["text"] == "back again" || sent[1]["text"].as_str().unwrap().starts_with("⚠️"),
        "{sent:?}"
    );
    assert_eq!(sent.len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn chat_send_streams_deltas_and_a_final_and_runs_tools() {
    let w = World::new().await;
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": "echo tool-output-$((40+2))"}),
        },
        Reply::Text("The command printed 42.".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "full"}}}),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    let ack = call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "run it", "idempotencyKey": "run-1"}),
    )
    .await;
    assert_eq!(
        ack["payload"],
        json!({"runId": "run-1", "status": "started"}),
        "{ack}"
    );
    let events = chat_events(&mut ws, "run-1").await;
    let last = events.last().unwrap();
    assert_eq!(last["state"], "final", "{events:?}");
    assert_eq!(last["sessionKey"], "main");
    assert_eq!(
        last["message"]["content"][0]["text"],
        "The command printed 42."
    );
    assert!(events.iter().any(|e| e["state"] == "delta"), "{events:?}");
    // The tool ran in the workspace and its output reached the model.
    let reqs = w.anthropic.requests();
    assert_eq!(reqs.len(), 2);
    let result = reqs[1]["messages"].to_string();
    assert!(
        result.contains("tool_result") && result.contains("tool-output-42"),
        "{result}"
    );
    // A repeat of the same idempotency key does not run again.
    let again = call(
        &mut ws,
        "2",
        "chat.send",
        json!({"sessionKey": "main", "message": "run it", "idempotencyKey": "run-1"}),
    )
    .await;
    assert_eq!(again["payload"]["status"], "ok", "{again}");
    assert_eq!(w.anthropic.requests().len(), 2);
    let h = call(&mut ws, "3", "chat.history", json!({"sessionKey": "main"})).await;
    let roles: Vec<&str> = h["payload"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "toolResult", "assistant"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_denied_exec_is_refused_and_the_model_is_told() {
    let w = World::new().await;
    let marker = tempfile::tempdir().unwrap();
    let file = marker.path().join("touched");
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": format!("touch {}", file.display())}),
        },
        Reply::Text("I could not run that.".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "deny"}}}),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "touch it", "idempotencyKey": "deny-1"}),
    )
    .await;
    let events = chat_events(&mut ws, "deny-1").await;
    assert_eq!(events.last().unwrap()["state"], "final");
    assert!(!file.exists(), "a denied command must not run");
    let reqs = w.anthropic.requests();
    let result = reqs[1]["messages"].to_string();
    assert!(
        result.contains("exec refused") && result.contains("tools.exec.security"),
        "{result}"
    );
    assert!(result.contains("\"is_error\":true"), "{result}");
    gw.shutdown().await;
}

#[tokio::test]
async fn an_exec_that_asks_waits_for_approval() {
    let w = World::new().await;
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": "echo approved-run"}),
        },
        Reply::Text("ok".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "allowlist", "ask": "on-miss"}}}),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "go", "idempotencyKey": "ask-1"}),
    )
    .await;
    let id = loop {
        let f = next(&mut ws).await.unwrap();
        if f["event"] == "exec.approval.requested" {
            assert_eq!(f["payload"]["request"]["command"], "echo approved-run");
            break f["payload"]["id"].as_str().unwrap().to_string();
        }
    };
    let r = call(
        &mut ws,
        "2",
        "exec.approval.resolve",
        json!({"id": id, "decision": "allow-once"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let events = chat_events(&mut ws, "ask-1").await;
    assert_eq!(events.last().unwrap()["state"], "final");
    assert!(
        w.anthropic.requests()[1]["messages"]
            .to_string()
            .contains("approved-run")
    );
    gw.shutdown().await;
}
