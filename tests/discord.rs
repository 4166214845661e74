//! The Discord channel end to end, against a fake Discord on 127.0.0.1 that speaks the
//! real Gateway v10 and REST shapes (tests/common/fake_discord.rs) and a fake model:
//! DMs with pairing, guild mention rules, chunked answers, resume and re-identify, a
//! rejected token, `send` targets. Waits are on recorded requests and status changes.

mod common;

use std::time::Duration;

use common::fake_discord::{
    BOT_ID, DISCORD_TOKEN, DM_CHANNEL_ID, FakeDiscord, message_create, replying_to, user,
    with_mentions,
};
use common::fakes::{FakeModel, Reply};
use common::world::{last_user_text, merge};
use common::{Setup, TestGateway, call, operator};
use serde_json::{Value, json};

const GUILD: &str = "3100000000000000001";
const GENERAL: &str = "3200000000000000001";
const ANN: &str = "4100000000000000001";

struct Env {
    dc: FakeDiscord,
    model: FakeModel,
    ws: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        Env {
            dc: FakeDiscord::start(DISCORD_TOKEN).await,
            model: FakeModel::anthropic().await,
            ws: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, discord: Value) -> String {
        let mut d = json!({"token": DISCORD_TOKEN, "apiRoot": self.dc.api_root()});
        merge(&mut d, discord);
        json!({
            "agents": {"defaults": {"workspace": self.ws.path(), "model": {"primary": "anthropic/claude-test"}}},
            "models": {"providers": {"anthropic": {"baseUrl": self.model.url, "apiKey": "sk-ant-test", "models": []}}},
            "channels": {"discord": d},
        })
        .to_string()
    }

    /// A gateway whose Discord account is logged in (READY seen).
    async fn gateway(&self, discord: Value) -> TestGateway {
        let gw = TestGateway::with(Setup {
            config: Some(self.config(discord)),
            ..Setup::default()
        })
        .await;
        connected(&gw).await;
        gw
    }
}

async fn connected(gw: &TestGateway) {
    gw.gw
        .channels
        .status
        .wait_for("discord", "default", Duration::from_secs(20), |s| {
            s.connected
        })
        .await
        .expect("the Discord account connects");
}

fn dm(id: &str, text: &str) -> Value {
    message_create(id, DM_CHANNEL_ID, None, user(ANN, "ann"), text)
}

fn in_general(id: &str, text: &str) -> Value {
    message_create(id, GENERAL, Some(GUILD), user(ANN, "ann"), text)
}

fn mention(msg: Value) -> Value {
    with_mentions(msg, vec![user(BOT_ID, "clawbot")])
}

#[tokio::test]
async fn a_dm_pairs_then_is_answered_in_its_channel() {
    let e = Env::new().await;
    e.model.always(Reply::Text("hello Ann".into()));
    let mut gw = e.gateway(json!({})).await;
    // The identify asked for message content, guild messages and DMs.
    let intents = e.dc.last_identify().unwrap()["d"]["intents"]
        .as_u64()
        .unwrap();
    assert_eq!(
        intents & (1 << 15 | 1 << 9 | 1 << 12),
        1 << 15 | 1 << 9 | 1 << 12
    );
    let st = gw.gw.channels.status.get("discord", "default").unwrap();
    assert_eq!(st.bot.unwrap()["username"], "clawbot");

    // Unknown sender: a pairing code in the DM, no model call.
    e.dc.dispatch("MESSAGE_CREATE", dm("5000000000000000001", "hi"));
    let sent = e.dc.wait_sent(1).await;
    assert_eq!(sent[0].0, DM_CHANNEL_ID);
    let text = sent[0].1["content"].as_str().unwrap().to_string();
    assert!(
        text.contains(&format!("Your Discord user id: {ANN}")),
        "{text}"
    );
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap()
        .to_string();
    assert!(text.contains(&format!("clawdbot pairing approve discord {code}")));
    assert!(e.model.requests().is_empty());

    let mut ws = operator(&gw.url).await;
    let list = call(&mut ws, "l", "pairing.list", json!({"channel": "discord"})).await;
    assert_eq!(list["payload"]["requests"][0]["id"], ANN, "{list}");
    let ok = call(
        &mut ws,
        "a",
        "pairing.approve",
        json!({"channel": "discord", "code": code}),
    )
    .await;
    assert_eq!(ok["ok"], true, "{ok}");

    // Approved: answered in the DM channel, with typing first.
    e.dc.dispatch("MESSAGE_CREATE", dm("5000000000000000002", "what's up?"));
    let sent = e.dc.wait_sent(2).await;
    assert_eq!(sent[1].0, DM_CHANNEL_ID);
    assert_eq!(sent[1].1["content"], "hello Ann");
    // Nobody is pinged by what the model writes.
    assert_eq!(sent[1].1["allowed_mentions"], json!({"parse": []}));
    assert!(e.dc.typing_count() >= 1);
    let reqs = e.model.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(last_user_text(&reqs[0]), "what's up?");
    let s = call(&mut ws, "s", "channels.status", json!({})).await;
    let acct = &s["payload"]["channelAccounts"]["discord"][0];
    assert_eq!(acct["connected"], true, "{s}");
    assert_eq!(acct["mode"], "gateway");
    assert!(acct["lastInboundAt"].is_number() && acct["lastOutboundAt"].is_number());
    gw.shutdown().await;
}

#[tokio::test]
async fn guild_messages_need_a_mention_and_a_listed_guild() {
    let e = Env::new().await;
    e.model.always(Reply::Text("on it".into()));
    let cfg = json!({"guilds": {GUILD: {"channels": {GENERAL: {"allow": true}}}}});
    let mut gw = e.gateway(cfg).await;
    // No mention: ignored. Another bot, mentioning us: ignored. An unlisted guild and
    // an unlisted channel: ignored, mention or not.
    e.dc.dispatch(
        "MESSAGE_CREATE",
        in_general("6000000000000000001", "chatter"),
    );
    let mut bot = mention(in_general(
        "6000000000000000002",
        "<@1100000000000000001> loop?",
    ));
    bot["author"]["bot"] = json!(true);
    e.dc.dispatch("MESSAGE_CREATE", bot);
    e.dc.dispatch(
        "MESSAGE_CREATE",
        mention(message_create(
            "6000000000000000003",
            GENERAL,
            Some("3100000000000000009"),
            user(ANN, "ann"),
            "<@1100000000000000001> x",
        )),
    );
    e.dc.dispatch(
        "MESSAGE_CREATE",
        mention(message_create(
            "6000000000000000004",
            "3200000000000000009",
            Some(GUILD),
            user(ANN, "ann"),
            "<@1100000000000000001> y",
        )),
    );
    // Mentioned in the listed channel: answered, replying to it; the mention is gone
    // from what the model reads and the speaker is named.
    e.dc.dispatch(
        "MESSAGE_CREATE",
        mention(in_general(
            "6000000000000000005",
            "<@1100000000000000001> summarise",
        )),
    );
    let sent = e.dc.wait_sent(1).await;
    assert_eq!(sent[0].0, GENERAL);
    assert_eq!(sent[0].1["content"], "on it");
    let reqs = e.model.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(last_user_text(&reqs[0]), "ANN: summarise");
    // A reply to the bot counts as a mention.
    let ours =
        json!({"id": sent[0].1["id"], "channel_id": GENERAL, "author": user(BOT_ID, "clawbot")});
    e.dc.dispatch(
        "MESSAGE_CREATE",
        replying_to(in_general("6000000000000000006", "and more?"), ours),
    );
    let sent = e.dc.wait_sent(2).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(e.model.requests().len(), 2);
    // The guild channel has its own session.
    let mut ws = operator(&gw.url).await;
    let list = call(&mut ws, "s", "sessions.list", json!({})).await;
    assert!(
        list.to_string()
            .contains(&format!("discord:channel:{GENERAL}")),
        "{list}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_long_answer_goes_in_chunks_with_fences_intact() {
    let e = Env::new().await;
    let code = (0..60)
        .map(|i| format!("let line_{i:02} = compute({i}); // a comment"))
        .collect::<Vec<_>>()
        .join("\n");
    let prose = "All of this is part of the answer. ".repeat(31);
    let answer = format!("{prose}\n\n```rust\n{code}\n```\n\n{prose}");
    assert!(
        (4400..4800).contains(&answer.chars().count()),
        "{}",
        answer.len()
    );
    e.model.always(Reply::Text(answer.clone()));
    let mut gw = e
        .gateway(json!({"dm": {"policy": "allowlist", "allowFrom": [format!("user:{ANN}")]}, "replyToMode": "first"}))
        .await;
    e.dc.dispatch("MESSAGE_CREATE", dm("7000000000000000001", "write it"));
    let sent = e.dc.wait_sent(3).await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    for (i, (ch, body)) in sent.iter().enumerate() {
        let c = body["content"].as_str().unwrap();
        assert_eq!(ch, DM_CHANNEL_ID);
        assert!(
            c.chars().count() <= 2000,
            "chunk {i}: {}",
            c.chars().count()
        );
        assert_eq!(
            c.matches("```").count() % 2,
            0,
            "chunk {i} leaves a fence open"
        );
        // replyToMode first: only the first chunk replies to the question.
        assert_eq!(body.get("message_reference").is_some(), i == 0, "{body}");
    }
    let all: String = sent
        .iter()
        .map(|(_, b)| b["content"].as_str().unwrap())
        .collect();
    for i in 0..60 {
        assert_eq!(all.matches(&format!("let line_{i:02} ")).count(), 1);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_dropped_socket_resumes_and_an_invalid_session_identifies_again() {
    let e = Env::new().await;
    e.model.always(Reply::Text("still here".into()));
    let mut gw = e
        .gateway(json!({"dm": {"policy": "open", "allowFrom": ["*"]}}))
        .await;
    e.dc.drop_socket();
    // Sent while the bot was away: Discord replays it on resume.
    e.dc.dispatch("MESSAGE_CREATE", dm("8000000000000000001", "missed me?"));
    e.dc.wait_resumes(1).await;
    let sent = e.dc.wait_sent(1).await;
    assert_eq!(sent[0].1["content"], "still here");
    assert_eq!((e.dc.identifies(), e.dc.resumes()), (1, 1));
    connected(&gw).await;
    // A session Discord no longer knows: a fresh identify, and messages flow again.
    e.dc.invalid_session(false);
    e.dc.wait_identifies(2).await;
    connected(&gw).await;
    e.dc.dispatch("MESSAGE_CREATE", dm("8000000000000000002", "and now?"));
    let sent = e.dc.wait_sent(2).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(e.model.requests().len(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_rejected_token_stops_the_account_without_showing_it() {
    let e = Env::new().await;
    // Rejected by REST at start (401)…
    let bad = "MTEwMDAw.wrong.token-NOPE";
    let mut gw = TestGateway::with(Setup {
        config: Some(e.config(json!({"token": bad}))),
        ..Setup::default()
    })
    .await;
    let st = gw
        .gw
        .channels
        .status
        .wait_for("discord", "default", Duration::from_secs(20), |s| {
            !s.running && s.last_error.is_some()
        })
        .await
        .expect("the account stops");
    let err = st.last_error.unwrap();
    assert!(
        err.contains("rejected the bot token") && err.contains("401"),
        "{err}"
    );
    assert!(!err.contains(bad) && !err.contains("NOPE"), "{err}");
    assert_eq!(e.dc.identifies(), 0);
    gw.shutdown().await;

    // …or by the Gateway later (close 4004): stopped, never reconnecting.
    let mut gw = e.gateway(json!({})).await;
    e.dc.close_with(4004, "Authentication failed.");
    let st = gw
        .gw
        .channels
        .status
        .wait_for("discord", "default", Duration::from_secs(20), |s| {
            !s.running
        })
        .await
        .expect("the account stops");
    let err = st.last_error.unwrap();
    assert!(
        err.contains("4004") && err.contains("channels.discord"),
        "{err}"
    );
    assert!(!err.contains(DISCORD_TOKEN), "{err}");
    let mut ws = operator(&gw.url).await;
    let s = call(&mut ws, "s", "channels.status", json!({})).await;
    assert!(!s.to_string().contains(DISCORD_TOKEN));
    assert_eq!(
        s["payload"]["channelAccounts"]["discord"][0]["running"],
        false
    );
    // One identify, and none after the 4004.
    assert_eq!(e.dc.identifies(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn send_reaches_channels_and_users_and_refuses_ambiguous_targets() {
    let e = Env::new().await;
    let mut gw = e.gateway(json!({})).await;
    let mut ws = operator(&gw.url).await;
    let r = call(
        &mut ws,
        "1",
        "send",
        json!({"to": format!("channel:{GENERAL}"), "message": "**deploy** done", "channel": "discord", "idempotencyKey": "d-1"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["channel"], "discord");
    let r = call(
        &mut ws,
        "2",
        "send",
        json!({"to": format!("user:{ANN}"), "message": "psst", "channel": "discord", "idempotencyKey": "d-2"}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let sent = e.dc.wait_sent(2).await;
    // Markdown goes as is: Discord renders it.
    assert_eq!(
        (sent[0].0.as_str(), &sent[0].1["content"]),
        (GENERAL, &json!("**deploy** done"))
    );
    assert_eq!(sent[1].0, DM_CHANNEL_ID);
    assert_eq!(e.dc.dm_recipients(), vec![ANN.to_string()]);
    for (id, to) in [
        ("3", ANN.to_string()),
        ("4", "channel:../../x".into()),
        ("5", "#general".into()),
    ] {
        let r = call(
            &mut ws,
            id,
            "send",
            json!({"to": to, "message": "m", "channel": "discord", "idempotencyKey": format!("d-{id}")}),
        )
        .await;
        assert_eq!(r["ok"], false, "{to}: {r}");
    }
    assert_eq!(e.dc.wait_sent(2).await.len(), 2);
    gw.shutdown().await;
}

/// The Fly.io route with the real binary: the token from `DISCORD_BOT_TOKEN`, the log
/// line the guide shows, and a `kill -9` while the model answers: after the restart the
/// message (which Discord will not send again) is answered once, from the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_run_then_restart_answers_once() {
    use common::proc::{Proc, command, free_port, state};
    let e = Env::new().await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let mut cfg: Value =
        serde_json::from_str(&e.config(json!({"dm": {"policy": "open", "allowFrom": ["*"]}})))
            .unwrap();
    cfg["channels"]["discord"]
        .as_object_mut()
        .unwrap()
        .remove("token");
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();
    let start = || {
        let mut cmd = command(root.path());
        cmd.env("DISCORD_BOT_TOKEN", DISCORD_TOKEN).args([
            "gateway",
            "--port",
            &free_port().to_string(),
            "--token",
            "crash-test-token",
        ]);
        let mut p = Proc::spawn(cmd);
        let line = p.wait_for("logged in to discord as");
        assert!(
            line.contains("[discord] logged in to discord as clawbot"),
            "{line}"
        );
        assert!(!line.contains(DISCORD_TOKEN));
        p
    };

    e.model.script([Reply::Hang]);
    let mut gw = start();
    e.dc.dispatch(
        "MESSAGE_CREATE",
        dm("9000000000000000001", "remember the milk"),
    );
    e.model.wait_requests(1).await;
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    assert!(e.dc.requests() > 0);
    e.model.script([
        Reply::Text("Noted: milk.".into()),
        Reply::Text("second".into()),
    ]);
    let _gw = start();
    let sent = e.dc.wait_sent(1).await;
    assert_eq!(sent[0].1["content"], "Noted: milk.");
    assert_eq!(sent[0].0, DM_CHANNEL_ID);
    e.dc.dispatch("MESSAGE_CREATE", dm("9000000000000000002", "and eggs"));
    let sent = e.dc.wait_sent(2).await;
    assert_eq!(sent[1].1["content"], "second");
    assert_eq!(sent.len(), 2);
    // The retry showed the model the first message once.
    let retry = &e.model.requests()[1];
    let users = retry["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .count();
    assert_eq!(users, 1, "{retry}");
    let inbox: Value = serde_json::from_str(
        &std::fs::read_to_string(state(root.path()).join("discord/inbox-default.json")).unwrap(),
    )
    .unwrap();
    // The first message left the inbox before the second was answered (same channel,
    // one queue); the second may still be on its way out.
    assert!(!inbox.to_string().contains("remember the milk"), "{inbox}");
}
