use serde_json::json;

use super::*;

fn errors(v: Value) -> Vec<(String, String)> {
    validate(&v)
        .errors
        .into_iter()
        .map(|i| (i.path, i.message))
        .collect()
}

/// The deployment guide's Fly.io step 5 config loads unchanged.
#[test]
fn deployment_guide_example_is_valid() {
    let v = json!({"agents":{"defaults":{"model":{"primary":"anthropic/claude-opus-4-5","fallbacks":["anthropic/claude-sonnet-4-5","openai/gpt-4o"]},"maxConcurrent":4},"list":[{"id":"main","default":true}]},
        "auth":{"profiles":{"anthropic:default":{"mode":"token","provider":"anthropic"},"openai:default":{"mode":"token","provider":"openai"}}},
        "bindings":[{"agentId":"main","match":{"channel":"discord"}}],
        "channels":{"discord":{"enabled":true,"groupPolicy":"allowlist","guilds":{"YOUR_GUILD_ID":{"channels":{"general":{"allow":true}},"requireMention":false}}}},
        "gateway":{"mode":"local","bind":"auto"},"meta":{"lastTouchedVersion":"2026.1.27-beta.1"}});
    let r = validate(&v);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Discord runs in this build: no "not implemented" warning for its section.
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let w = validate(&json!({"channels": {"signal": {"enabled": true}}})).warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, "channels.signal");
    assert!(validate(&json!({})).errors.is_empty() && validate(&json!({})).warnings.is_empty());
}

#[test]
fn unknown_keys_name_the_path_and_suggest() {
    assert_eq!(
        errors(json!({"gateway": {"prot": 1}})),
        vec![(
            "gateway.prot".into(),
            "unknown key \"prot\" (did you mean \"port\"?)".into()
        )]
    );
    assert_eq!(
        errors(json!({"gatway": {}})),
        vec![(
            "gatway".into(),
            "unknown key \"gatway\" (did you mean \"gateway\"?)".into()
        )]
    );
    assert_eq!(
        errors(json!({"gateway": {"Port": 1}}))[0].1,
        "unknown key \"Port\" (did you mean \"port\"?)"
    );
    let e = errors(json!({"gateway": {"auth": {"zzzzzz": 1}}}));
    assert_eq!(e[0].0, "gateway.auth.zzzzzz");
    assert!(e[0].1.starts_with("unknown key \"zzzzzz\"; allowed keys: allowTailscale, mode, password, passwordFile, token, tokenFile"), "{}", e[0].1);
    let e = errors(json!({"agents": {"list": [{"id": "a"}, {"idd": "b"}]}}));
    assert_eq!(
        e[0],
        (
            "agents.list.1.idd".into(),
            "unknown key \"idd\" (did you mean \"id\"?)".into()
        )
    );
}

#[test]
fn types_enums_and_ranges() {
    assert_eq!(
        errors(json!({"gateway": {"port": "80"}})),
        vec![("gateway.port".into(), "expected integer, got string".into())]
    );
    assert_eq!(
        errors(json!({"gateway": {"port": 0}})),
        vec![("gateway.port".into(), "must be greater than 0".into())]
    );
    assert_eq!(
        errors(json!({"gateway": {"bind": "everywhere"}})),
        vec![("gateway.bind".into(), "invalid value \"everywhere\"; expected one of \"auto\", \"lan\", \"loopback\", \"custom\", \"tailnet\"".into())]
    );
    assert_eq!(
        errors(json!({"agents": {"defaults": {"model": "sonnet"}}})),
        vec![(
            "agents.defaults.model".into(),
            "expected object, got string".into()
        )]
    );
    // Per agent, a model is a string or {primary, fallbacks}.
    assert!(errors(json!({"agents": {"list": [{"id": "a", "model": "sonnet"}, {"id": "b", "model": {"primary": "opus"}}]}})).is_empty());
    assert_eq!(
        errors(json!({"agents": {"list": [{"id": "a", "model": 5}]}})),
        vec![(
            "agents.list.0.model".into(),
            "expected string or object, got integer".into()
        )]
    );
    assert!(errors(json!({"gateway": {"bind": "lan", "port": 3000, "auth": {"tokenFile": "/run/agenix/t"}, "customBindHost": "10.0.0.2"}})).is_empty());
}

#[test]
fn cross_field_rules() {
    assert_eq!(
        errors(json!({"channels": {"telegram": {"dmPolicy": "open"}}})),
        vec![("channels.telegram.dmPolicy".into(), "channels.telegram.dmPolicy=\"open\" requires channels.telegram.allowFrom to include \"*\"".into())]
    );
    assert!(
        errors(json!({"channels": {"telegram": {"dmPolicy": "open", "allowFrom": ["*"]}}}))
            .is_empty()
    );
    assert_eq!(
        errors(json!({"agents": {"list": [{"id": "main"}, {"id": "Main"}]}}))[0].1,
        "duplicate agent id \"Main\" (also at agents.list.0)"
    );
    assert_eq!(
        errors(
            json!({"agents": {"list": [{"id": "main"}]}, "bindings": [{"agentId": "work", "match": {"channel": "telegram"}}]})
        ),
        vec![(
            "bindings.0.agentId".into(),
            "Unknown agent id \"work\" (not in agents.list).".into()
        )]
    );
    assert_eq!(
        errors(json!({"gateway": {"token": "x"}}))[0].1,
        "unknown key \"token\" (this key is ignored by Clawdbot; use \"gateway.auth.token\")"
    );
}

#[test]
fn unimplemented_sections_warn_once_each() {
    let r = validate(
        &json!({"hooks": {"enabled": true, "token": "x"}, "cron": {"enabled": false}, "gateway": {"tailscale": {"mode": "off"}}, "channels": {"signal": {}}}),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let paths: Vec<&str> = r.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(paths, ["hooks", "gateway.tailscale", "channels.signal"]);
    assert!(
        r.warnings[0]
            .message
            .contains("not implemented by this gateway yet")
    );
    // Typos inside them are still caught.
    assert_eq!(
        errors(json!({"hooks": {"enabeld": true}}))[0].0,
        "hooks.enabeld"
    );
}

#[test]
fn secrets_are_found_and_redacted() {
    let v = json!({"gateway": {"port": 1, "auth": {"token": "t0k", "tokenFile": "/run/t"}}, "env": {"vars": {"A": "1"}, "B": "2", "shellEnv": {"enabled": true}},
                   "models": {"providers": {"openrouter": {"apiKey": "k", "apiKeyFile": "/run/k"}}}, "channels": {"telegram": {"accounts": {"work": {"botToken": "b"}}}}});
    let r = redact(&v);
    for p in [
        "/gateway/auth/token",
        "/env/vars/A",
        "/env/B",
        "/models/providers/openrouter/apiKey",
        "/channels/telegram/accounts/work/botToken",
    ] {
        assert_eq!(r.pointer(p).unwrap(), REDACTED_MARK, "{p}");
    }
    assert_eq!(r["gateway"]["port"], 1);
    assert_eq!(r["gateway"]["auth"]["tokenFile"], "/run/t");
    assert_eq!(r["env"]["shellEnv"]["enabled"], true);
    assert!(is_secret_path(&["models", "providers", "x", "apiKey"]));
    assert!(!is_secret_path(&["gateway", "port"]));
    let refs = secret_file_refs(&v);
    assert_eq!(
        refs,
        vec![
            ("gateway.auth.tokenFile".to_string(), "/run/t".to_string()),
            (
                "models.providers.openrouter.apiKeyFile".to_string(),
                "/run/k".to_string()
            )
        ]
    );
}

const REDACTED_MARK: &str = "__CLAWDBOT_REDACTED__";

#[test]
fn json_schema_and_hints() {
    let s = json_schema();
    assert_eq!(s["properties"].as_object().unwrap().len(), 31);
    assert_eq!(
        s["properties"]["gateway"]["properties"]["port"]["type"],
        "integer"
    );
    assert_eq!(
        s["properties"]["gateway"]["properties"]["auth"]["properties"]["tokenFile"]["type"],
        "string"
    );
    assert_eq!(ui_hints()["gateway.auth.token"]["sensitive"], true);
}

#[test]
fn web_fetch_allow_private_hosts_is_an_admitted_extension() {
    let ok = json!({"tools": {"web": {"fetch": {"maxRedirects": 2, "allowPrivateHosts": ["nas.lan", "127.0.0.1:8080"]}}}});
    assert!(errors(ok.clone()).is_empty(), "{:?}", errors(ok));
    let bad = errors(json!({"tools": {"web": {"fetch": {"allowPrivateHosts": "nas.lan"}}}}));
    assert!(
        bad.iter().any(|(p, _)| p.contains("allowPrivateHosts")),
        "{bad:?}"
    );
    let c: crate::config::Config =
        serde_json::from_value(json!({"tools": {"web": {"fetch": {"allowPrivateHosts": ["a"]}}}}))
            .unwrap();
    assert_eq!(c.tools.web.fetch.allow_private_hosts, ["a"]);
    assert_eq!(c.tools.web.fetch.max_redirects(), 3);
}
