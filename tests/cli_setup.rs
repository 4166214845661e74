//! Local install and service management with the real binary in a temp HOME:
//! `onboard --non-interactive`, `gateway install|status|uninstall` (unit checked by
//! systemd-analyze, plist by plistlib), `doctor` on seeded broken states, `channels`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::proc::{command, run, state};
use serde_json::{Value, json};

fn cli(root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = command(root);
    c.args(args);
    run(c)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn onboard_non_interactive_writes_a_valid_config_and_private_secrets() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("home")).unwrap();
    std::fs::write(r.join("key"), "sk-ant-test-key\n").unwrap();
    std::fs::write(r.join("tg"), "123456:ABCdef\n").unwrap();
    std::fs::write(r.join("dc"), "MTEwMDAw.dc.SECRETdc\n").unwrap();
    for f in ["key", "tg", "dc"] {
        std::fs::set_permissions(r.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (key, tg, dc) = (r.join("key"), r.join("tg"), r.join("dc"));
    let args = [
        "onboard",
        "--non-interactive",
        "--api-key-file",
        key.to_str().unwrap(),
        "--telegram-token-file",
        tg.to_str().unwrap(),
        "--telegram-allow-from",
        "4242",
        "--discord-token-file",
        dc.to_str().unwrap(),
        "--discord-allow-from",
        "410000000000000001",
        "--gateway-bind",
        "lan",
        "--gateway-port",
        "19999",
    ];
    let (code, out, err) = cli(r, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        !out.contains("sk-ant-test-key") && !out.contains("ABCdef") && !out.contains("SECRETdc"),
        "secrets are never echoed: {out}"
    );
    let creds = state(r).join("credentials");
    assert_eq!(
        std::fs::read_to_string(creds.join("anthropic-api-key")).unwrap(),
        "sk-ant-test-key\n"
    );
    for f in [
        "anthropic-api-key",
        "telegram-bot-token",
        "discord-bot-token",
        "gateway-token",
    ] {
        assert_eq!(mode(&creds.join(f)), 0o600, "{f}");
    }
    let token = std::fs::read_to_string(creds.join("gateway-token")).unwrap();
    assert_eq!(token.trim().len(), 64);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(state(r).join("clawdbot.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["gateway"]["bind"], "lan");
    assert_eq!(cfg["gateway"]["port"], 19999);
    assert_eq!(cfg["channels"]["telegram"]["dmPolicy"], "allowlist");
    assert_eq!(cfg["channels"]["telegram"]["allowFrom"][0], 4242);
    // A snowflake is past 2^53: kept a string, exact.
    assert_eq!(cfg["channels"]["discord"]["dm"]["policy"], "allowlist");
    assert_eq!(
        cfg["channels"]["discord"]["dm"]["allowFrom"][0],
        "410000000000000001"
    );
    assert!(
        cfg.to_string().find("sk-ant").is_none(),
        "no secret in the config"
    );
    assert!(r.join("home/clawd/AGENTS.md").exists() && r.join("home/clawd/SOUL.md").exists());
    let (code, out, err) = cli(r, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    // A second run keeps the gateway token and the edited workspace files.
    std::fs::write(r.join("home/clawd/SOUL.md"), "mine").unwrap();
    let (code, _, err) = cli(r, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(creds.join("gateway-token")).unwrap(),
        token
    );
    assert_eq!(
        std::fs::read_to_string(r.join("home/clawd/SOUL.md")).unwrap(),
        "mine"
    );
    // Nix mode refuses, naming the way to change things.
    let mut c = command(r);
    c.env("CLAWDBOT_NIX_MODE", "1")
        .args(["onboard", "--non-interactive"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(
        err.contains("Nix mode") && err.contains("services.clawdbot"),
        "{err}"
    );
}

#[test]
fn the_user_unit_verifies_and_status_and_uninstall_follow_it() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (code, out, err) = cli(
        r,
        &[
            "gateway",
            "install",
            "--no-start",
            "--manager",
            "systemd",
            "--port",
            "19001",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let unit = r.join("home/.config/systemd/user/clawdbot-gateway.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart={} gateway --port 19001",
            common::proc::bin()
        )),
        "{text}"
    );
    assert!(text.contains("Type=notify") && text.contains("WantedBy=default.target"));
    assert!(
        text.contains("\nLimitNOFILE=65536\n"),
        "unit raises the open-file limit: {text}"
    );
    assert!(
        !text.to_lowercase().contains("token"),
        "no token in the unit"
    );
    // systemd-analyze prints nothing for a clean unit (its exit code is 0 either way).
    let rt = tempfile::tempdir().unwrap();
    std::fs::set_permissions(rt.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(&unit)
        .env("XDG_RUNTIME_DIR", rt.path())
        .output();
    if let Ok(out) = out {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.trim().is_empty(), "systemd-analyze verify: {all}");
        let sec = std::process::Command::new("systemd-analyze")
            .args(["security", "--offline=true"])
            .arg(&unit)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&sec.stdout).contains("Overall exposure level"));
    }
    let (code, out, _) = cli(r, &["gateway", "status", "--manager", "systemd"]);
    assert!(
        out.contains("installed    yes") && out.contains("(this binary)"),
        "{out}"
    );
    let _ = code; // no user systemd here: active is unknown
    let (code, out, err) = cli(
        r,
        &["gateway", "uninstall", "--manager", "systemd", "--dry-run"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would run: systemctl --user disable --now clawdbot-gateway.service"),
        "{out}"
    );
    assert!(unit.exists());
    // In Nix mode the module owns the service.
    let mut c = command(r);
    c.env("CLAWDBOT_NIX_MODE", "1")
        .args(["gateway", "install", "--no-start"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("services.clawdbot"), "{err}");
}

#[test]
fn the_launchd_plist_is_a_strict_plist() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (code, _, err) = cli(
        r,
        &[
            "--profile",
            "work",
            "gateway",
            "install",
            "--no-start",
            "--manager",
            "launchd",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let plist = r.join("home/Library/LaunchAgents/com.clawdbot.gateway.work.plist");
    let check = r#"
import plistlib, sys
p = plistlib.load(open(sys.argv[1], 'rb'), fmt=plistlib.FMT_XML)
assert p['Label'] == 'com.clawdbot.gateway.work', p
assert p['RunAtLoad'] is True and p['KeepAlive'] is True
args = p['ProgramArguments']
assert all(isinstance(a, str) for a in args) and args[1:] == ['--profile', 'work', 'gateway'], args
env = p['EnvironmentVariables']
assert env['CLAWDBOT_STATE_DIR'].endswith('state'), env
assert p['StandardOutPath'].endswith('/logs/gateway.log')
print('ok')
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", check])
        .arg(&plist)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_finds_and_fixes_what_is_safe_and_reports_errors() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let creds = state(r).join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::set_permissions(state(r), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
    let tok = creds.join("gateway-token");
    std::fs::write(&tok, "a".repeat(64)).unwrap();
    std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A world-readable secret is a warning (exit 0); --fix makes it 0600.
    let (code, out, _) = cli(r, &["doctor"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("WARN") && out.contains(&format!("chmod 600 {}", tok.display())),
        "{out}"
    );
    let (code, out, _) = cli(r, &["doctor", "--fix", "--json"]);
    assert_eq!(code, 0, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "secrets" && f["fixed"] == true),
        "{v}"
    );
    assert_eq!(mode(&tok), 0o600);
    // A service pointing at another binary is an error.
    let unit_dir = r.join("home/.config/systemd/user");
    std::fs::create_dir_all(&unit_dir).unwrap();
    std::fs::write(
        unit_dir.join("clawdbot-gateway.service"),
        "[Service]\nExecStart=/old/place/clawdbot gateway\n",
    )
    .unwrap();
    let (code, out, _) = cli(r, &["doctor", "--json"]);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "service")
        .unwrap()
        .clone();
    assert_eq!(f["severity"], "error");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("/old/place/clawdbot"),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("clawdbot gateway install")
    );
    std::fs::remove_file(unit_dir.join("clawdbot-gateway.service")).unwrap();
    // A bad config is an error that names the key.
    std::fs::write(
        state(r).join("clawdbot.json"),
        r#"{"gateway": {"prot": 1}}"#,
    )
    .unwrap();
    let (code, out, _) = cli(r, &["doctor"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("ERROR") && out.contains("gateway.prot"),
        "{out}"
    );
    // A Control UI root without a UI build is an error naming the key; with one, ok.
    let ui = r.join("ui");
    std::fs::create_dir_all(&ui).unwrap();
    std::fs::write(
        state(r).join("clawdbot.json"),
        json!({"gateway": {"controlUi": {"root": ui}}}).to_string(),
    )
    .unwrap();
    let (code, out, _) = cli(r, &["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("gateway.controlUi.root") && out.contains("no index.html"),
        "{out}"
    );
    std::fs::write(ui.join("index.html"), "<html></html>").unwrap();
    let (_, out, _) = cli(r, &["doctor"]);
    assert!(out.contains("Control UI served from"), "{out}");
    assert!(!out.contains("no index.html"), "{out}");
}

#[test]
fn channels_add_list_remove_keep_the_token_in_a_private_file() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let (code, out, err) = cli(
        r,
        &[
            "channels",
            "add",
            "--channel",
            "telegram",
            "--token",
            "777:SECRETtoken",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let file = state(r).join("credentials/telegram-bot-token");
    assert_eq!(mode(&file), 0o600);
    let cfg = std::fs::read_to_string(state(r).join("clawdbot.json")).unwrap();
    assert!(
        !cfg.contains("SECRETtoken") && cfg.contains("tokenFile"),
        "{cfg}"
    );
    let (_, out, _) = cli(r, &["channels", "list"]);
    assert!(
        out.contains("telegram: default account, tokenFile") && !out.contains("SECRET"),
        "{out}"
    );
    let (code, _, err) = cli(
        r,
        &[
            "channels",
            "add",
            "--channel",
            "telegram",
            "--token",
            "not-a-token",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("does not look like a Telegram bot token"),
        "{err}"
    );
    let (code, out, _) = cli(r, &["channels", "remove", "--channel", "telegram"]);
    assert_eq!(code, 0);
    assert!(out.contains("Removed channels.telegram"), "{out}");
    assert!(!file.exists());
    // WhatsApp links by QR (tests/whatsapp_login.rs); with no network it fails in one
    // line naming WhatsApp.
    let (code, _, err) = cli(r, &["channels", "login", "--channel", "whatsapp"]);
    assert_eq!(code, 1);
    assert!(err.contains("WhatsApp"), "{err}");

    // Discord, from a token file, as the Docker route adds it; a second bot by account.
    let tok = r.join("discord-token");
    std::fs::write(&tok, "MTEwMDAw.abc.SECRET_dc\n").unwrap();
    std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(0o600)).unwrap();
    let args = [
        "channels",
        "add",
        "--channel",
        "discord",
        "--token-file",
        tok.to_str().unwrap(),
    ];
    let (code, out, err) = cli(r, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("does not run Discord") && !out.contains("SECRET"),
        "{out}"
    );
    let file = state(r).join("credentials/discord-bot-token");
    assert_eq!(mode(&file), 0o600);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(state(r).join("clawdbot.json")).unwrap())
            .unwrap();
    assert_eq!(
        cfg["channels"]["discord"]["tokenFile"],
        file.display().to_string()
    );
    let (code, out, _) = cli(r, &["check-config"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = cli(
        r,
        &[
            "channels",
            "add",
            "--channel",
            "discord",
            "--token",
            "MTEw.a.b",
            "--account",
            "ops",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("shell history"), "{err}");
    assert!(state(r).join("credentials/discord-bot-token-ops").exists());
    for (bad, why) in [
        (
            ["--token", "123456:telegram-style"],
            "does not look like a Discord bot token",
        ),
        (["--account", "../x"], "invalid --account"),
    ] {
        let mut a = vec![
            "channels",
            "add",
            "--channel",
            "discord",
            "--token-file",
            tok.to_str().unwrap(),
        ];
        if bad[0] == "--token" {
            a.truncate(4);
        }
        a.extend(bad);
        let (code, _, err) = cli(r, &a);
        assert_eq!(code, 1, "{a:?}");
        assert!(err.contains(why), "{err}");
    }
    let (code, _, err) = cli(
        r,
        &["channels", "add", "--channel", "signal", "--token", "x"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("telegram") && err.contains("discord"), "{err}");
}

#[test]
fn a_nix_instance_is_named_in_the_remediation() {
    let root = tempfile::tempdir().unwrap();
    let refuse = |option: &str| {
        let mut c = command(root.path());
        c.env("CLAWDBOT_NIX_MODE", "1")
            .env("CLAWDBOT_NIX_OPTION", option)
            .args(["config", "set", "gateway.port", "1"]);
        let (code, _, err) = run(c);
        assert_eq!(code, 1);
        err
    };
    let err = refuse("services.clawdbot.instances.work");
    assert!(
        err.contains("set services.clawdbot.instances.work.settings.gateway.port"),
        "{err}"
    );
    // Anything that is not an option path of ours is ignored.
    let err = refuse("rm -rf /; services.clawdbot");
    assert!(
        err.contains("set services.clawdbot.settings.gateway.port"),
        "{err}"
    );
}
