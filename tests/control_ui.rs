//! The Control UI: served from the binary (gzip, basePath, off switch), and used in a
//! real headless chromium against a gateway started here: token paste, a wrong token,
//! chat streaming from the fake model, approving a Telegram pairing request, and the
//! Nix-mode read-only config. Screenshots land in target/ui-screenshots/.

mod common;

use common::browser::Browser;
use common::fakes::Reply;
use common::world::World;
use common::{Setup, TOKEN, TestGateway};
use serde_json::json;

async fn get(url: &str, gzip: bool) -> reqwest::Response {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut r = c.get(url);
    if gzip {
        r = r.header("accept-encoding", "gzip");
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn the_ui_is_served_from_the_binary_with_gzip_and_honours_base_path_and_enabled() {
    let mut gw = TestGateway::start().await;
    let base = format!("http://127.0.0.1:{}", gw.port);
    let r = get(&format!("{base}/"), false).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<script type=\"module\" src=\"./app.js\">")
    );
    let js = get(&format!("{base}/app.js"), true).await;
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-encoding"], "gzip");
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(get(&format!("{base}/nope.js"), false).await.status(), 404);
    gw.shutdown().await;

    let mut gw = TestGateway::with(Setup {
        config: Some(r#"{"gateway": {"controlUi": {"basePath": "/claw/"}}}"#.into()),
        ..Setup::default()
    })
    .await;
    let base = format!("http://127.0.0.1:{}", gw.port);
    let r = get(&format!("{base}/claw"), false).await;
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/claw/");
    assert_eq!(get(&format!("{base}/claw/"), false).await.status(), 200);
    assert_eq!(
        get(&format!("{base}/claw/chat.js"), false).await.status(),
        200
    );
    assert_eq!(get(&format!("{base}/"), false).await.status(), 404);
    assert_eq!(get(&format!("{base}/healthz"), false).await.status(), 200);
    gw.shutdown().await;

    let mut gw = TestGateway::with(Setup {
        config: Some(r#"{"gateway": {"controlUi": {"enabled": false}}}"#.into()),
        ..Setup::default()
    })
    .await;
    let r = get(&format!("http://127.0.0.1:{}/", gw.port), false).await;
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("gateway.controlUi.enabled=false")
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_paste_then_chat_streams_a_reply() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let w = World::new().await;
    w.anthropic
        .script([Reply::Text("Hello from **Claw** in the browser.".into())]);
    let mut gw = w.gateway(json!({"enabled": false}), json!({})).await;
    let url = format!("http://127.0.0.1:{}/", gw.port);
    b.goto(&url).await;
    // No token yet: the dialog asks for one.
    b.wait("document.getElementById('token-dialog').open").await;
    b.type_into("#token-input", TOKEN).await;
    b.click("#token-save").await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    let version = b.wait("[...document.querySelectorAll('.card')].find(c => c.textContent.startsWith('Version'))?.textContent").await;
    assert!(
        version.as_str().unwrap().contains(clawdbot::VERSION),
        "{version}"
    );
    b.wait("document.querySelector('.card') && document.body.textContent.includes('Nix mode')")
        .await;
    // Connection counts and the auth throttle come from `status`.
    let conns = b.wait("[...document.querySelectorAll('.card')].find(c => c.textContent.startsWith('Connections'))?.textContent").await;
    assert!(conns.as_str().unwrap().contains("1 clients"), "{conns}");
    b.wait("document.body.textContent.includes('none locked out')")
        .await;
    b.screenshot("overview").await;

    b.goto(&format!("{url}#chat")).await;
    b.wait("document.getElementById('chat-input')").await;
    b.type_into("#chat-input", "hi from the browser\n").await;
    let text = b
        .wait("[...document.querySelectorAll('.msg.assistant')].map(m => m.textContent).find(t => t.includes('in the browser.'))")
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .ends_with("Hello from Claw in the browser."),
        "{text}"
    );
    // Markdown is rendered as elements, and the turn is persisted (history reload).
    b.wait("document.querySelector('.msg.assistant strong')?.textContent === 'Claw'")
        .await;
    b.wait("!document.getElementById('chat-streaming') && document.querySelectorAll('.msg.user').length === 1").await;
    assert!(
        w.anthropic.requests()[0]["messages"]
            .to_string()
            .contains("hi from the browser")
    );
    // The token survives a reload (kept in the browser), so the page reconnects alone.
    b.goto(&format!("{url}#chat")).await;
    b.wait("document.querySelectorAll('.msg.assistant').length === 1")
        .await;
    b.screenshot("chat").await;
    // On a phone-sized screen nothing scrolls sideways and the composer stays visible.
    b.resize(390, 844).await;
    b.wait("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    let visible = b.eval("const r = document.getElementById('chat-send').getBoundingClientRect(); return r.bottom <= window.innerHeight && r.right <= window.innerWidth").await;
    assert_eq!(visible, true);
    b.screenshot("chat-phone").await;
    b.close().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_shows_the_reason_and_leaves_the_address_bar() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let mut gw = TestGateway::start().await;
    b.goto(&format!(
        "http://127.0.0.1:{}/#token=not-the-token",
        gw.port
    ))
    .await;
    let banner = b.wait("!document.getElementById('banner').hidden && document.getElementById('banner').textContent").await;
    assert!(
        banner.as_str().unwrap().contains("token mismatch"),
        "{banner}"
    );
    b.wait("document.getElementById('token-dialog').open").await;
    let hash = b.eval("return location.hash").await;
    assert_eq!(hash, "#overview", "the token must leave the address bar");
    // Fixing it in the dialog connects.
    b.eval("document.getElementById('token-input').value = ''")
        .await;
    b.type_into("#token-input", TOKEN).await;
    b.click("#token-save").await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    b.close().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pairing_request_is_approved_from_the_channels_page() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let w = World::new().await;
    let mut gw = w.gateway(json!({}), json!({})).await;
    w.tg.dm(4321, "hello?");
    let sent = w.tg.wait_sent(1).await;
    let code = sent[0]["text"]
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Pairing code: "))
        .unwrap()
        .to_string();
    b.goto(&format!("http://127.0.0.1:{}/#token={TOKEN}", gw.port))
        .await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    b.eval("location.hash = '#channels'").await;
    b.wait(&format!(
        "document.querySelector('button[data-code=\"{code}\"]')"
    ))
    .await;
    b.click(&format!("button[data-code=\"{code}\"]")).await;
    b.wait("document.body.innerText.includes('Approved senders: 4321')")
        .await;
    let allow = std::fs::read_to_string(gw.state_dir().join("credentials/telegram-allowFrom.json"))
        .unwrap();
    assert!(allow.contains("4321"), "{allow}");
    b.close().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_nix_mode_the_config_is_read_only_and_names_the_option() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let w = World::new().await;
    let mut gw = w
        .gateway_with(
            json!({"dmPolicy": "pairing", "enabled": false}),
            json!({}),
            true,
        )
        .await;
    b.goto(&format!("http://127.0.0.1:{}/#token={TOKEN}", gw.port))
        .await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    b.eval("location.hash = '#config'").await;
    let banner = b
        .wait("document.getElementById('nix-banner')?.textContent")
        .await;
    assert!(banner.as_str().unwrap().contains("read-only"), "{banner}");
    assert_eq!(
        b.eval("return !!document.getElementById('config-save')")
            .await,
        false
    );
    b.click("[data-path=\"channels.telegram.dmPolicy\"]").await;
    let hint = b.wait("document.getElementById('nix-key-hint').textContent.includes('services.clawdbot') && document.getElementById('nix-key-hint').textContent").await;
    assert!(
        hint.as_str()
            .unwrap()
            .contains("services.clawdbot.settings.channels.telegram.dmPolicy"),
        "{hint}"
    );
    // A secret key points at services.clawdbot.secrets, never at an inline value.
    b.click("[data-path=\"channels.telegram.botToken\"]").await;
    let hint = b.wait("document.getElementById('nix-key-hint').textContent.includes('secrets') && document.getElementById('nix-key-hint').textContent").await;
    assert!(
        hint.as_str().unwrap().contains("services.clawdbot.secrets"),
        "{hint}"
    );
    b.screenshot("config-nix").await;
    b.close().await;
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_approval_is_answered_inline_in_chat_and_a_restart_is_announced() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let w = World::new().await;
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": "echo approved-in-browser"}),
        },
        Reply::Text("The command ran.".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "allowlist", "ask": "on-miss"}}}),
        )
        .await;
    b.goto(&format!("http://127.0.0.1:{}/#token={TOKEN}", gw.port))
        .await;
    b.wait("document.getElementById('conn').textContent.startsWith('connected')")
        .await;
    b.eval("location.hash = '#chat'").await;
    b.wait("document.getElementById('chat-input')").await;
    b.type_into("#chat-input", "run the thing\n").await;
    let cmd = b
        .wait("document.querySelector('.msg.approval pre')?.textContent")
        .await;
    assert_eq!(cmd, "echo approved-in-browser");
    b.click(".msg.approval button.approve").await;
    b.wait("[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent.includes('The command ran.'))").await;
    assert!(
        w.anthropic.requests()[1]["messages"]
            .to_string()
            .contains("approved-in-browser")
    );
    // The gateway stops: the page says it is restarting and will reconnect.
    gw.shutdown().await;
    let banner = b.wait("!document.getElementById('banner').hidden && document.getElementById('banner').textContent").await;
    assert!(banner.as_str().unwrap().contains("restarting"), "{banner}");
    b.close().await;
}
