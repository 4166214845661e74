//! openclaw 2026.9.6's own Control UI against our gateway (issue 18): the gateway serves
//! the bundle from `gateway.controlUi.root` (src/server/ui_root.rs), the UI speaks
//! protocol v4 to it from the same origin, shows the overview, and a chat message
//! round-trips through the fake model. Before that, the HTTP side over real sockets:
//! the page stamped with its base path, client-side routes, `/control-ui-config.json`
//! behind the bearer secret, and every path spelling that tries to leave the root.
//!
//! The bundle comes from the openclaw install at `$OPENCLAW_DIR` (default /tmp/openclaw,
//! made by ../shared/reference/openclaw-setup.sh). Without it the browser test says so
//! and passes, unless `CLAWDBOT_REQUIRE_OPENCLAW=1` (set by scripts/test.sh).

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;

use common::browser::Browser;
use common::fakes::Reply;
use common::world::World;
use common::{Setup, TOKEN, TestGateway};
use serde_json::json;

fn bundle_or_skip() -> Option<PathBuf> {
    let dir =
        PathBuf::from(std::env::var("OPENCLAW_DIR").unwrap_or_else(|_| "/tmp/openclaw".into()))
            .join("pkg/node_modules/openclaw/dist/control-ui");
    if dir.join("index.html").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("CLAWDBOT_REQUIRE_OPENCLAW").as_deref() != Ok("1"),
        "CLAWDBOT_REQUIRE_OPENCLAW=1 but openclaw's Control UI bundle is missing at {} (run ../shared/reference/openclaw-setup.sh)",
        dir.display()
    );
    eprintln!(
        "SKIP control_ui_v4: openclaw 2026.9.6 not installed (bash ../shared/reference/openclaw-setup.sh)"
    );
    None
}

/// One raw HTTP/1.1 GET, so the path reaches the server exactly as written (a URL
/// library would normalise `..` away before sending).
fn raw_get(port: u16, path: &str, extra: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ui_root_is_served_safely_with_its_base_path_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ui");
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(
        root.join("index.html"),
        "<!doctype html><html lang=\"en\"><body><openclaw-app></openclaw-app></body></html>",
    )
    .unwrap();
    std::fs::write(root.join("assets/app.js"), "console.log('plain')").unwrap();
    std::fs::write(root.join("assets/app.js.br"), "BROTLI").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "TOP SECRET").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("assets/leak.js")).unwrap();
    let config = json!({"gateway": {"controlUi": {"root": root, "basePath": "/claw"}}});
    let mut gw = TestGateway::with(Setup {
        config: Some(config.to_string()),
        ..Setup::default()
    })
    .await;
    let port = gw.port;

    let (code, page) = raw_get(port, "/claw/", "");
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("<html data-openclaw-control-ui-base-path=\"/claw\" lang=\"en\">"),
        "{page}"
    );
    // A client-side route gets the page; a missing file with an extension does not.
    let (code, page) = raw_get(port, "/claw/sessions/agent:main:main", "");
    assert_eq!(code, 200);
    assert!(page.contains("<openclaw-app>"));
    assert_eq!(raw_get(port, "/claw/assets/nope.js", "").0, 404);
    let (code, js) = raw_get(port, "/claw/assets/app.js", "");
    assert_eq!(code, 200);
    assert!(js.contains("text/javascript") && js.ends_with("console.log('plain')"));
    let (_, br) = raw_get(port, "/claw/assets/app.js", "Accept-Encoding: gzip, br\r\n");
    assert!(
        br.contains("content-encoding: br") && br.ends_with("BROTLI"),
        "{br}"
    );

    for bad in [
        "/claw/../secret.txt",
        "/claw/assets/../../secret.txt",
        "/claw/%2e%2e/secret.txt",
        "/claw/assets/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/claw/..%5csecret.txt",
        "/claw/assets\\..\\..\\secret.txt",
        "/claw//etc/passwd",
        "/claw/assets/leak.js",
        "/claw/.%2e/secret.txt",
    ] {
        let (code, body) = raw_get(port, bad, "");
        assert!(
            !body.contains("TOP SECRET"),
            "{bad} leaked the file outside the root"
        );
        assert!(code == 400 || code == 404, "{bad}: {code}");
    }

    // The UI's config: behind the gateway's secret, as openclaw's gateway does.
    let (code, _) = raw_get(port, "/claw/control-ui-config.json", "");
    assert_eq!(code, 401);
    let (code, _) = raw_get(
        port,
        "/claw/control-ui-config.json",
        "Authorization: Bearer wrong\r\n",
    );
    assert_eq!(code, 401);
    let (code, body) = raw_get(
        port,
        "/claw/control-ui-config.json",
        &format!("Authorization: Bearer {TOKEN}\r\n"),
    );
    assert_eq!(code, 200);
    let cfg: serde_json::Value =
        serde_json::from_str(&body[body.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(cfg["serverVersion"], clawdbot::VERSION);
    assert_eq!(cfg["terminalEnabled"], false);
    assert_eq!(cfg["assistantName"], "Assistant");
    gw.shutdown().await;

    // A root that is not a UI build says which key to fix.
    let empty = tempfile::tempdir().unwrap();
    let config = json!({"gateway": {"controlUi": {"root": empty.path()}}});
    let mut gw = TestGateway::with(Setup {
        config: Some(config.to_string()),
        ..Setup::default()
    })
    .await;
    let (code, body) = raw_get(gw.port, "/", "");
    assert_eq!(code, 404);
    assert!(body.contains("gateway.controlUi.root"), "{body}");
    gw.shutdown().await;
}

/// The chat composer, enabled (the UI disables it while not connected).
const COMPOSER: &str = ".agent-chat__composer-combobox textarea";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_2026_9_control_ui_connects_shows_the_overview_and_chats() {
    let Some(bundle) = bundle_or_skip() else {
        return;
    };
    let Some(b) = Browser::start().await else {
        return;
    };
    let w = World::new().await;
    w.anthropic.script([Reply::Text(
        "PONG from the fake model, via openclaw's UI.".into(),
    )]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"gateway": {"controlUi": {"root": bundle}}}),
        )
        .await;
    // Same origin as the gateway, token in the fragment: no "Switch to …" dialog.
    let base = format!("http://127.0.0.1:{}", gw.port);
    b.goto(&format!("{base}/chat#token={TOKEN}")).await;
    b.wait(&format!(
        "document.querySelector('{COMPOSER}') && !document.querySelector('{COMPOSER}').disabled"
    ))
    .await;
    b.screenshot("openclaw-chat-connected").await;
    let text = b.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for bad in [
        "Gateway unreachable",
        "event gap detected",
        "model setup required",
    ] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }

    b.type_into(COMPOSER, "Say PONG").await;
    b.click("button.chat-send-btn--send").await;
    let reply = b
        .wait("[...document.querySelectorAll('.chat-group.assistant .chat-text')].map(n => n.innerText).find(t => t.includes('PONG from the fake model'))")
        .await;
    assert!(
        reply.as_str().unwrap().contains("via openclaw's UI."),
        "{reply}"
    );
    assert!(
        common::world::last_user_text(&w.anthropic.requests()[0]).contains("Say PONG"),
        "the model got the browser's message"
    );
    b.screenshot("openclaw-chat-reply").await;

    // The message was confirmed at once (chat.send answered its messageSeq).
    b.wait("!document.body.innerText.includes('Delivery unconfirmed')")
        .await;

    // A reload reads the turn back (chat.startup with the UI's paging params).
    b.goto(&format!("{base}/chat")).await;
    b.wait("[...document.querySelectorAll('.chat-group.assistant .chat-text')].some(n => n.innerText.includes('via openclaw'))")
        .await;
    b.wait("[...document.querySelectorAll('.chat-group.user .chat-text')].some(n => n.innerText.includes('Say PONG'))")
        .await;
    let text = b.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for bad in [
        "invalid ",
        "unknown method",
        "Delivery unconfirmed",
        "Gateway unreachable",
        "event gap",
    ] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }

    // The systems overview: connected, no error for the machine list (we have no
    // remote machines: environments.list is empty; node.list and system.info answer, so
    // nothing "could not be refreshed").
    b.goto(&format!("{base}/systems")).await;
    b.wait("document.body.innerText.includes('Connected')")
        .await;
    b.screenshot("openclaw-systems").await;
    let text = b.eval("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for bad in [
        "Gateway unreachable",
        "environments.list",
        "Reconnecting",
        "could not be refreshed",
    ] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }
    b.close().await;
    gw.shutdown().await;
}
