//! WhatsApp at the library boundary (the live service cannot be reached from a test
//! machine): the adapter is driven with `whatsapp-rust`'s own event and message values
//! and answers through a recording `WaSend` (tests/common/fake_whatsapp.rs), inside a
//! real gateway with a fake model. DMs allowed and unknown (pairing), groups with and
//! without a mention, a redelivered message answered once, a disconnect and a logout
//! from the phone in `channels.status`.
#![cfg(feature = "whatsapp")]

mod common;
#[path = "common/fake_whatsapp.rs"]
mod fake_whatsapp;

use clawdbot::channels::whatsapp::{self, creds::Creds, session::Session};
use common::fakes::{FakeModel, Reply};
use common::{Setup, TestGateway};
use fake_whatsapp::*;
use serde_json::{Value, json};
use whatsapp_rust::features::ChatStateType;
use whatsapp_rust::transport::DisconnectReason;
use whatsapp_rust::types::events::{ConnectFailureReason, Disconnected, Event, LoggedOut};

const ANN: &str = "15551230001@s.whatsapp.net";
const BOB: &str = "15551230002@s.whatsapp.net";
const GROUP: &str = "120363000000000001@g.us";

struct Env {
    gw: TestGateway,
    model: FakeModel,
    _ws: tempfile::TempDir,
}

async fn env(mut wa: Value) -> Env {
    let model = FakeModel::anthropic().await;
    let ws = tempfile::tempdir().unwrap();
    // `enabled: false`: the gateway starts no live runner (no WhatsApp to reach from
    // here); the test opens the account's session itself.
    wa["enabled"] = json!(false);
    let config = json!({
        "agents": {"defaults": {"workspace": ws.path(), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
        "channels": {"whatsapp": {"accounts": {"default": wa}}},
    });
    let gw = TestGateway::with(Setup {
        config: Some(config.to_string()),
        ..Setup::default()
    })
    .await;
    Env { gw, model, _ws: ws }
}

/// The session of account `default`, linked as [`ME`], sending into `rec`.
fn session(e: &Env, rec: &Recorder) -> Session<Recorder> {
    let ch = e.gw.gw.channels.clone();
    let cfg = ch.host.config();
    let acct = whatsapp::accounts(&cfg.resolved, &cfg.env, &ch.host.paths.state_dir)
        .into_iter()
        .find(|a| a.id == "default")
        .expect("the configured account");
    drop(cfg);
    let creds = whatsapp::creds_of(&ch, &acct);
    creds.mark_linked(ME, ME_LID, "Bot").unwrap();
    Session::open(ch, acct, rec.clone(), creds).unwrap()
}

fn status(e: &Env) -> clawdbot::channels::AccountStatus {
    e.gw.gw
        .channels
        .status
        .get("whatsapp", "default")
        .unwrap_or_default()
}

#[tokio::test]
async fn an_allowed_dm_is_answered_with_composing_a_read_receipt_and_whatsapp_markup() {
    let e = env(json!({"allowFrom": ["+1 555 123 0001"], "ackReaction": {"emoji": "👀"}})).await;
    e.model.always(Reply::Text("Hi **Ann**, ~~no~~ yes".into()));
    let rec = Recorder::default();
    let s = session(&e, &rec);
    s.on_event(&messages(vec![inbound(ANN, ANN, "M1", text("hello"))]));
    let sent = rec
        .wait(20, "the answer", |a| a.iter().any(|x| x.text().is_some()))
        .await;
    let (to, body) = rec.texts().pop().unwrap();
    assert_eq!(to, ANN);
    assert_eq!(body, "Hi *Ann*, ~no~ yes");
    assert!(
        sent.iter()
            .any(|x| matches!(x, Sent::Read { chat, id, .. } if chat == ANN && id == "M1")),
        "read receipt: {sent:#?}"
    );
    assert!(
        sent.iter()
            .any(|x| matches!(x, Sent::State { to, state: ChatStateType::Composing } if to == ANN)),
        "composing: {sent:#?}"
    );
    assert_eq!(
        sent.iter().find_map(Sent::reaction).as_deref(),
        Some("👀"),
        "ack reaction"
    );
    let req = e.model.requests();
    assert_eq!(req.len(), 1);
    assert!(req[0].to_string().contains("hello"));
    assert!(status(&e).last_inbound_at.is_some());
}

#[tokio::test]
async fn an_unknown_sender_gets_a_pairing_code_and_no_model_call() {
    let e = env(json!({})).await;
    e.model.always(Reply::Text("never".into()));
    let rec = Recorder::default();
    let s = session(&e, &rec);
    s.on_event(&messages(vec![inbound(BOB, BOB, "P1", text("hi?"))]));
    rec.wait(20, "the pairing text", |a| {
        a.iter().any(|x| x.text().is_some())
    })
    .await;
    let (to, body) = rec.texts().pop().unwrap();
    assert_eq!(to, BOB);
    assert!(
        body.contains("Your WhatsApp user id: +15551230002"),
        "{body}"
    );
    assert!(
        body.contains("clawdbot pairing approve whatsapp "),
        "{body}"
    );
    assert!(e.model.requests().is_empty());
    // The pairing store names the number, so an approval lets exactly that number in.
    let pending = std::fs::read_to_string(
        e.gw.state_dir()
            .join("credentials")
            .join("whatsapp-pairing.json"),
    )
    .unwrap_or_default();
    assert!(pending.contains("+15551230002"), "{pending}");
}

#[tokio::test]
async fn groups_need_a_mention_unless_configured_and_unlisted_groups_are_ignored() {
    let e = env(json!({
        "groupPolicy": "open",
        "groups": {GROUP: {"requireMention": true}},
    }))
    .await;
    e.model.always(Reply::Echo);
    let rec = Recorder::default();
    let s = session(&e, &rec);
    // Not mentioned, then a group that is not listed, then a mention by LID and by JID.
    s.on_event(&messages(vec![inbound(
        GROUP,
        ANN,
        "G1",
        text("chatter one"),
    )]));
    s.on_event(&messages(vec![inbound(
        "120363000000000002@g.us",
        ANN,
        "G2",
        mentioning("@15550009999 other group", &[ME]),
    )]));
    s.on_event(&messages(vec![inbound(
        GROUP,
        ANN,
        "G3",
        mentioning("@bot answer lid", &[ME_LID]),
    )]));
    rec.wait(20, "the group answer", |a| {
        a.iter().any(|x| x.text().is_some())
    })
    .await;
    let texts = rec.texts();
    assert_eq!(texts, vec![(GROUP.to_string(), "re lid".to_string())]);
    // The transcript names the speaker; only the mentioned message reached the model.
    let req = e.model.requests();
    assert_eq!(req.len(), 1, "{req:?}");
    let body = req[0].to_string();
    assert!(body.contains("Ann: @bot answer lid"), "{body}");
    assert!(!body.contains("chatter one") && !body.contains("other group"));
}

#[tokio::test]
async fn a_redelivered_message_is_answered_once() {
    let e = env(json!({"dmPolicy": "open", "allowFrom": ["*"]})).await;
    e.model.always(Reply::Echo);
    let rec = Recorder::default();
    let s = session(&e, &rec);
    let m = inbound(ANN, ANN, "DUP1", text("once"));
    s.commit(std::slice::from_ref(&m)).unwrap();
    s.on_event(&messages(vec![m.clone()]));
    s.commit(&[m]).unwrap();
    rec.wait(20, "one answer", |a| a.iter().any(|x| x.text().is_some()))
        .await;
    // A second, distinct message flushes the queue behind the first.
    s.commit(&[inbound(ANN, ANN, "DUP2", text("twice"))])
        .unwrap();
    rec.wait(20, "the second answer", |a| {
        a.iter().filter(|x| x.text().is_some()).count() >= 2
    })
    .await;
    let texts: Vec<String> = rec.texts().into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["re once", "re twice"]);
    assert_eq!(e.model.requests().len(), 2);
}

#[tokio::test]
async fn a_disconnect_and_a_logout_from_the_phone_show_in_channels_status() {
    let e = env(json!({})).await;
    let rec = Recorder::default();
    let s = session(&e, &rec);
    let creds = Creds::for_account(&e.gw.state_dir(), None, "default", None);
    assert!(creds.is_linked());
    s.on_event(&Event::Connected(
        whatsapp_rust::types::events::Connected::builder().build(),
    ));
    let st = status(&e);
    assert!(st.connected && st.linked == Some(true), "{st:?}");
    assert_eq!(st.bot.as_ref().unwrap()["e164"], "+15550009999");
    s.on_event(&Event::Disconnected(
        Disconnected::builder()
            .reason(DisconnectReason::StreamEnded)
            .build(),
    ));
    let st = status(&e);
    assert!(!st.connected);
    assert!(
        st.last_error.unwrap().contains("disconnected"),
        "reconnect is reported"
    );
    let next = s.on_event(&Event::LoggedOut(
        LoggedOut::builder()
            .on_connect(false)
            .reason(ConnectFailureReason::LoggedOut)
            .build(),
    ));
    assert_eq!(next, whatsapp::session::Next::LoggedOut);
    let st = status(&e);
    assert_eq!(st.linked, Some(false));
    let why = st.last_error.unwrap();
    assert!(
        why.contains("run `clawdbot channels login --channel whatsapp`"),
        "{why}"
    );
    assert!(!creds.is_linked(), "the dead session is removed");
    let json = st_json(&e);
    assert_eq!(json["linked"], false, "{json}");
}

fn st_json(e: &Env) -> Value {
    Value::Object(status(e).to_json())
}
