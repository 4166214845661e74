//! Linking WhatsApp: the QR a pairing event produces decodes back to the same string
//! (terminal text and PNG, read with a QR decoder); credentials are 0700/0600, the
//! library's own SQLite files included; `web.login.start`/`wait` over a real WebSocket
//! driven by the library's pairing events; `channels login` with WhatsApp unreachable
//! fails fast with one line; two gateway processes one after the other on one state dir
//! keep the link.
#![cfg(feature = "whatsapp")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clawdbot::channels::whatsapp::{self, creds::Creds, login, qr};
use common::{Setup, TestGateway, call, operator};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use whatsapp_rust::Jid;
use whatsapp_rust::types::events::{Connected, Event, PairSuccess, PairingQrCode};

const CODE: &str = "2@Qm9ndXNSZWY=,c2VjcmV0LWtleQ==,aWRlbnRpdHk=,YWR2LXNlY3JldA==";

/// Reads the terminal rendering back into pixels (light = 255) and decodes it.
fn decode_terminal(text: &str) -> String {
    let lines: Vec<Vec<char>> = text.lines().map(|l| l.chars().collect()).collect();
    let w = lines[0].len();
    let h = lines.len() * 2;
    let scale = 4;
    let img = image::GrayImage::from_fn((w * scale) as u32, (h * scale) as u32, |x, y| {
        let (cx, cy) = (x as usize / scale, y as usize / scale);
        let c = lines[cy / 2][cx];
        let top = cy % 2 == 0;
        let light = match c {
            '█' => true,
            '▀' => top,
            '▄' => !top,
            ' ' => false,
            other => panic!("unexpected {other:?}"),
        };
        image::Luma([if light { 255 } else { 0 }])
    });
    decode(img)
}

fn decode(img: image::GrayImage) -> String {
    let mut p = rqrr::PreparedImage::prepare(img);
    let grids = p.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().expect("the QR decodes").1
}

fn decode_data_url(url: &str) -> String {
    use base64::Engine;
    let b64 = url
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URL");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("a valid PNG")
        .to_luma8();
    decode(img)
}

fn qr_event(code: &str) -> Arc<Event> {
    Arc::new(Event::PairingQrCode(
        PairingQrCode::builder()
            .code(code.into())
            .timeout(Duration::from_secs(20))
            .build(),
    ))
}

fn pair_success() -> Arc<Event> {
    Arc::new(Event::PairSuccess(
        PairSuccess::builder()
            .id("15550009999:12@s.whatsapp.net".parse::<Jid>().unwrap())
            .lid("99887766:12@lid".parse::<Jid>().unwrap())
            .business_name("".into())
            .platform("android".into())
            .build(),
    ))
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_pairing_qr_decodes_back_from_the_terminal_and_the_png() {
    let t = qr::terminal(CODE).unwrap();
    assert_eq!(decode_terminal(&t), CODE);
    assert_eq!(decode_data_url(&qr::png_data_url(CODE).unwrap()), CODE);
}

#[tokio::test]
async fn a_link_from_pairing_events_rotates_the_qr_and_stores_private_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let creds = Creds::for_account(dir.path(), None, "default", None);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut l = login::drive(creds.clone(), rx, None, "ws://test".into());
    tx.send(qr_event("2@first")).unwrap();
    let s = l
        .wait(Duration::from_secs(5), |s| matches!(s, login::State::Qr(_)))
        .await;
    assert_eq!(s, login::State::Qr("2@first".into()));
    // The library rotates the code: the newest one is shown.
    tx.send(qr_event(CODE)).unwrap();
    let s = l
        .wait(Duration::from_secs(5), |s| {
            *s == login::State::Qr(CODE.into())
        })
        .await;
    let login::State::Qr(code) = s else {
        panic!("{s:?}")
    };
    assert_eq!(decode_terminal(&qr::terminal(&code).unwrap()), CODE);
    tx.send(pair_success()).unwrap();
    tx.send(Arc::new(Event::Connected(Connected::builder().build())))
        .unwrap();
    let s = l.wait(Duration::from_secs(5), login::State::done).await;
    assert_eq!(
        s,
        login::State::Linked {
            jid: "15550009999@s.whatsapp.net".into()
        }
    );
    assert!(creds.is_linked());
    assert_eq!(mode(&creds.dir), 0o700);
    assert_eq!(mode(&creds.db()), 0o600);
    assert_eq!(mode(&creds.dir.join("linked.json")), 0o600);
    assert_eq!(
        whatsapp::creds::self_e164(&creds.linked().unwrap()).as_deref(),
        Some("+15550009999")
    );
}

#[tokio::test]
async fn the_library_session_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let creds = Creds::for_account(dir.path(), None, "work", None);
    let (tx, _rx) = mpsc::unbounded_channel();
    // Opens (and migrates) the library's SQLite store; nothing connects yet.
    let bot = whatsapp::client::build(
        &creds,
        whatsapp::client::Options {
            url: "ws://127.0.0.1:9/ws/chat".into(),
            http: reqwest::Client::new(),
            events: tx,
            hook: None,
            pair_phone: None,
        },
    )
    .await
    .expect("the store opens");
    drop(bot);
    assert_eq!(mode(&creds.dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&creds.dir).unwrap().flatten().collect();
    assert!(!files.is_empty());
    for f in files {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
    assert!(
        std::fs::metadata(creds.db()).unwrap().len() > 0,
        "the store wrote its schema"
    );
}

/// A gateway whose WhatsApp points at a closed local port (nothing to reach).
async fn gateway() -> TestGateway {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config =
        json!({"channels": {"whatsapp": {"apiRoot": format!("ws://127.0.0.1:{port}/ws/chat")}}});
    TestGateway::with(Setup {
        config: Some(config.to_string()),
        ..Setup::default()
    })
    .await
}

#[tokio::test]
async fn web_login_over_a_websocket_shows_the_qr_and_reports_the_link() {
    let gw = gateway().await;
    let mut ws = operator(&gw.url).await;
    // Nothing in progress yet; strict params.
    let r = call(&mut ws, "w0", "web.login.wait", json!({})).await;
    assert_eq!(r["payload"]["connected"], false, "{r}");
    assert_eq!(
        r["payload"]["message"],
        "No active WhatsApp login in progress."
    );
    let r = call(&mut ws, "bad", "web.login.start", json!({"bogus": 1})).await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected property 'bogus'")
    );
    let r = call(
        &mut ws,
        "bad2",
        "web.login.start",
        json!({"accountId": "../x"}),
    )
    .await;
    assert_eq!(r["ok"], false, "a path in the account id is refused: {r}");
    // A link attempt fed with the library's pairing events.
    let (tx, rx) = mpsc::unbounded_channel();
    whatsapp::web::drive_for_test(&gw.gw.channels, "default", rx);
    tx.send(qr_event(CODE)).unwrap();
    let r = call(&mut ws, "s1", "web.login.start", json!({"timeoutMs": 5000})).await;
    assert_eq!(r["ok"], true, "{r}");
    let url = r["payload"]["qrDataUrl"].as_str().expect("a QR image");
    assert_eq!(decode_data_url(url), CODE);
    assert!(
        r["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("Linked Devices")
    );
    let r = call(&mut ws, "w1", "web.login.wait", json!({"timeoutMs": 200})).await;
    assert_eq!(r["payload"]["connected"], false);
    assert!(
        r["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("Still waiting")
    );
    tx.send(pair_success()).unwrap();
    tx.send(Arc::new(Event::Connected(Connected::builder().build())))
        .unwrap();
    let r = call(&mut ws, "w2", "web.login.wait", json!({"timeoutMs": 5000})).await;
    assert_eq!(
        r["payload"],
        json!({"connected": true, "message": "✅ Linked! WhatsApp is ready."})
    );
    // Linked now: a new start says so instead of showing a QR.
    let r = call(&mut ws, "s2", "web.login.start", json!({})).await;
    let msg = r["payload"]["message"].as_str().unwrap();
    assert!(msg.contains("already linked (+15550009999)"), "{msg}");
    assert!(r["payload"].get("qrDataUrl").is_none());
    // The account started; it cannot reach the (closed) socket, and says so.
    let st = gw
        .gw
        .channels
        .status
        .wait_for("whatsapp", "default", Duration::from_secs(20), |s| {
            s.running
        })
        .await
        .expect("the linked account runs");
    assert!(!st.connected);
}

#[tokio::test]
async fn an_unlinked_account_says_how_to_link_in_channels_status() {
    let gw = gateway().await;
    let st = gw
        .gw
        .channels
        .status
        .wait_for("whatsapp", "default", Duration::from_secs(20), |s| {
            s.linked == Some(false)
        })
        .await
        .expect("the account reports its link state");
    assert!(
        st.last_error
            .unwrap()
            .contains("`clawdbot channels login --channel whatsapp`")
    );
    let mut ws = operator(&gw.url).await;
    let r = call(&mut ws, "c", "channels.status", json!({})).await;
    let a = &r["payload"]["channelAccounts"]["whatsapp"][0];
    assert_eq!(a["linked"], false, "{r}");
    assert!(
        a["lastError"]
            .as_str()
            .unwrap()
            .contains("clawdbot channels login")
    );
}

#[test]
fn channels_login_without_a_reachable_whatsapp_fails_fast_with_one_line() {
    let root = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let state = common::proc::state(root.path());
    std::fs::create_dir_all(&state).unwrap();
    common::write(
        &state.join("clawdbot.json"),
        &json!({"channels": {"whatsapp": {"apiRoot": format!("ws://127.0.0.1:{port}/ws/chat")}}})
            .to_string(),
    );
    let mut cmd = common::proc::command(root.path());
    cmd.args(["channels", "login", "--channel", "whatsapp"]);
    let t0 = Instant::now();
    let (code, _out, err) = common::proc::run(cmd);
    let took = t0.elapsed();
    assert_ne!(code, 0);
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].starts_with("WhatsApp login failed: cannot reach WhatsApp Web at ws://127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Nothing half-made is left behind.
    assert!(
        !Creds::for_account(&state, None, "default", None)
            .db()
            .exists()
    );
}

#[test]
fn two_gateways_one_after_the_other_keep_the_link() {
    let root = tempfile::tempdir().unwrap();
    let state = common::proc::state(root.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    common::write(
        &state.join("clawdbot.json"),
        &json!({"channels": {"whatsapp": {"apiRoot": format!("ws://127.0.0.1:{port}/ws/chat")}}})
            .to_string(),
    );
    let creds = Creds::for_account(&state, None, "default", None);
    creds
        .mark_linked("15550009999@s.whatsapp.net", "99887766@lid", "Bot")
        .unwrap();
    let before = std::fs::read(creds.dir.join("linked.json")).unwrap();
    for run in 0..2 {
        let (mut gw, gport) = common::proc::start_gateway(root.path(), common::TOKEN, &[]);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let st: Value = rt.block_on(async {
            let mut ws = operator(&format!("ws://127.0.0.1:{gport}")).await;
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let r = call(&mut ws, "c", "channels.status", json!({})).await;
                let a = r["payload"]["channelAccounts"]["whatsapp"][0].clone();
                if a["running"] == true || Instant::now() > deadline {
                    return a;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        assert_eq!(st["running"], true, "run {run}: {st}");
        assert_ne!(st["linked"], false, "run {run}: the link is kept: {st}");
        let err = st["lastError"].as_str().unwrap_or_default();
        assert!(!err.contains("not linked"), "run {run}: {err}");
        gw.signal("TERM");
        let (code, out) = gw.wait_exit();
        assert_eq!(code, Some(0), "{out}");
        assert!(
            creds.is_linked(),
            "run {run}: credentials survive the restart"
        );
    }
    assert_eq!(
        std::fs::read(creds.dir.join("linked.json")).unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channels_page_shows_the_qr_as_an_image_and_reports_the_link() {
    let Some(b) = common::browser::Browser::start().await else {
        return;
    };
    let gw = gateway().await;
    let (tx, rx) = mpsc::unbounded_channel();
    whatsapp::web::drive_for_test(&gw.gw.channels, "default", rx);
    tx.send(qr_event(CODE)).unwrap();
    b.goto(&format!(
        "http://127.0.0.1:{}/#token={}",
        gw.port,
        common::TOKEN
    ))
    .await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    b.eval("location.hash = '#channels'").await;
    b.wait("document.getElementById('wa-link')").await;
    b.click("#wa-link").await;
    b.wait("document.getElementById('wa-qr') && document.getElementById('wa-qr').naturalWidth > 0")
        .await;
    let src = b.eval("return document.getElementById('wa-qr').src").await;
    assert_eq!(decode_data_url(src.as_str().unwrap()), CODE);
    b.screenshot("whatsapp-link").await;
    tx.send(pair_success()).unwrap();
    tx.send(Arc::new(Event::Connected(Connected::builder().build())))
        .unwrap();
    b.wait("document.body.innerText.includes('Linked! WhatsApp is ready.')")
        .await;
    b.close().await;
}
