//! The config `env` block and `${VAR}` substitution (spec §6.2 steps 2 and 3).

use serde_json::Value;

use crate::paths::Env;

/// Applies `env.vars` and the string keys directly under `env` (except `shellEnv`) to
/// `env`, never overriding a variable that is already set.
pub fn apply_env_block(root: &Value, env: &mut Env) {
    let Some(block) = root.get("env").and_then(Value::as_object) else {
        return;
    };
    if let Some(vars) = block.get("vars").and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(s) = v.as_str() {
                env.set_default(k, s);
            }
        }
    }
    for (k, v) in block {
        if k == "vars" || k == "shellEnv" {
            continue;
        }
        if let Some(s) = v.as_str() {
            env.set_default(k, s);
        }
    }
}

/// Replaces `${NAME}` in every string (NAME = `[A-Z_][A-Z0-9_]*`); `$${NAME}` is a literal
/// `${NAME}`. A missing or empty variable is an error naming the config path.
pub fn substitute(value: &mut Value, env: &Env, path: &str, errors: &mut Vec<String>) {
    match value {
        Value::String(s) if s.contains("${") => match substitute_str(s, env) {
            Ok(out) => *s = out,
            Err(var) => errors.push(format!(
                "Missing env var \"{var}\" referenced at config path: {path}"
            )),
        },
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute(v, env, &child(path, &i.to_string()), errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                substitute(v, env, &child(path, k), errors);
            }
        }
        _ => {}
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Returns the substituted string, or the name of the first missing variable.
pub fn substitute_str(s: &str, env: &Env) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(idx) = rest.find('$') {
        out.push_str(&rest[..idx]);
        let tail = &rest[idx..];
        if let Some(after) = tail.strip_prefix("$${")
            && let Some(end) = after.find('}')
            && is_name(&after[..end])
        {
            out.push_str("${");
            out.push_str(&after[..end]);
            out.push('}');
            rest = &after[end + 1..];
            continue;
        }
        if let Some(after) = tail.strip_prefix("${")
            && let Some(end) = after.find('}')
        {
            let name = &after[..end];
            if is_name(name) {
                match env.get(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(name.to_string()),
                }
                rest = &after[end + 1..];
                continue;
            }
        }
        out.push('$');
        rest = &tail[1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_rules() {
        let env = Env::from_pairs([("A", "x"), ("EMPTY", "")]);
        assert_eq!(substitute_str("a${A}b", &env).unwrap(), "axb");
        assert_eq!(substitute_str("$${A}", &env).unwrap(), "${A}");
        assert_eq!(substitute_str("${lower}", &env).unwrap(), "${lower}");
        assert_eq!(substitute_str("cost $5", &env).unwrap(), "cost $5");
        assert_eq!(substitute_str("${EMPTY}", &env).unwrap_err(), "EMPTY");
        assert_eq!(substitute_str("${NOPE}", &env).unwrap_err(), "NOPE");
    }

    #[test]
    fn errors_name_the_path() {
        let mut v = serde_json::json!({"gateway": {"auth": {"token": "${TOK}"}}});
        let mut errors = vec![];
        substitute(&mut v, &Env::default(), "", &mut errors);
        assert_eq!(
            errors,
            vec!["Missing env var \"TOK\" referenced at config path: gateway.auth.token"]
        );
    }

    #[test]
    fn env_block_never_overrides() {
        let mut env = Env::from_pairs([("A", "process")]);
        let root = serde_json::json!({"env": {"vars": {"A": "cfg", "B": "b"}, "C": "c", "shellEnv": {"enabled": true}}});
        apply_env_block(&root, &mut env);
        assert_eq!(env.get("A"), Some("process"));
        assert_eq!(env.get("B"), Some("b"));
        assert_eq!(env.get("C"), Some("c"));
    }
}
