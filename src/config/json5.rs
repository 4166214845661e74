//! A JSON5 parser that also records where every key was written, so config errors can
//! name the file line (the `json5` crate keeps no positions).
//!
//! Supports the whole of JSON5: comments, trailing commas, unquoted identifier keys,
//! single-quoted strings with every escape, hex, leading/trailing-dot and `+` numbers.
//! `NaN`/`Infinity` parse but are refused: a config never needs them and JSON cannot hold
//! them.

use serde_json::{Map, Number, Value};

/// 1-based line and column.
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

/// The value plus the position of every object key and array element, by dot path
/// (`gateway.auth.token`, `agents.list.0.id`), in document order.
#[derive(Debug)]
pub struct Parsed {
    pub value: Value,
    pub positions: Vec<(String, Pos)>,
}

const MAX_DEPTH: usize = 128;

pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
        positions: vec![],
    };
    if p.peek() == Some('\u{feff}') {
        p.bump();
    }
    p.skip_ws()?;
    let value = p.value("", 0)?;
    p.skip_ws()?;
    if let Some(c) = p.peek() {
        return Err(p.err(format!(
            "unexpected character {c:?} after the end of the document"
        )));
    }
    Ok(Parsed {
        value,
        positions: p.positions,
    })
}

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
    positions: Vec<(String, Pos)>,
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{0b}' | '\u{0c}' | '\u{a0}' | '\u{feff}')
        || is_line_break(c)
        || c.is_whitespace()
}

fn is_ident_start(c: char) -> bool {
    c == '$' || c == '_' || c.is_alphabetic()
}

fn is_ident_part(c: char) -> bool {
    is_ident_start(c) || c.is_alphanumeric() || c == '\u{200c}' || c == '\u{200d}'
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\r' && self.peek() == Some('\n') {
            self.col += 1;
        } else if is_line_break(c) {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }

    fn err_at(&self, pos: Pos, message: impl Into<String>) -> ParseError {
        ParseError {
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    fn unexpected(&self) -> ParseError {
        match self.peek() {
            Some(c) => self.err(format!("unexpected character {c:?}")),
            None => self.err("unexpected end of input"),
        }
    }

    fn skip_ws(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some(c), _) if is_ws(c) => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while let Some(c) = self.peek() {
                        if is_line_break(c) {
                            break;
                        }
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.peek() {
                            None => return Err(self.err_at(start, "unterminated comment")),
                            Some('*') if self.peek_at(1) == Some('/') => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            Some(_) => {
                                self.bump();
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, path: &str, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            Some('{') => self.object(path, depth),
            Some('[') => self.array(path, depth),
            Some('"') | Some('\'') => Ok(Value::String(self.string()?)),
            Some(c) if c.is_ascii_digit() || matches!(c, '-' | '+' | '.') => self.number(),
            Some(c) if is_ident_start(c) => {
                let start = self.pos();
                let word = self.identifier()?;
                match word.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "null" => Ok(Value::Null),
                    "NaN" | "Infinity" => {
                        Err(self.err_at(start, "NaN and Infinity are not supported in this config"))
                    }
                    _ => Err(self.err_at(
                        start,
                        format!("unexpected word {word:?} (strings need quotes)"),
                    )),
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn object(&mut self, path: &str, depth: usize) -> Result<Value, ParseError> {
        self.bump();
        let mut map = Map::new();
        loop {
            self.skip_ws()?;
            if self.peek() == Some('}') {
                self.bump();
                return Ok(Value::Object(map));
            }
            let key_pos = self.pos();
            let key = match self.peek() {
                Some('"') | Some('\'') => self.string()?,
                Some(c) if is_ident_start(c) || c == '\\' => self.identifier()?,
                _ => return Err(self.unexpected()),
            };
            self.skip_ws()?;
            if self.peek() != Some(':') {
                return Err(self.err(format!("expected ':' after key {key:?}")));
            }
            self.bump();
            self.skip_ws()?;
            let key_path = child(path, &key);
            self.positions.retain(|(p, _)| p != &key_path);
            self.positions.push((key_path.clone(), key_pos));
            let v = self.value(&key_path, depth + 1)?;
            map.insert(key, v);
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                None => return Err(self.err("unexpected end of input (missing '}')")),
                Some(c) => return Err(self.err(format!("expected ',' or '}}', found {c:?}"))),
            }
        }
    }

    fn array(&mut self, path: &str, depth: usize) -> Result<Value, ParseError> {
        self.bump();
        let mut items = vec![];
        loop {
            self.skip_ws()?;
            if self.peek() == Some(']') {
                self.bump();
                return Ok(Value::Array(items));
            }
            let item_path = child(path, &items.len().to_string());
            self.positions.push((item_path.clone(), self.pos()));
            items.push(self.value(&item_path, depth + 1)?);
            self.skip_ws()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                None => return Err(self.err("unexpected end of input (missing ']')")),
                Some(c) => return Err(self.err(format!("expected ',' or ']', found {c:?}"))),
            }
        }
    }

    fn identifier(&mut self) -> Result<String, ParseError> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                self.bump();
                if self.bump() != Some('u') {
                    return Err(self.err("invalid escape in identifier"));
                }
                s.push(self.unicode_escape()?);
            } else if (s.is_empty() && is_ident_start(c)) || (!s.is_empty() && is_ident_part(c)) {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if s.is_empty() {
            return Err(self.unexpected());
        }
        Ok(s)
    }

    fn hex_digits(&mut self, n: usize) -> Result<u32, ParseError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self
                .peek()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| self.err("invalid hex escape"))?;
            self.bump();
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// After `\u`: four hex digits, joining a surrogate pair when one follows.
    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let hi = self.hex_digits(4)?;
        if (0xD800..0xDC00).contains(&hi)
            && self.peek() == Some('\\')
            && self.peek_at(1) == Some('u')
        {
            self.bump();
            self.bump();
            let lo = self.hex_digits(4)?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return char::from_u32(c).ok_or_else(|| self.err("invalid unicode escape"));
            }
            return Err(self.err("invalid surrogate pair"));
        }
        char::from_u32(hi).ok_or_else(|| self.err("invalid unicode escape (lone surrogate)"))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos();
        let Some(quote) = self.bump() else {
            return Err(self.unexpected());
        };
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err_at(start, "unterminated string"));
            };
            if c == quote {
                self.bump();
                return Ok(s);
            }
            if c == '\n' || c == '\r' {
                return Err(self.err_at(start, "unterminated string"));
            }
            self.bump();
            if c != '\\' {
                s.push(c);
                continue;
            }
            let Some(e) = self.bump() else {
                return Err(self.err_at(start, "unterminated string"));
            };
            match e {
                'n' => s.push('\n'),
                'r' => s.push('\r'),
                't' => s.push('\t'),
                'b' => s.push('\u{8}'),
                'f' => s.push('\u{c}'),
                'v' => s.push('\u{b}'),
                '0' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => s.push('\0'),
                'x' => {
                    let v = self.hex_digits(2)?;
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                }
                'u' => s.push(self.unicode_escape()?),
                '\r' => {
                    if self.peek() == Some('\n') {
                        self.bump();
                    }
                }
                '\n' | '\u{2028}' | '\u{2029}' => {}
                d if d.is_ascii_digit() => {
                    return Err(self.err("invalid escape: octal escapes are not allowed"));
                }
                other => s.push(other),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos();
        let mut neg = false;
        if let Some(sign @ ('+' | '-')) = self.peek() {
            neg = sign == '-';
            self.bump();
        }
        if self.peek().is_some_and(is_ident_start) {
            let word = self.identifier()?;
            return Err(match word.as_str() {
                "Infinity" | "NaN" => {
                    self.err_at(start, "NaN and Infinity are not supported in this config")
                }
                _ => self.err_at(start, format!("unexpected word {word:?}")),
            });
        }
        if self.peek() == Some('0') && matches!(self.peek_at(1), Some('x' | 'X')) {
            self.bump();
            self.bump();
            let mut digits = String::new();
            while let Some(c) = self.peek().filter(char::is_ascii_hexdigit) {
                digits.push(c);
                self.bump();
            }
            let v = i64::from_str_radix(&digits, 16)
                .map_err(|_| self.err_at(start, "invalid hexadecimal number"))?;
            return Ok(Value::Number(Number::from(if neg { -v } else { v })));
        }
        let mut text = String::new();
        let mut int_digits = 0;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            text.push(c);
            int_digits += 1;
            self.bump();
        }
        if int_digits > 1 && text.starts_with('0') {
            return Err(self.err_at(start, "numbers cannot have leading zeros"));
        }
        let mut is_float = false;
        if self.peek() == Some('.') {
            is_float = true;
            self.bump();
            text.push('.');
            let mut frac = 0;
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                frac += 1;
                self.bump();
            }
            if frac == 0 && int_digits == 0 {
                return Err(self.err_at(start, "invalid number"));
            }
            if frac == 0 {
                text.push('0');
            }
        } else if int_digits == 0 {
            return Err(self.err_at(start, "invalid number"));
        }
        if let Some('e' | 'E') = self.peek() {
            is_float = true;
            text.push('e');
            self.bump();
            if let Some(s @ ('+' | '-')) = self.peek() {
                text.push(s);
                self.bump();
            }
            let mut exp = 0;
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                exp += 1;
                self.bump();
            }
            if exp == 0 {
                return Err(self.err_at(start, "invalid number exponent"));
            }
        }
        if text.starts_with('.') {
            text.insert(0, '0');
        }
        if neg {
            text.insert(0, '-');
        }
        if !is_float {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Value::Number(v.into()));
            }
            if let Ok(v) = text.parse::<u64>() {
                return Ok(Value::Number(v.into()));
            }
        }
        let f: f64 = text
            .parse()
            .map_err(|_| self.err_at(start, "invalid number"))?;
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| self.err_at(start, "number out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pos_of(p: &Parsed, path: &str) -> (u32, u32) {
        let (_, pos) = p
            .positions
            .iter()
            .find(|(k, _)| k == path)
            .unwrap_or_else(|| panic!("no {path}"));
        (pos.line, pos.col)
    }

    #[test]
    fn realistic_config_with_positions() {
        let text = "// my config\n{\n  gateway: { port: 18789, auth: { token: 'abc', }, },\n  /* agents */ agents: { list: [ { id: \"main\", default: true }, ], },\n}\n";
        let p = parse(text).unwrap();
        assert_eq!(
            p.value,
            json!({"gateway": {"port": 18789, "auth": {"token": "abc"}}, "agents": {"list": [{"id": "main", "default": true}]}})
        );
        assert_eq!(pos_of(&p, "gateway"), (3, 3));
        assert_eq!(pos_of(&p, "gateway.port"), (3, 14));
        assert_eq!(pos_of(&p, "agents.list.0.id"), (4, 36));
    }

    #[test]
    fn json5_features() {
        let p = parse("{a: +1, b: .5, c: 5., d: 0x1F, e: -0x10, f: 1e3, g: 'it\\'s', h: \"\\u00e9\\x41\\n\", i: 'line\\\ncont', $j_1: null, k: [1,2,], 'quoted key': true}").unwrap();
        assert_eq!(
            p.value,
            json!({"a": 1, "b": 0.5, "c": 5.0, "d": 31, "e": -16, "f": 1000.0, "g": "it's", "h": "éA\n", "i": "linecont", "$j_1": null, "k": [1, 2], "quoted key": true})
        );
        assert_eq!(parse("\"\\ud83d\\ude00\"").unwrap().value, json!("😀"));
        assert_eq!(parse("\u{feff}{}").unwrap().value, json!({}));
        assert_eq!(
            parse("18446744073709551615").unwrap().value,
            json!(18446744073709551615u64)
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let p = parse("{a: 1,\n a: 2}").unwrap();
        assert_eq!(p.value, json!({"a": 2}));
        assert_eq!(pos_of(&p, "a"), (2, 2));
        assert_eq!(p.positions.iter().filter(|(k, _)| k == "a").count(), 1);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("{a: 1,\n  b 2}", 2, 5, "expected ':' after key \"b\""),
            ("{a: 'x}", 1, 5, "unterminated string"),
            (
                "{a: 1} x",
                1,
                8,
                "unexpected character 'x' after the end of the document",
            ),
            ("{\n/* never closed", 2, 1, "unterminated comment"),
            ("{a: 01}", 1, 5, "numbers cannot have leading zeros"),
            (
                "{a: NaN}",
                1,
                5,
                "NaN and Infinity are not supported in this config",
            ),
            (
                "{a: -Infinity}",
                1,
                5,
                "NaN and Infinity are not supported in this config",
            ),
            (
                "{a: yes}",
                1,
                5,
                "unexpected word \"yes\" (strings need quotes)",
            ),
            ("[1 2]", 1, 4, "expected ',' or ']', found '2'"),
            ("{a: 1", 1, 6, "unexpected end of input (missing '}')"),
            ("", 1, 1, "unexpected end of input"),
        ];
        for (text, line, col, msg) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(
                (e.line, e.col, e.message.as_str()),
                (line, col, msg),
                "{text:?}"
            );
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(&deep).unwrap_err().message, "nesting too deep");
    }

    #[test]
    fn strict_json_agrees_with_serde_json() {
        for doc in [
            r#"{"a":[1,2.5,-3,true,false,null,"x\"y\\z\/"],"b":{"c":{}},"d":[]}"#,
            r#"[{"k":"\u0041\t"}, 1e-7, -0.0, 123456789012]"#,
            r#""plain""#,
            "  {\"ws\" :\r\n 1 }  ",
        ] {
            assert_eq!(
                parse(doc).unwrap().value,
                serde_json::from_str::<Value>(doc).unwrap(),
                "{doc}"
            );
        }
    }

    #[test]
    fn crlf_counts_one_line() {
        let p = parse("{\r\n\r\n  a: 1}").unwrap();
        assert_eq!(pos_of(&p, "a"), (3, 3));
    }
}
