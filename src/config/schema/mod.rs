//! TEMPORARY shim until the schema lands.
use serde_json::Value;
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
}
pub fn validate(_root: &Value) -> Report {
    Report::default()
}
pub fn json_schema() -> Value {
    serde_json::json!({"type":"object"})
}
pub fn ui_hints() -> Value {
    serde_json::json!({})
}
pub fn is_secret_path(path: &[&str]) -> bool {
    matches!(
        path.last(),
        Some(&"token") | Some(&"password") | Some(&"apiKey") | Some(&"botToken")
    )
}
pub fn redact(value: &Value) -> Value {
    value.clone()
}
pub fn secret_file_refs(_root: &Value) -> Vec<(String, String)> {
    vec![]
}
