//! What this gateway adds to the original's schema, which sections it does not run yet,
//! the cross-field rules Zod expressed in code, and which keys hold secrets.

use serde_json::{Map, Value, json};

use super::Issue;

/// Keys the original marks sensitive (its uiHints), plus the ones this gateway adds.
pub const SENSITIVE: &[&str] = &[
    "gateway.auth.token",
    "gateway.auth.password",
    "gateway.remote.token",
    "gateway.remote.password",
    "channels.telegram.botToken",
    "channels.telegram.webhookSecret",
    "channels.discord.token",
    "channels.slack.botToken",
    "channels.slack.appToken",
    "channels.slack.userToken",
    "channels.mattermost.botToken",
    "models.providers.*.apiKey",
    "talk.apiKey",
    "tools.web.search.apiKey",
    "hooks.token",
];

/// Our file forms of secrets: (path, label).
pub const FILE_KEYS: &[(&str, &str)] = &[
    ("gateway.auth.tokenFile", "Gateway token file"),
    ("gateway.auth.passwordFile", "Gateway password file"),
    ("gateway.remote.tokenFile", "Remote gateway token file"),
    (
        "gateway.remote.passwordFile",
        "Remote gateway password file",
    ),
    ("channels.telegram.tokenFile", "Telegram bot token file"),
    ("channels.discord.tokenFile", "Discord bot token file"),
    ("models.providers.*.apiKeyFile", "Provider API key file"),
];

/// Secret keys that have a `<name>File` form (this gateway reads those files).
pub(super) const SECRET_NAMES: &[&str] = &[
    "token",
    "password",
    "botToken",
    "appToken",
    "userToken",
    "userTokenReadOnly",
    "apiKey",
    "webhookSecret",
    "secret",
    "accessToken",
    "refreshToken",
    "signingSecret",
];

/// Sections of the original this gateway accepts but does not act on yet.
const UNIMPLEMENTED: &[&str] = &[
    "diagnostics",
    "update",
    "browser",
    "ui",
    "nodeHost",
    "tools.profile",
    "tools.byProvider",
    "tools.web.search",
    "tools.media",
    "tools.links",
    "tools.message",
    "tools.agentToAgent",
    "tools.elevated",
    "tools.subagents",
    "tools.sandbox",
    "tools.exec.host",
    "tools.exec.node",
    "tools.exec.backgroundMs",
    "tools.exec.applyPatch",
    "channels.telegram.webhookUrl",
    "channels.telegram.proxy",
    "channels.telegram.streamMode",
    "broadcast",
    "audio",
    "media",
    "messages",
    "commands",
    "approvals",
    "hooks",
    "web",
    "discovery",
    "canvasHost",
    "talk",
    "skills.install",
    "skills.allowBundled",
    "skills.load.watch",
    "skills.load.watchDebounceMs",
    "skills.entries.*.config",
    "plugins",
    "gateway.tailscale",
    "gateway.tls",
    "gateway.http",
    "gateway.nodes",
];

fn node_at<'a>(schema: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    let mut cur = schema;
    for seg in path {
        cur = if *seg == "*" {
            cur.get_mut("additionalProperties")?
        } else {
            cur.get_mut("properties")?.get_mut(*seg)?
        };
    }
    Some(cur)
}

fn add(schema: &mut Value, path: &[&str], name: &str, prop: Value) {
    if let Some(Value::Object(props)) = node_at(schema, path).and_then(|n| n.get_mut("properties"))
    {
        props.entry(name.to_string()).or_insert(prop);
    }
}

/// Secret files everywhere a secret is inline; `customBindHost` (in the original's type
/// but missing from its strict schema); the Control UI switch the original added later.
pub fn add_extensions(schema: &mut Value) {
    let s = json!({"type": "string", "minLength": 1});
    add(schema, &["gateway", "auth"], "tokenFile", s.clone());
    add(schema, &["gateway", "auth"], "passwordFile", s.clone());
    add(schema, &["gateway", "remote"], "tokenFile", s.clone());
    add(schema, &["gateway", "remote"], "passwordFile", s.clone());
    add(
        schema,
        &["gateway"],
        "customBindHost",
        json!({"type": "string"}),
    );
    add(
        schema,
        &["gateway", "controlUi"],
        "dangerouslyDisableDeviceAuth",
        json!({"type": "boolean"}),
    );
    // Browser origins allowed to open a WebSocket besides same-origin and loopback
    // (src/server/origin.rs).
    add(
        schema,
        &["gateway", "controlUi"],
        "allowedOrigins",
        json!({"type": "array", "items": {"type": "string", "minLength": 1}}),
    );
    // openclaw's "Optional filesystem root for Control UI assets" (src/server/ui_root.rs).
    add(schema, &["gateway", "controlUi"], "root", s.clone());
    // Connection limits (src/server/limits.rs holds the defaults).
    let n = json!({"type": "integer", "minimum": 1});
    add(
        schema,
        &["gateway"],
        "limits",
        json!({"type": "object", "additionalProperties": false, "properties": {
            "headerReadTimeoutMs": n.clone(),
            "maxPreAuthPerAddress": n.clone(),
            "maxInFlightPerConnection": n,
        }}),
    );
    add(schema, &["channels", "discord"], "tokenFile", s.clone());
    add(
        schema,
        &["channels", "discord", "accounts", "*"],
        "tokenFile",
        s.clone(),
    );
    add(
        schema,
        &["models", "providers", "*"],
        "apiKeyFile",
        s.clone(),
    );
    // Private hosts the operator wants web_fetch to reach (it refuses them otherwise).
    add(
        schema,
        &["tools", "web", "fetch"],
        "allowPrivateHosts",
        json!({"type": "array", "items": {"type": "string", "minLength": 1}}),
    );
    // Variables the operator gives every tool process (the rest of the gateway's
    // environment never reaches one).
    let env = json!({"type": "object", "additionalProperties": {"type": "string"}});
    add(schema, &["tools", "exec"], "env", env);
    // Declared cron jobs by key (src/cron/declared.rs checks each job's fields, as
    // `cron.add` does; the Nix modules' `cron.jobs` option writes this).
    add(
        schema,
        &["cron"],
        "jobs",
        json!({"type": "object", "additionalProperties": {"type": "object"}}),
    );
    // Where the platform's API lives (an extension key): a local telegram-bot-api
    // server, a Discord proxy, or a test double. Discord's Gateway URL is then taken
    // from `GET {apiRoot}/gateway/bot`, as Discord asks clients to do.
    // WhatsApp's is its WebSocket (`wss://web.whatsapp.com/ws/chat`).
    for ch in RUN_CHANNELS {
        let pattern = if *ch == "whatsapp" {
            "^wss?://"
        } else {
            "^https?://"
        };
        let root = json!({"type": "string", "pattern": pattern});
        add(schema, &["channels", ch], "apiRoot", root.clone());
        add(
            schema,
            &["channels", ch, "accounts", "*"],
            "apiRoot",
            root.clone(),
        );
    }
}

fn get<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, k| v.get(k))
}

/// The channels this build runs (`channels::kinds::KINDS`, which a test keeps equal):
/// the config layer cannot name the channels module, which sits above it.
pub const RUN_CHANNELS: &[&str] = &["telegram", "discord", "whatsapp"];

/// One warning per section that is present but not implemented (and per channel this
/// build does not run).
pub fn unimplemented(root: &Value, warnings: &mut Vec<Issue>) {
    let msg = |p: &str| Issue {
        path: p.into(),
        message: format!(
            "\"{p}\" is accepted but not implemented by this gateway yet; it has no effect"
        ),
    };
    for p in UNIMPLEMENTED {
        if get(root, p).is_some() {
            warnings.push(msg(p));
        }
    }
    if let Some(Value::Object(channels)) = root.get("channels") {
        for id in channels
            .keys()
            .filter(|k| k.as_str() != "defaults" && !RUN_CHANNELS.contains(&k.as_str()))
        {
            warnings.push(msg(&format!("channels.{id}")));
        }
    }
}

fn allows_everyone(list: Option<&Value>) -> bool {
    list.and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("*")))
}

/// Rules the original enforces in code rather than in the shape.
pub fn cross_field(root: &Value, errors: &mut Vec<Issue>) {
    let open_rule = |section: &Value,
                     base: &str,
                     policy_key: &str,
                     allow_key: &str,
                     errors: &mut Vec<Issue>| {
        if get(section, policy_key).and_then(Value::as_str) == Some("open")
            && !allows_everyone(get(section, allow_key))
        {
            errors.push(Issue {
                path: format!("{base}.{policy_key}"),
                message: format!(
                    "{base}.{policy_key}=\"open\" requires {base}.{allow_key} to include \"*\""
                ),
            });
        }
    };
    for (ch, policy, allow) in [
        ("telegram", "dmPolicy", "allowFrom"),
        ("whatsapp", "dmPolicy", "allowFrom"),
        ("discord", "dm.policy", "dm.allowFrom"),
        ("slack", "dm.policy", "dm.allowFrom"),
    ] {
        let Some(section) = root.get("channels").and_then(|c| c.get(ch)) else {
            continue;
        };
        let base = format!("channels.{ch}");
        open_rule(section, &base, policy, allow, errors);
        if let Some(Value::Object(accounts)) = section.get("accounts") {
            for (id, acc) in accounts {
                open_rule(acc, &format!("{base}.accounts.{id}"), policy, allow, errors);
            }
        }
    }
    if let Some(Value::Array(list)) = get(root, "agents.list") {
        let mut seen: Map<String, Value> = Map::new();
        for (i, a) in list.iter().enumerate() {
            let Some(id) = a.get("id").and_then(Value::as_str) else {
                continue;
            };
            let norm = crate::config::model::normalize_agent_id(id);
            if let Some(first) = seen.get(&norm) {
                errors.push(Issue {
                    path: format!("agents.list.{i}.id"),
                    message: format!("duplicate agent id {id:?} (also at agents.list.{first})"),
                });
            } else {
                seen.insert(norm, json!(i));
            }
        }
        let ids: Vec<String> = seen.keys().cloned().collect();
        if let Some(Value::Array(bindings)) = root.get("bindings") {
            for (i, b) in bindings.iter().enumerate() {
                if let Some(agent) = b.get("agentId").and_then(Value::as_str)
                    && !ids.contains(&crate::config::model::normalize_agent_id(agent))
                {
                    errors.push(Issue {
                        path: format!("bindings.{i}.agentId"),
                        message: format!("Unknown agent id {agent:?} (not in agents.list)."),
                    });
                }
            }
        }
    }
}

/// Every `<secret>File` key in the config: (dot path, file path).
pub fn secret_file_refs(root: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    let is_file = k
                        .strip_suffix("File")
                        .is_some_and(|base| SECRET_NAMES.contains(&base));
                    match v {
                        Value::String(s) if is_file && !s.is_empty() => out.push((p, s.clone())),
                        _ => walk(v, &p, out),
                    }
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{path}.{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = vec![];
    walk(root, "", &mut out);
    out
}
