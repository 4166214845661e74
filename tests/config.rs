//! Config loading through the real `check-config` command (the daemon's own loader) and
//! the config RPCs: exact messages, key paths with file:line, secrets, Nix mode.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::proc::*;
use common::*;
use serde_json::json;

fn check(root: &std::path::Path, file: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut c = command(root);
    c.arg("check-config").arg(file).args(extra);
    run(c)
}

#[test]
fn deployment_guide_example_loads_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("moltbot.json");
    write(
        &f,
        r#"{
  "agents": {
    "defaults": {
      "model": { "primary": "anthropic/claude-opus-4-5", "fallbacks": ["anthropic/claude-sonnet-4-5", "openai/gpt-4o"] },
      "maxConcurrent": 4
    },
    "list": [ { "id": "main", "default": true } ]
  },
  "auth": { "profiles": {
      "anthropic:default": { "mode": "token", "provider": "anthropic" },
      "openai:default": { "mode": "token", "provider": "openai" } } },
  "bindings": [ { "agentId": "main", "match": { "channel": "discord" } } ],
  "channels": { "discord": { "enabled": true, "groupPolicy": "allowlist",
      "guilds": { "YOUR_GUILD_ID": { "channels": { "general": { "allow": true } }, "requireMention": false } } } },
  "gateway": { "mode": "local", "bind": "auto" },
  "meta": { "lastTouchedVersion": "2026.1.27-beta.1" }
}"#,
    );
    let (code, out, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("config OK: {}", f.display()));
    // Discord runs here: its section is no "not implemented" warning any more.
    assert_eq!(err.trim(), "", "{err}");
}

#[test]
fn unknown_key_error_names_path_file_line_and_suggestion() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("c.json5");
    write(
        &f,
        "// JSON5 with comments\n{\n  gateway: {\n    prot: 18789,\n    bind: 'everywhere',\n  },\n}\n",
    );
    let (code, out, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], format!("Invalid config at {}:", f.display()));
    assert!(
        lines.contains(
            &format!(
                "  - gateway.prot: unknown key \"prot\" (did you mean \"port\"?) ({}:4:5)",
                f.display()
            )
            .as_str()
        ),
        "{err}"
    );
    assert!(lines.contains(&format!("  - gateway.bind: invalid value \"everywhere\"; expected one of \"auto\", \"lan\", \"loopback\", \"custom\", \"tailnet\" ({}:5:5)", f.display()).as_str()), "{err}");
    // The JSON form carries the same messages.
    let (code, out, _) = check(root.path(), &f, &["--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
}

#[test]
fn syntax_errors_give_line_and_column() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("c.json");
    write(&f, "{\n  gateway: { port: 1 \n  agents: {}\n}\n");
    let (code, _, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("JSON5 parse error at line 3, column 3: expected ',' or '}', found 'a'"),
        "{err}"
    );
}

#[test]
fn includes_merge_and_cycles_are_reported() {
    let root = tempfile::tempdir().unwrap();
    let d = root.path();
    write(
        &d.join("base.json5"),
        "{ gateway: { port: 4000 }, agents: { list: [{ id: 'main' }] } }",
    );
    write(
        &d.join("extra.json5"),
        "{ agents: { list: [{ id: 'work' }] } }",
    );
    write(
        &d.join("main.json5"),
        "{ $include: ['./base.json5', './extra.json5'], gateway: { bind: 'loopback' } }",
    );
    let (code, _, err) = check(d, &d.join("main.json5"), &[]);
    assert_eq!(code, 0, "{err}");
    let loaded =
        clawdbot::config::load(&d.join("main.json5"), &clawdbot::paths::Env::default()).unwrap();
    assert_eq!(
        loaded.resolved["gateway"],
        json!({"port": 4000, "bind": "loopback"})
    );
    assert_eq!(loaded.config.agent_ids(), vec!["main", "work"]);

    write(&d.join("a.json5"), "{ $include: './b.json5' }");
    write(&d.join("b.json5"), "{ $include: './a.json5' }");
    let (code, _, err) = check(d, &d.join("a.json5"), &[]);
    assert_eq!(code, 1);
    let a = d.join("a.json5");
    let b = d.join("b.json5");
    assert!(
        err.contains(&format!(
            "Circular include detected: {} -> {} -> {}",
            a.display(),
            b.display(),
            a.display()
        )),
        "{err}"
    );

    write(&d.join("missing.json5"), "{ $include: './nope.json5' }");
    let (_, _, err) = check(d, &d.join("missing.json5"), &[]);
    assert!(
        err.contains("Failed to read include file: ./nope.json5 (resolved: "),
        "{err}"
    );

    // An error inside an included file points at that file.
    write(&d.join("bad.json5"), "{\n  gateway: {\n    prot: 1 } }");
    write(&d.join("uses-bad.json5"), "{ $include: './bad.json5' }");
    let (_, _, err) = check(d, &d.join("uses-bad.json5"), &[]);
    assert!(
        err.contains(&format!("({}:3:5)", d.join("bad.json5").display())),
        "{err}"
    );
}

#[test]
fn env_substitution_and_env_block() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("c.json");
    write(
        &f,
        r#"{ "gateway": { "auth": { "token": "${MY_TOKEN}" } } }"#,
    );
    let (code, _, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Missing env var \"MY_TOKEN\" referenced at config path: gateway.auth.token"),
        "{err}"
    );
    let mut c = command(root.path());
    c.env("MY_TOKEN", "x").arg("check-config").arg(&f);
    assert_eq!(run(c).0, 0);
    // The env block supplies variables that are not set already.
    write(
        &f,
        r#"{ "env": { "vars": { "MY_TOKEN": "from-block" } }, "gateway": { "auth": { "token": "${MY_TOKEN}" } } }"#,
    );
    assert_eq!(check(root.path(), &f, &[]).0, 0);
    let loaded = clawdbot::config::load(&f, &clawdbot::paths::Env::default()).unwrap();
    assert_eq!(
        loaded.config.gateway.auth.token.as_deref(),
        Some("from-block")
    );
}

#[test]
fn secret_files_checked_or_deferred() {
    let root = tempfile::tempdir().unwrap();
    let f = root.path().join("c.json");
    let secret = root.path().join("secrets/token");
    write(
        &f,
        &format!(
            r#"{{ "gateway": {{ "auth": {{ "tokenFile": "{}" }} }}, "models": {{ "providers": {{ "x": {{ "baseUrl": "http://127.0.0.1:1", "apiKeyFile": "{}", "models": [] }} }} }} }}"#,
            secret.display(),
            root.path().join("secrets/key").display()
        ),
    );
    let (code, _, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "gateway.auth.tokenFile: secret file {} does not exist",
            secret.display()
        )),
        "{err}"
    );
    // Build time (Nix): files absent, reported as read at start.
    let (code, out, err) = check(root.path(), &f, &["--no-secrets"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("config OK"));
    assert!(
        err.contains(&format!(
            "note: gateway.auth.tokenFile ({}) will be read at start",
            secret.display()
        )),
        "{err}"
    );
    assert!(err.contains("note: models.providers.x.apiKeyFile"), "{err}");
    // Present but world-readable: a warning that names the fix, never the value.
    write(&secret, "sup3r-secret\n");
    write(&root.path().join("secrets/key"), "k3y\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(
        root.path().join("secrets/key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let (code, out, err) = check(root.path(), &f, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("chmod 600 {}", secret.display())),
        "{err}"
    );
    assert!(!out.contains("sup3r") && !err.contains("sup3r"));
}

#[test]
fn cli_config_edits_validate_and_nix_mode_refuses() {
    let root = tempfile::tempdir().unwrap();
    let cfg = state(root.path()).join("clawdbot.json");
    write(&cfg, "// mine\n{ gateway: { port: 4000 } }\n");
    let mut c = command(root.path());
    c.args(["config", "set", "gateway.port", "5000"]);
    let (code, out, err) = run(c);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Updated gateway.port"));
    let mut c = command(root.path());
    c.args(["config", "get", "gateway.port"]);
    assert_eq!(run(c).1.trim(), "5000");
    assert!(
        state(root.path()).join("clawdbot.json.bak").exists(),
        "backup kept"
    );
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // An edit that would make the config invalid is not written.
    let before = std::fs::read_to_string(&cfg).unwrap();
    let mut c = command(root.path());
    c.args(["config", "set", "gateway.bind", "everywhere"]);
    let (code, _, err) = run(c);
    assert_eq!(code, 1);
    assert!(err.contains("gateway.bind: invalid value"), "{err}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
    let mut c = command(root.path());
    c.args(["config", "get", "gateway.nope"]);
    let (code, _, err) = run(c);
    assert_eq!(
        (code, err.trim()),
        (1, "Config path not found: gateway.nope")
    );

    // Nix mode: refused with the option to set, file untouched.
    for args in [
        vec!["config", "set", "gateway.port", "6000"],
        vec!["config", "unset", "gateway.port"],
    ] {
        let mut c = command(root.path());
        c.env("CLAWDBOT_NIX_MODE", "1").args(&args);
        let (code, _, err) = run(c);
        assert_eq!(code, 1);
        assert_eq!(
            err.trim(),
            "gateway.port is managed by Nix: set services.clawdbot.settings.gateway.port and run `home-manager switch` (or `nixos-rebuild switch`)"
        );
    }
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), before);
}

#[tokio::test]
async fn config_rpc_redacts_and_checks_the_base_hash() {
    let gw = TestGateway::with(Setup {
        config: Some(r#"{ "gateway": { "auth": { "token": "inline-secret" } } }"#.into()),
        ..Setup::default()
    })
    .await;
    let mut ws = operator(&gw.url).await;
    let got = call(&mut ws, "g", "config.get", json!({})).await;
    let snap = &got["payload"];
    assert_eq!(snap["valid"], true);
    assert!(
        !got.to_string().contains("inline-secret"),
        "secret leaked: {got}"
    );
    assert_eq!(
        snap["config"]["gateway"]["auth"]["token"],
        "__CLAWDBOT_REDACTED__"
    );
    let hash = snap["hash"].as_str().unwrap().to_string();

    let r = call(&mut ws, "s0", "config.set", json!({"raw": "{}"})).await;
    assert_eq!(
        r["error"]["message"],
        "config base hash required; re-run config.get and retry"
    );
    let r = call(
        &mut ws,
        "s1",
        "config.set",
        json!({"raw": "{}", "baseHash": "0".repeat(64)}),
    )
    .await;
    assert_eq!(
        r["error"]["message"],
        "config changed since last load; re-run config.get and retry"
    );
    let r = call(
        &mut ws,
        "s2",
        "config.set",
        json!({"raw": "{ gateway: { prot: 1 } }", "baseHash": hash}),
    )
    .await;
    assert_eq!(r["error"]["message"], "invalid config");
    assert_eq!(r["error"]["details"]["issues"][0]["path"], "gateway.prot");

    // Sending the redacted snapshot back keeps the real secret.
    let raw = snap["raw"]
        .as_str()
        .unwrap()
        .replace("\"auth\"", "\"port\": 4321, \"auth\"");
    let r = call(
        &mut ws,
        "s3",
        "config.set",
        json!({"raw": raw, "baseHash": hash}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let on_disk = std::fs::read_to_string(&gw.gw.host.paths.config_path).unwrap();
    assert!(
        on_disk.contains("inline-secret") && on_disk.contains("4321"),
        "{on_disk}"
    );
    // Applied in place: the running config has the new value.
    assert_eq!(gw.gw.runtime().loaded.config.gateway.port, Some(4321));

    let got = call(&mut ws, "g2", "config.get", json!({})).await;
    let hash = got["payload"]["hash"].as_str().unwrap().to_string();
    let r = call(
        &mut ws,
        "p",
        "config.patch",
        json!({"raw": "{ agents: { list: [{ id: 'work' }] } }", "baseHash": hash}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["payload"]["restart"]["mode"], "reload");
    assert_eq!(gw.gw.runtime().loaded.config.default_agent_id(), "work");
    let r = call(&mut ws, "p2", "config.patch", json!({"raw": "[1]"})).await;
    assert_eq!(r["error"]["message"], "config.patch raw must be an object");
}

#[tokio::test]
async fn config_rpc_in_nix_mode_names_the_option() {
    let gw = TestGateway::with(Setup {
        config: Some(r#"{ "gateway": { "port": 4000 } }"#.into()),
        nix: true,
        ..Setup::default()
    })
    .await;
    let before = std::fs::read_to_string(&gw.gw.host.paths.config_path).unwrap();
    let mut ws = operator(&gw.url).await;
    let hash = call(&mut ws, "g", "config.get", json!({})).await["payload"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    for (id, method, raw) in [
        ("1", "config.set", r#"{ "gateway": { "port": 5000 } }"#),
        ("2", "config.apply", r#"{ "gateway": { "port": 5000 } }"#),
        ("3", "config.patch", r#"{ "gateway": { "port": 5000 } }"#),
    ] {
        let r = call(&mut ws, id, method, json!({"raw": raw, "baseHash": hash})).await;
        assert_eq!(
            r["error"]["message"],
            "gateway.port is managed by Nix: set services.clawdbot.settings.gateway.port and run `home-manager switch` (or `nixos-rebuild switch`)",
            "{method}"
        );
        assert_eq!(r["error"]["details"]["nixMode"], true);
    }
    assert_eq!(
        std::fs::read_to_string(&gw.gw.host.paths.config_path).unwrap(),
        before
    );
}
