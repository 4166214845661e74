//! The Discord REST client and Gateway shard against the fake Discord on 127.0.0.1:
//! identify, READY and dispatches, heartbeats and zombie detection, resume with replay,
//! op 7 / op 9 / close codes, fatal closes without the token, cancel, and the REST
//! routes with their failure shapes. Waits are on the fake's notifications or the
//! shard's own events, never on sleeps.

mod common;

use std::time::Duration;

use clawdbot::channels::discord::rest::Rest;
use clawdbot::channels::discord::shard::{Event, INTENTS, Shard, ShardConfig, ShardError};
use clawdbot::config::secrets::Secret;
use common::fake_discord::{
    self, BOT_ID, DISCORD_TOKEN, DM_CHANNEL_ID, FakeDiscord, RestFault, message_create,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn config(fake: &FakeDiscord, token: &str) -> ShardConfig {
    let mut c = ShardConfig::new(
        &fake.gateway_url(),
        Secret::new(token),
        CancellationToken::new(),
    );
    c.invalid_session_wait = (Duration::from_millis(10), Duration::from_millis(40));
    c.backoff = (Duration::from_millis(50), Duration::from_millis(400));
    c
}

async fn next(shard: &mut Shard) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), shard.next()).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => panic!("shard error: {e}"),
        Err(_) => panic!("no shard event within 10s"),
    }
}

async fn next_err(shard: &mut Shard) -> ShardError {
    match tokio::time::timeout(Duration::from_secs(10), shard.next()).await {
        Ok(Err(e)) => e,
        Ok(Ok(e)) => panic!("expected an error, got {e:?}"),
        Err(_) => panic!("no shard error within 10s"),
    }
}

/// A shard that has seen READY; its session id.
async fn ready(fake: &FakeDiscord, cfg: ShardConfig) -> (Shard, String) {
    let mut shard = Shard::new(cfg);
    match next(&mut shard).await {
        Event::Ready { user, session_id } => {
            assert_eq!(user["id"], BOT_ID);
            assert_eq!(Some(session_id.clone()), fake.session_id());
            (shard, session_id)
        }
        e => panic!("expected READY, got {e:?}"),
    }
}

/// Polls the shard (heartbeats only run inside `next`) until `fut` finishes; an event
/// meanwhile fails the test.
async fn drive<T>(shard: &mut Shard, fut: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(fut);
    tokio::select! {
        v = &mut fut => v,
        e = shard.next() => panic!("unexpected shard event while driving: {e:?}"),
    }
}

fn msg(id: &str, content: &str) -> Value {
    message_create(
        id,
        "2000000000000000001",
        Some("3000000000000000001"),
        fake_discord::user("4000000000000000001", "ada"),
        content,
    )
}

async fn expect_dispatch(shard: &mut Shard, id: &str) {
    match next(shard).await {
        Event::Dispatch { name, data } => {
            assert_eq!(name, "MESSAGE_CREATE");
            assert_eq!(data["id"], id, "{data}");
        }
        e => panic!("expected MESSAGE_CREATE {id}, got {e:?}"),
    }
}

async fn expect_disconnected(shard: &mut Shard) -> String {
    match next(shard).await {
        Event::Disconnected { reason } => reason,
        e => panic!("expected Disconnected, got {e:?}"),
    }
}

#[tokio::test]
async fn identify_then_ready_then_message_create() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let rest = Rest::new(
        reqwest::Client::new(),
        &fake.api_root(),
        Secret::new(DISCORD_TOKEN),
    );
    let mut cfg = config(&fake, DISCORD_TOKEN);
    cfg.url = rest.gateway_url().await.unwrap();
    let (mut shard, _) = ready(&fake, cfg).await;

    let id = fake.last_identify().expect("identify sent");
    assert_eq!(id["op"], 2);
    assert_eq!(id["d"]["token"], DISCORD_TOKEN);
    let intents = id["d"]["intents"].as_u64().unwrap();
    assert_eq!(intents, INTENTS);
    assert_ne!(intents & (1 << 15), 0, "MESSAGE_CONTENT");
    assert_ne!(intents & (1 << 9), 0, "GUILD_MESSAGES");
    assert_ne!(intents & (1 << 12), 0, "DIRECT_MESSAGES");
    assert_eq!(id["d"]["properties"]["browser"], "clawdbot");
    assert_eq!(id["d"]["properties"]["device"], "clawdbot");
    assert_eq!(fake.opened_paths(), ["/gateway"]);
    assert_eq!(shard.seq(), Some(1));

    let m = fake_discord::with_mentions(
        msg("5000000000000000001", "<@1100000000000000001> hi"),
        vec![json!({"id": BOT_ID, "username": "clawbot"})],
    );
    assert_eq!(fake.dispatch("MESSAGE_CREATE", m), Some(2));
    match next(&mut shard).await {
        Event::Dispatch { name, data } => {
            assert_eq!(name, "MESSAGE_CREATE");
            assert_eq!(data["content"], "<@1100000000000000001> hi");
            assert_eq!(data["guild_id"], "3000000000000000001");
            assert_eq!(data["author"]["global_name"], "ADA");
            assert_eq!(data["mentions"][0]["id"], BOT_ID);
        }
        e => panic!("expected MESSAGE_CREATE, got {e:?}"),
    }
    assert_eq!(
        shard.seq(),
        Some(2),
        "the returned dispatch's s is the resume seq"
    );
    assert_eq!(shard.stats().identifies, 1);
}

#[tokio::test]
async fn heartbeats_are_acked_and_counted() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    fake.set_heartbeat_interval(100);
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    drive(&mut shard, fake.wait_heartbeats(3)).await;
    let st = shard.stats();
    assert!(st.heartbeats >= 3, "{st:?}");
    // A third heartbeat goes out only if the second was ACKed (else: zombie).
    assert!(st.acks >= 2, "{st:?}");
    assert_eq!(st.reconnects, 0, "{st:?}");
    assert_eq!(fake.last_heartbeat().unwrap(), json!({"op": 1, "d": 1}));
    assert_eq!(fake.identifies(), 1);
}

#[tokio::test]
async fn dropped_socket_resumes_and_replays_missed_event_once() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, sid) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.dispatch("MESSAGE_CREATE", msg("5000000000000000001", "one"));
    expect_dispatch(&mut shard, "5000000000000000001").await;

    fake.drop_socket();
    expect_disconnected(&mut shard).await;
    // Sent while we are away: Discord replays it on resume.
    fake.dispatch("MESSAGE_CREATE", msg("5000000000000000002", "two"));
    expect_dispatch(&mut shard, "5000000000000000002").await;
    assert_eq!(next(&mut shard).await, Event::Resumed);

    assert_eq!(fake.resumes(), 1);
    assert_eq!(fake.identifies(), 1);
    let r = fake.last_resume().unwrap();
    assert_eq!(r["d"]["session_id"], sid.as_str());
    assert_eq!(r["d"]["seq"], 2);
    assert_eq!(r["d"]["token"], DISCORD_TOKEN);
    assert_eq!(fake.opened_paths(), ["/gateway", "/resume"]);

    // The next event is the new one: "two" is not delivered a second time.
    fake.dispatch("MESSAGE_CREATE", msg("5000000000000000003", "three"));
    expect_dispatch(&mut shard, "5000000000000000003").await;
    let st = shard.stats();
    assert_eq!((st.identifies, st.resumes, st.reconnects), (1, 1, 1));
}

#[tokio::test]
async fn op7_reconnect_resumes_with_a_resumable_close() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.request_reconnect();
    let reason = expect_disconnected(&mut shard).await;
    assert!(reason.contains("op 7"), "{reason}");
    assert_eq!(next(&mut shard).await, Event::Resumed);
    assert_eq!((fake.identifies(), fake.resumes()), (1, 1));
    let closes = fake.wait_client_closes(1).await;
    assert_eq!(closes, [4000], "not 1000/1001, which would end the session");
}

#[tokio::test]
async fn invalid_session_false_identifies_again_true_resumes() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, first) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;

    fake.invalid_session(true);
    expect_disconnected(&mut shard).await;
    assert_eq!(next(&mut shard).await, Event::Resumed);
    assert_eq!((fake.identifies(), fake.resumes()), (1, 1));

    fake.invalid_session(false);
    expect_disconnected(&mut shard).await;
    match next(&mut shard).await {
        Event::Ready { session_id, .. } => assert_ne!(session_id, first),
        e => panic!("expected a fresh READY, got {e:?}"),
    }
    assert_eq!((fake.identifies(), fake.resumes()), (2, 1));
    assert_eq!(
        shard.seq(),
        Some(1),
        "a new session starts its own sequence"
    );
}

#[tokio::test]
async fn missing_heartbeat_ack_is_a_zombie_and_resumes() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    fake.set_heartbeat_interval(100);
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.set_ack(false);
    let reason = expect_disconnected(&mut shard).await;
    assert!(reason.contains("ACK"), "{reason}");
    assert!(fake.heartbeats() >= 1);
    fake.set_ack(true);
    assert_eq!(next(&mut shard).await, Event::Resumed);
    assert_eq!((fake.identifies(), fake.resumes()), (1, 1));
    assert_eq!(fake.wait_client_closes(1).await, [4000]);
}

#[tokio::test]
async fn other_close_codes_resume_or_reidentify() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.close_with(4000, "Unknown error.");
    let reason = expect_disconnected(&mut shard).await;
    assert!(reason.contains("4000"), "{reason}");
    assert_eq!(next(&mut shard).await, Event::Resumed);

    // 4009 session timed out: the session is gone, identify afresh.
    fake.close_with(4009, "Session timed out.");
    expect_disconnected(&mut shard).await;
    assert!(matches!(next(&mut shard).await, Event::Ready { .. }));
    assert_eq!((fake.identifies(), fake.resumes()), (2, 1));
}

#[tokio::test]
async fn close_4004_is_fatal_and_never_shows_the_token() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let wrong = "MTEwMDAw.wrong-token.LEAKME";
    let mut shard = Shard::new(config(&fake, wrong));
    let e = next_err(&mut shard).await;
    let ShardError::Fatal { code, message } = &e else {
        panic!("expected Fatal, got {e:?}");
    };
    assert_eq!(*code, 4004);
    assert!(message.contains("token"), "names the fix: {message}");
    for text in [format!("{e}"), format!("{e:?}"), format!("{shard:?}")] {
        assert!(
            !text.contains("LEAKME") && !text.contains(DISCORD_TOKEN),
            "{text}"
        );
    }
    // Sticky: no reconnect loop hammering Discord with a bad token.
    assert_eq!(next_err(&mut shard).await, e);
    assert_eq!(fake.identifies(), 1);
}

#[tokio::test]
async fn close_4014_is_fatal_with_the_intents_hint() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.close_with(4014, "Disallowed intent(s).");
    match next_err(&mut shard).await {
        ShardError::Fatal { code, message } => {
            assert_eq!(code, 4014);
            assert!(message.contains("Message Content intent"), "{message}");
            assert!(message.contains("Privileged Gateway Intents"), "{message}");
        }
        e => panic!("expected Fatal 4014, got {e:?}"),
    }
}

#[tokio::test]
async fn cancel_ends_next_promptly_live_or_waiting() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    fake.set_heartbeat_interval(100);
    let mut cfg = config(&fake, DISCORD_TOKEN);
    // Long enough that only cancel can end the wait below.
    cfg.invalid_session_wait = (Duration::from_secs(60), Duration::from_secs(60));
    let cancel = cfg.cancel.clone();
    let (mut shard, _) = ready(&fake, cfg).await;

    // Cancel while next() sits on a live connection.
    let (c, f) = (cancel.clone(), fake.clone());
    tokio::spawn(async move {
        f.wait_heartbeats(1).await;
        c.cancel();
    });
    let t0 = std::time::Instant::now();
    assert_eq!(next_err(&mut shard).await, ShardError::Cancelled);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(
        fake.wait_client_closes(1).await,
        [1000],
        "a deliberate stop"
    );

    // Cancel during the 60 s invalid-session wait.
    let cancel = CancellationToken::new();
    let mut cfg = config(&fake, DISCORD_TOKEN);
    cfg.invalid_session_wait = (Duration::from_secs(60), Duration::from_secs(60));
    cfg.cancel = cancel.clone();
    let (mut shard, _) = ready(&fake, cfg).await;
    fake.invalid_session(false);
    expect_disconnected(&mut shard).await;
    let c = cancel.clone();
    tokio::spawn(async move { c.cancel() });
    let t0 = std::time::Instant::now();
    assert_eq!(next_err(&mut shard).await, ShardError::Cancelled);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(fake.identifies(), 2, "no identify after cancel");
}

fn rest(fake: &FakeDiscord, token: &str) -> Rest {
    Rest::new(reqwest::Client::new(), &fake.api_root(), Secret::new(token))
}

#[tokio::test]
async fn rest_round_trip() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let r = rest(&fake, DISCORD_TOKEN);
    let me = r.me().await.unwrap();
    assert_eq!(me["id"], BOT_ID);
    assert_eq!(me["bot"], true);
    assert_eq!(r.gateway_url().await.unwrap(), fake.gateway_url());

    let body =
        json!({"content": "hello", "message_reference": {"message_id": "5000000000000000001"}});
    let m = r
        .create_message("2000000000000000001", &body)
        .await
        .unwrap();
    assert_eq!(m["channel_id"], "2000000000000000001");
    assert_eq!(m["content"], "hello");
    assert!(m["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        fake.wait_sent(1).await,
        [("2000000000000000001".to_string(), body)]
    );

    r.typing("2000000000000000001").await.unwrap();
    assert_eq!(fake.typing_count(), 1);

    assert_eq!(
        r.open_dm("4000000000000000001").await.unwrap(),
        DM_CHANNEL_ID
    );
    assert_eq!(fake.dm_recipients(), ["4000000000000000001"]);

    let uas = fake.user_agents();
    assert_eq!(uas.len(), 5);
    for ua in uas {
        assert!(
            ua.starts_with("DiscordBot (https://github.com/clawdbot, "),
            "{ua}"
        );
    }
}

#[tokio::test]
async fn rest_401_is_bad_token_without_the_token() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let e = rest(&fake, "wrong-LEAKME").me().await.unwrap_err();
    assert!(e.is_bad_token(), "{e}");
    assert!(!e.transient());
    assert_eq!(e.status, Some(401));
    assert_eq!(e.to_string(), "Discord API 401 (code 0): 401: Unauthorized");
    assert!(!format!("{e:?}").contains("LEAKME"));
}

#[tokio::test]
async fn rest_429_and_500_are_transient_and_not_slept_on() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let r = rest(&fake, DISCORD_TOKEN);
    fake.fail_creates(1, RestFault::RateLimited(1.5));
    let t0 = std::time::Instant::now();
    let e = r
        .create_message("2000000000000000001", &json!({"content": "x"}))
        .await
        .unwrap_err();
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "Rest must not sleep"
    );
    assert_eq!(e.status, Some(429));
    assert_eq!(e.retry_after, Some(1.5));
    assert!(e.transient() && !e.is_bad_token());

    fake.fail_creates(1, RestFault::ServerError);
    let e = r
        .create_message("2000000000000000001", &json!({"content": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(500));
    assert!(e.transient());
    assert_eq!(e.retry_after, None);

    r.create_message("2000000000000000001", &json!({"content": "ok"}))
        .await
        .unwrap();
    assert_eq!(fake.wait_sent(1).await[0].1["content"], "ok");
}

#[tokio::test]
async fn rest_refuses_hostile_ids_without_a_request() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let r = rest(&fake, DISCORD_TOKEN);
    for id in ["../../x", "1?x", "", "12/typing", "1#x", "%2e%2e"] {
        let e = r
            .create_message(id, &json!({"content": "x"}))
            .await
            .unwrap_err();
        assert!(
            e.refused && e.status.is_none() && !e.transient(),
            "{id:?}: {e}"
        );
        assert!(r.typing(id).await.unwrap_err().refused, "{id:?}");
        assert!(r.open_dm(id).await.unwrap_err().refused, "{id:?}");
    }
    assert_eq!(fake.requests(), 0, "nothing reached the server");
    // The same client still works with a real snowflake (so the 0 above means refused).
    r.typing("2000000000000000001").await.unwrap();
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn binary_and_unknown_ops_are_ignored_op1_asks_for_a_heartbeat_now() {
    use axum::extract::ws::Message;
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    // So long that any heartbeat within the test's 10 s was asked for.
    fake.set_heartbeat_interval(600_000);
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.send_raw(Message::Binary(vec![0x78, 0x9c, 0x00].into()));
    fake.send_raw(Message::text(r#"{"op":99,"d":{"x":1}}"#));
    fake.send_raw(Message::text(r#"{"op":1,"d":null}"#));
    drive(&mut shard, fake.wait_heartbeats(1)).await;
    assert_eq!(fake.last_heartbeat().unwrap(), json!({"op": 1, "d": 1}));
    fake.dispatch("MESSAGE_CREATE", msg("5000000000000000001", "still here"));
    expect_dispatch(&mut shard, "5000000000000000001").await;
    assert_eq!(shard.stats().reconnects, 0);
}

#[tokio::test]
async fn broken_json_and_oversized_frames_drop_the_connection_and_resume() {
    use axum::extract::ws::Message;
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, _) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.send_raw(Message::text("{\"op\":0,"));
    let reason = expect_disconnected(&mut shard).await;
    assert!(reason.contains("not JSON"), "{reason}");
    assert_eq!(next(&mut shard).await, Event::Resumed);

    let big = format!(
        r#"{{"op":0,"t":"MESSAGE_CREATE","s":9,"d":{{"content":"{}"}}}}"#,
        "x".repeat((1 << 20) + 1)
    );
    fake.send_raw(Message::text(big));
    expect_disconnected(&mut shard).await;
    assert_eq!(next(&mut shard).await, Event::Resumed);
    assert_eq!((fake.identifies(), fake.resumes()), (1, 2));
    assert_eq!(
        shard.seq(),
        Some(3),
        "the oversized dispatch's seq was not taken"
    );
}

#[tokio::test]
async fn expired_session_resume_gets_op9_then_identifies() {
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let (mut shard, first) = ready(&fake, config(&fake, DISCORD_TOKEN)).await;
    fake.drop_socket();
    expect_disconnected(&mut shard).await;
    fake.expire_session();
    let reason = expect_disconnected(&mut shard).await;
    assert!(reason.contains("invalid session"), "{reason}");
    match next(&mut shard).await {
        Event::Ready { session_id, .. } => assert_ne!(session_id, first),
        e => panic!("expected READY, got {e:?}"),
    }
    assert_eq!((fake.identifies(), fake.resumes()), (2, 1));
}

#[tokio::test]
async fn failed_connects_back_off_growing() {
    // Accepts TCP and hangs up at once: every WebSocket handshake fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            drop(sock);
            let _ = tx.send(tokio::time::Instant::now());
        }
    });
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let mut cfg = config(&fake, DISCORD_TOKEN);
    cfg.url = url;
    cfg.backoff = (Duration::from_millis(40), Duration::from_millis(160));
    let mut shard = Shard::new(cfg);
    let attempts = drive(&mut shard, async {
        let mut v = vec![];
        for _ in 0..5 {
            let t = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
            v.push(t.expect("attempt within 10s").unwrap());
        }
        v
    })
    .await;
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    // Waits are jittered within [full/2, full], full = 40, 80, 160, 160 ms.
    for (gap, min_ms) in gaps.iter().zip([20, 40, 80, 80]) {
        assert!(*gap >= Duration::from_millis(min_ms), "{gaps:?}");
    }
    // The fifth may still be mid-handshake when the fifth accept is seen.
    let failures = shard.stats().connect_failures;
    assert!((4..=5).contains(&failures), "{:?}", shard.stats());
}

#[tokio::test]
async fn wss_urls_take_the_rustls_path() {
    // Production is wss://gateway.discord.gg: the TLS client must be built (a crypto
    // provider present) and a bad handshake be an ordinary connect failure, not a panic.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 5];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(buf[..n].to_vec());
            let _ = sock.write_all(b"HTTP/1.1 400 Not TLS\r\n\r\n").await;
        }
    });
    let fake = FakeDiscord::start(DISCORD_TOKEN).await;
    let mut cfg = config(&fake, DISCORD_TOKEN);
    cfg.url = format!("wss://127.0.0.1:{port}");
    let mut shard = Shard::new(cfg);
    // Two attempts: the first ClientHello shows TLS was set up, the second that its
    // failure went through the ordinary backoff.
    let hellos = drive(&mut shard, async {
        let mut v = vec![];
        for _ in 0..2 {
            let t = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
            v.push(t.expect("a connection within 10s").unwrap());
        }
        v
    })
    .await;
    for h in &hellos {
        assert_eq!(h.first(), Some(&0x16), "a TLS handshake record: {h:?}");
    }
    assert!(shard.stats().connect_failures >= 1);
}
