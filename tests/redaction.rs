//! Redaction by key shape: a distinct secret is planted at every secret-bearing key of the
//! schema (and behind `${VAR}` references, and in the gateway's own environment), then
//! every output a client or operator can see is searched for all of them: the gateway's
//! console and log file, `config.get`, `status`, `health`, `channels.status`, `logs.tail`
//! and the other read methods, `clawdbot config get`, `check-config --json` and `doctor`.

mod common;

use common::proc::{self, Proc};
use serde_json::{Value, json};

/// Sets `v` at a schema path (`*` → a map key, `[]` → the first array item).
fn set(root: &mut Value, path: &[&str], v: Value) {
    let (head, rest) = path.split_first().expect("non-empty path");
    if *head == "[]" {
        if !root.is_array() {
            *root = json!([{}]);
        }
        let first = &mut root.as_array_mut().unwrap()[0];
        if rest.is_empty() {
            *first = v;
        } else {
            set(first, rest, v);
        }
        return;
    }
    let key = if *head == "*" { "k1" } else { head };
    if !root.is_object() {
        *root = json!({});
    }
    let m = root.as_object_mut().unwrap();
    if rest.is_empty() {
        m.insert(key.into(), v);
    } else {
        set(m.entry(key).or_insert(json!({})), rest, v);
    }
}

fn planted() -> (Value, Vec<String>) {
    let paths =
        clawdbot::config::schema::secret_schema_paths(&clawdbot::config::schema::json_schema());
    // The keys the issue found leaking must be among them.
    for p in [
        "browser.controlToken",
        "channels.msteams.appPassword",
        "hooks.gmail.pushToken",
        "models.providers.*.headers.*",
        "skills.entries.*.env.*",
        "gateway.auth.token",
        "channels.telegram.botToken",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} is not judged a secret");
    }
    // Required neighbours, so the planted config is valid and really loads.
    let mut cfg = json!({
        "agents": {"defaults": {"cliBackends": {"k1": {"command": "true"}}}, "list": [{"id": "main"}]},
        "models": {"providers": {"k1": {"baseUrl": "http://127.0.0.1:1/v1", "models": [{"id": "m", "name": "m"}]}}},
        // Telegram fails fast against a closed loopback port; its errors must not carry the token.
        "channels": {"telegram": {"apiRoot": "http://127.0.0.1:1"}},
        "gateway": {"auth": {"mode": "token"}},
    });
    let mut secrets = vec![];
    for (i, p) in paths.iter().enumerate() {
        let secret = format!("PLANTED{i:03}q{}", uuid::Uuid::new_v4().simple());
        set(&mut cfg, &p.split('.').collect::<Vec<_>>(), json!(secret));
        secrets.push(secret);
    }
    (cfg, secrets)
}

#[test]
fn no_secret_reaches_any_output() {
    let root = tempfile::tempdir().unwrap();
    let state = proc::state(root.path());
    std::fs::create_dir_all(&state).unwrap();
    let (mut cfg, mut secrets) = planted();
    // References: a plain one at a normal key, a whole reference at a secret key (shown as
    // the reference), and a literal + reference at a secret key (fully redacted).
    let env_plain = format!("ENVPLAIN{}", uuid::Uuid::new_v4().simple());
    let env_secret = format!("ENVSECRET{}", uuid::Uuid::new_v4().simple());
    let env_mixed = format!("ENVMIXED{}", uuid::Uuid::new_v4().simple());
    let literal = format!("LITERAL{}", uuid::Uuid::new_v4().simple());
    cfg["wizard"] = json!({"lastRunCommand": "${WIZARD_CMD}"});
    cfg["channels"]["discord"]["token"] = json!("${DISCORD_REF}");
    cfg["hooks"]["token"] = json!(format!("{literal}${{HOOK_PART}}"));
    secrets.extend([
        env_plain.clone(),
        env_secret.clone(),
        env_mixed.clone(),
        literal.clone(),
    ]);
    // The gateway's own environment.
    let provider_key = format!("ENVKEY{}", uuid::Uuid::new_v4().simple());
    secrets.push(provider_key.clone());
    let config_path = state.join("clawdbot.json");
    std::fs::write(&config_path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();

    let with_env = |mut c: std::process::Command| {
        c.env("WIZARD_CMD", &env_plain)
            .env("DISCORD_REF", &env_secret)
            .env("HOOK_PART", &env_mixed)
            .env("ANTHROPIC_API_KEY", &provider_key)
            .env("CLAWDBOT_LOG", "debug");
        c
    };
    let port = proc::free_port();
    let token = "redaction-test-token-0123456789";
    let mut cmd = with_env(proc::command(root.path()));
    cmd.args(["gateway", "--port", &port.to_string(), "--token", token]);
    let mut gw = Proc::spawn(cmd);
    gw.wait_for("listening on");

    let mut seen = String::new();
    let call = |method: &str, params: &str| {
        let mut c = with_env(proc::command(root.path()));
        c.args(["gateway", "call", method, "--json", "--params", params])
            .args(["--url", &format!("ws://127.0.0.1:{port}"), "--token", token]);
        let (code, out, err) = proc::run(c);
        assert_eq!(code, 0, "{method}: {out}{err}");
        out + &err
    };
    let config_get = call("config.get", "{}");
    let got: Value = serde_json::from_str(config_get.trim()).unwrap();
    let got = got.get("payload").unwrap_or(&got).clone();
    assert_eq!(got["valid"], true, "{got}");
    // Positive checks: redacted where secret, the reference where one was written.
    assert_eq!(
        got["config"]["browser"]["controlToken"],
        "__CLAWDBOT_REDACTED__"
    );
    assert_eq!(
        got["config"]["skills"]["entries"]["k1"]["env"]["k1"],
        "__CLAWDBOT_REDACTED__"
    );
    assert_eq!(got["config"]["wizard"]["lastRunCommand"], "${WIZARD_CMD}");
    assert_eq!(
        got["config"]["channels"]["discord"]["token"],
        "${DISCORD_REF}"
    );
    assert_eq!(got["config"]["hooks"]["token"], "__CLAWDBOT_REDACTED__");
    seen += &config_get;
    for m in [
        "status",
        "health",
        "channels.status",
        "models.list",
        "agents.list",
        "sessions.list",
        "system-presence",
        "last-heartbeat",
    ] {
        seen += &call(m, "{}");
    }
    seen += &call("logs.tail", r#"{"limit": 1000}"#);
    // A config.set that fails validation must not quote a secret back either.
    let bad = json!({"raw": serde_json::to_string(&json!({"gateway": {"auth": {"token": {"nested": literal}}}})).unwrap(), "baseHash": got["hash"]});
    let mut c = with_env(proc::command(root.path()));
    c.args([
        "gateway",
        "call",
        "config.set",
        "--json",
        "--params",
        &bad.to_string(),
    ])
    .args(["--url", &format!("ws://127.0.0.1:{port}"), "--token", token]);
    let (_, out, err) = proc::run(c);
    seen += &out;
    seen += &err;

    for args in [
        vec!["config", "get", "browser.controlToken"],
        vec!["config", "get", "hooks"],
        vec!["config", "get", "wizard"],
        vec!["check-config", "--json"],
        vec!["doctor", "--json"],
    ] {
        let mut c = with_env(proc::command(root.path()));
        c.args(&args);
        let (_, out, err) = proc::run(c);
        seen += &out;
        seen += &err;
    }
    gw.signal("TERM");
    let (_, console) = gw.wait_exit();
    seen += &console;
    for e in std::fs::read_dir(state.join("logs")).unwrap() {
        seen += &std::fs::read_to_string(e.unwrap().path()).unwrap();
    }
    assert!(seen.contains("${WIZARD_CMD}"), "the outputs were collected");
    // The Telegram account really ran against its (closed) API root with the planted token.
    assert!(
        seen.contains("Telegram getMe: cannot connect"),
        "telegram was exercised"
    );
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| seen.contains(s.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} secrets leaked: {leaked:?}",
        leaked.len()
    );
}

#[test]
fn key_shape_rule() {
    use clawdbot::config::schema::is_secret_path;
    for p in [
        "browser.controlToken",
        "channels.msteams.appPassword",
        "hooks.gmail.pushToken",
        "models.providers.x.headers.Authorization",
        "skills.entries.x.env.GOG_KEY",
        "agents.defaults.sandbox.docker.env.X",
        "env.vars.A",
        "env.B",
        "some.future.client_secret",
        "x.private-key",
        "x.sessionCookie",
    ] {
        assert!(is_secret_path(&p.split('.').collect::<Vec<_>>()), "{p}");
    }
    for p in [
        "gateway.auth.tokenFile",
        "agents.defaults.contextTokens",
        "hooks.mappings.sessionKey",
        "gateway.port",
        "env.shellEnv.enabled",
        "channels.telegram.webhookPath",
    ] {
        assert!(!is_secret_path(&p.split('.').collect::<Vec<_>>()), "{p}");
    }
}

/// The Nix modules refuse inline secrets in `settings` by the same name rule; their copy
/// of the endings (nix/lib.nix `secretEndings`) must be the gateway's list.
#[test]
fn nix_lib_uses_the_same_endings() {
    let lib = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nix/lib.nix"),
    )
    .unwrap();
    let start = lib
        .find("secretEndings = [")
        .expect("nix/lib.nix has secretEndings");
    let block = &lib[start..start + lib[start..].find("];").unwrap()];
    let nix: Vec<&str> = block.split('"').skip(1).step_by(2).collect();
    assert_eq!(nix, clawdbot::config::schema::SECRET_ENDINGS);
}
