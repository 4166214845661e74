//! A validator for the JSON Schema subset the config schema uses (type, enum, anyOf,
//! properties, additionalProperties, required, items, numeric bounds, string lengths),
//! with messages written for people: the full key path, what was expected, and a
//! "did you mean" for a mistyped key.

use serde_json::{Map, Value};

use super::Issue;

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(expected: &str, v: &Value) -> bool {
    match expected {
        "integer" => match v {
            Value::Number(n) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        },
        "number" => v.is_number(),
        other => type_name(v) == other,
    }
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// True when `path` (a dot path) holds a secret, whose value an error must never quote.
fn secret_at(path: &str) -> bool {
    let keys: Vec<&str> = path
        .split('.')
        .filter(|k| k.parse::<usize>().is_err())
        .collect();
    super::is_secret_path(&keys)
}

/// `v` for an error message, or a placeholder when it sits at a secret path.
fn shown(path: &str, v: &Value) -> String {
    if secret_at(path) && v.is_string() {
        "(a secret value, not shown)".into()
    } else {
        show(v)
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The closest known key, if it is close enough to be a likely typo.
pub fn suggest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    known
        .filter_map(|k| {
            if k.eq_ignore_ascii_case(key) {
                return Some((k, 2.0));
            }
            let jw = strsim::jaro_winkler(&lower, &k.to_ascii_lowercase());
            let lev = strsim::levenshtein(&lower, &k.to_ascii_lowercase());
            let close = jw >= 0.85 || (lev <= 2 && k.len() > 3);
            close.then_some((k, jw))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}

fn unknown_key(path: &str, key: &str, props: &Map<String, Value>) -> Issue {
    let message = match suggest(key, props.keys().map(String::as_str)) {
        Some(s) => format!("unknown key {key:?} (did you mean {s:?}?)"),
        None => {
            let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
            names.sort_unstable();
            let more = if names.len() > 12 { ", …" } else { "" };
            names.truncate(12);
            format!(
                "unknown key {key:?}; allowed keys: {}{more}",
                names.join(", ")
            )
        }
    };
    Issue {
        path: child(path, key),
        message,
    }
}

/// Validates `v` at `path` against `schema`, appending every problem to `out`.
pub fn check(schema: &Value, v: &Value, path: &str, out: &mut Vec<Issue>) {
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        check_any_of(branches, v, path, out);
        return;
    }
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(show).collect();
            out.push(Issue {
                path: path.into(),
                message: format!(
                    "invalid value {}; expected one of {}",
                    shown(path, v),
                    list.join(", ")
                ),
            });
        }
        return;
    }
    let types = types_of(schema);
    if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
        out.push(Issue {
            path: path.into(),
            message: format!("expected {}, got {}", types.join(" or "), type_name(v)),
        });
        return;
    }
    match v {
        Value::Object(map) => check_object(schema, map, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &child(path, &i.to_string()), out);
                }
            }
        }
        Value::Number(n) => check_number(schema, n.as_f64().unwrap_or(0.0), path, out),
        Value::String(s) => check_string(schema, s, path, out),
        _ => {}
    }
}

fn check_any_of(branches: &[Value], v: &Value, path: &str, out: &mut Vec<Issue>) {
    let mut best: Option<Vec<Issue>> = None;
    let mut type_fits = false;
    for b in branches {
        let mut issues = vec![];
        check(b, v, path, &mut issues);
        if issues.is_empty() {
            return;
        }
        let fits =
            types_of(b).iter().any(|t| type_ok(t, v)) || (b.get("enum").is_some() && v.is_string());
        // Prefer a branch of the value's own type: its errors are the useful ones.
        let better = match &best {
            None => true,
            Some(prev) => (fits && !type_fits) || (fits == type_fits && issues.len() < prev.len()),
        };
        if better {
            type_fits = fits;
            best = Some(issues);
        }
    }
    if type_fits {
        out.extend(best.unwrap_or_default());
        return;
    }
    let mut kinds: Vec<String> = vec![];
    for b in branches {
        let ts = types_of(b);
        if ts.is_empty()
            && let Some(Value::Array(e)) = b.get("enum")
        {
            kinds.extend(e.iter().map(show));
        }
        for t in ts {
            if !kinds.iter().any(|k| k == t) {
                kinds.push(t.to_string());
            }
        }
    }
    out.push(Issue {
        path: path.into(),
        message: format!(
            "expected {}, got {}",
            kinds.join(" or "),
            if secret_at(path) {
                "a string".into()
            } else {
                show_kind(v)
            }
        ),
    });
}

fn show_kind(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}

fn check_object(schema: &Value, map: &Map<String, Value>, path: &str, out: &mut Vec<Issue>) {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let extra = schema.get("additionalProperties");
    for (k, val) in map {
        if let Some(s) = props.get(k) {
            check(s, val, &child(path, k), out);
            continue;
        }
        match extra {
            Some(Value::Bool(false)) => out.push(unknown_key(path, k, props)),
            Some(s @ Value::Object(_)) => check(s, val, &child(path, k), out),
            _ => {}
        }
    }
    if let Some(Value::Array(req)) = schema.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                out.push(Issue {
                    path: child(path, r),
                    message: format!("missing required key {r:?}"),
                });
            }
        }
    }
}

fn check_number(schema: &Value, n: f64, path: &str, out: &mut Vec<Issue>) {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    let fmt = |f: f64| {
        if f.fract() == 0.0 {
            format!("{}", f as i64)
        } else {
            f.to_string()
        }
    };
    if let Some(m) = num("exclusiveMinimum").filter(|m| n <= *m) {
        out.push(Issue {
            path: path.into(),
            message: format!("must be greater than {}", fmt(m)),
        });
    }
    if let Some(m) = num("minimum").filter(|m| n < *m) {
        out.push(Issue {
            path: path.into(),
            message: format!("must be >= {}", fmt(m)),
        });
    }
    if let Some(m) = num("maximum").filter(|m| n > *m) {
        out.push(Issue {
            path: path.into(),
            message: format!("must be <= {}", fmt(m)),
        });
    }
}

fn check_string(schema: &Value, s: &str, path: &str, out: &mut Vec<Issue>) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema
        .get("minLength")
        .and_then(Value::as_u64)
        .filter(|m| len < *m)
    {
        let message = if min == 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters")
        };
        out.push(Issue {
            path: path.into(),
            message,
        });
    }
    if let Some(max) = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .filter(|m| len > *m)
    {
        out.push(Issue {
            path: path.into(),
            message: format!("must be at most {max} characters"),
        });
    }
    // The only pattern in the schema: a hex colour.
    if schema.get("pattern").and_then(Value::as_str) == Some("^#?[0-9a-fA-F]{6}$") {
        let hex = s.strip_prefix('#').unwrap_or(s);
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            out.push(Issue {
                path: path.into(),
                message: format!(
                    "{} is not a hex colour like \"#ff8800\"",
                    shown(path, &Value::String(s.to_string()))
                ),
            });
        }
    }
}
