//! TEMPORARY shim (strict JSON only) until the JSON5 parser lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("JSON5 parse error at line {line}, column {col}: {message}")]
pub struct ParseError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}
pub struct Parsed {
    pub value: serde_json::Value,
    pub positions: Vec<(String, Pos)>,
}
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    serde_json::from_str(text)
        .map(|value| Parsed {
            value,
            positions: vec![],
        })
        .map_err(|e| ParseError {
            line: e.line() as u32,
            col: e.column() as u32,
            message: e.to_string(),
        })
}
