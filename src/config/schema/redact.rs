//! Which config values are secrets, decided by the shape of the key rather than by a list
//! of names. The original's schema holds about eighty secret-bearing strings (tokens,
//! passwords, API keys, push tokens, app passwords, and every value of a `headers` or
//! `env` map) and gains more with each channel; an exact-name list missed
//! `browser.controlToken`, `channels.msteams.appPassword`, `hooks.gmail.pushToken`,
//! `models.providers.*.headers.*` and `skills.entries.*.env.*`. The rule below covers
//! every one of them, and a test walks the whole schema so a new key is judged too.
//!
//! [`display`] is what clients see of a loaded config: secrets replaced by [`REDACTED`],
//! and strings that came from `${VAR}` shown as the reference, never the value.

use serde_json::Value;

pub const REDACTED: &str = "__CLAWDBOT_REDACTED__";

/// Endings of key names that hold credentials (compared lowercased, `-`/`_` removed).
pub const SECRET_ENDINGS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
    "signingkey",
    "passphrase",
    "credential",
    "credentials",
    "cookie",
    "authorization",
];

/// Maps whose every string is a secret: HTTP headers (Authorization, X-Api-Key, …) and
/// environment blocks (they carry the keys of skills, CLI backends and sandboxes).
const SECRET_MAPS: &[&str] = &["headers", "env"];

/// True when a key with this name holds a credential (`pushToken`, `appPassword`,
/// `api_key`; not `tokenFile`, `maxTokens` or `sessionKey`).
pub fn is_secret_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_ENDINGS.iter().any(|e| n.ends_with(e))
}

/// True when the string at `path` (object keys only; array positions left out) is a
/// secret.
pub fn is_secret_path(path: &[&str]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    // The top-level `env` block: `env.vars.*` and `env.<NAME>`, but not `env.shellEnv`.
    if parents.first() == Some(&"env") && path.get(1) == Some(&"shellEnv") {
        return false;
    }
    is_secret_name(last) || parents.iter().any(|p| SECRET_MAPS.contains(p))
}

/// A copy with every non-empty secret string replaced by [`REDACTED`].
pub fn redact(value: &Value) -> Value {
    display(value, None)
}

/// What a client may see of `resolved`: secrets redacted, and every string whose text in
/// `templates` (the config before `${VAR}` substitution) holds a reference shown as that
/// reference. A secret is shown as its reference only when the whole value is exactly one
/// `${NAME}`, so a literal part (`"Bearer sk-…${X}"`) never leaks.
pub fn display(resolved: &Value, templates: Option<&Value>) -> Value {
    fn walk(v: &Value, t: Option<&Value>, path: &mut Vec<String>) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        path.push(k.clone());
                        let out = walk(v, t.and_then(|t| t.get(k)), path);
                        path.pop();
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| walk(v, t.and_then(|t| t.get(i)), path))
                    .collect(),
            ),
            Value::String(s) => {
                let template = t.and_then(Value::as_str).filter(|t| t.contains("${"));
                let secret = !s.is_empty()
                    && is_secret_path(&path.iter().map(String::as_str).collect::<Vec<_>>());
                match (secret, template) {
                    (true, Some(t)) if is_single_reference(t) => Value::String(t.into()),
                    (true, _) => Value::String(REDACTED.into()),
                    (false, Some(t)) => Value::String(t.into()),
                    (false, None) => v.clone(),
                }
            }
            other => other.clone(),
        }
    }
    walk(resolved, templates, &mut vec![])
}

fn is_single_reference(t: &str) -> bool {
    t.strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Every string leaf of `schema` that [`is_secret_path`] calls a secret, as dot paths with
/// `*` for map keys and `[]` for array items: what the tests plant secrets at.
pub fn secret_schema_paths(schema: &Value) -> Vec<String> {
    fn walk(s: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
        let Some(o) = s.as_object() else { return };
        for k in ["anyOf", "oneOf", "allOf"] {
            for b in o.get(k).and_then(Value::as_array).into_iter().flatten() {
                walk(b, path, out);
            }
        }
        for (k, v) in o
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            path.push(k.clone());
            walk(v, path, out);
            path.pop();
        }
        if let Some(ap) = o.get("additionalProperties").filter(|v| v.is_object()) {
            path.push("*".into());
            walk(ap, path, out);
            path.pop();
        }
        if let Some(items) = o.get("items") {
            path.push("[]".into());
            walk(items, path, out);
            path.pop();
        }
        let stringy = match o.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        let keys: Vec<&str> = path
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "[]")
            .collect();
        if stringy && is_secret_path(&keys) {
            out.push(path.join("."));
        }
    }
    let mut out = vec![];
    walk(schema, &mut vec![], &mut out);
    out.sort();
    out.dedup();
    out
}
