//! The config schema: the original's config shape (`original.json`, extracted from the
//! release users run by `tools/original-config-schema.sh`) plus this gateway's additions
//! (secret files, `customBindHost`), one validator for all of it, and the list of secret
//! keys used for redaction.

mod redact;
pub mod rules;
mod validate;

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

pub use redact::{REDACTED, SECRET_ENDINGS, display, is_secret_path, redact, secret_schema_paths};
pub use rules::secret_file_refs;

#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// Dot path; array indices as numbers ("agents.list.0.id"); "" is the root.
    pub path: String,
    pub message: String,
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}

/// The effective JSON Schema (original + additions), built once.
pub fn json_schema() -> Value {
    schema().clone()
}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut s: Value = serde_json::from_str(include_str!("original.json"))
            .unwrap_or_else(|_| json!({"type": "object"}));
        rules::add_extensions(&mut s);
        s
    })
}

/// Validates a whole config (after includes and substitution).
pub fn validate(root: &Value) -> Report {
    let mut report = Report::default();
    if let Some(Value::Object(g)) = root.get("gateway")
        && g.contains_key("token")
    {
        report.errors.push(Issue {
                path: "gateway.token".into(),
                message: "unknown key \"token\" (this key is ignored by Clawdbot; use \"gateway.auth.token\")".into(),
            });
    }
    let mut issues = vec![];
    validate::check(schema(), root, "", &mut issues);
    report
        .errors
        .extend(issues.into_iter().filter(|i| i.path != "gateway.token"));
    rules::cross_field(root, &mut report.errors);
    rules::unimplemented(root, &mut report.warnings);
    report
}

/// uiHints for `config.schema`: every secret key marked sensitive, file forms explained.
pub fn ui_hints() -> Value {
    let mut hints = Map::new();
    for p in rules::SENSITIVE {
        hints.insert((*p).into(), json!({"sensitive": true}));
    }
    for (p, label) in rules::FILE_KEYS {
        hints.insert((*p).into(), json!({"label": label, "help": "Path of a file holding the secret (read at start; never stored in the config)."}));
    }
    Value::Object(hints)
}

#[cfg(test)]
mod tests;
