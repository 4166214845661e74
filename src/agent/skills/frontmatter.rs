//! The `---` block at the top of a `SKILL.md` and its `metadata` JSON.
//!
//! Why a small line parser and not a YAML crate: the original's own docs say its agent's
//! parser reads *single-line* keys only and that `metadata` must be a single-line JSON
//! object; its loader reads `key: value` lines (plus indented continuation lines) and
//! then parses `metadata` as JSON5. So the format is line-based with JSON5 inside, which
//! this module reads exactly that way; the JSON5 is parsed by the config's own parser
//! (`crate::config::json5`). A YAML mapping written as nested keys under `metadata:` is
//! not JSON5 and yields no metadata (as in the original's pi loader).
//!
//! Hostile input: callers pass at most [`MAX_BYTES`]; nothing here indexes by byte
//! offset into user text or recurses, so no input panics.

use std::collections::BTreeMap;

use serde_json::Value;

/// The most of a `SKILL.md` that is read (a skill file is instructions, not data).
pub const MAX_BYTES: usize = 256 * 1024;

pub type Frontmatter = BTreeMap<String, String>;

/// The `key: value` pairs of the leading `---` … `---` block; `{}` without one.
pub fn parse(content: &str) -> Frontmatter {
    let normalized = content.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = Frontmatter::new();
    let Some(rest) = normalized.strip_prefix("---") else {
        return out;
    };
    let Some(rest) = rest.strip_prefix('\n') else {
        return out;
    };
    let block = match rest.find("\n---") {
        Some(end) => &rest[..end],
        None if rest.starts_with("---") => "",
        None => return out,
    };
    let lines: Vec<&str> = block.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let Some((key, inline)) = key_line(lines[i]) else {
            i += 1;
            continue;
        };
        i += 1;
        let mut cont = Vec::new();
        while i < lines.len() && (lines[i].starts_with(' ') || lines[i].starts_with('\t')) {
            cont.push(lines[i]);
            i += 1;
        }
        let value = match inline {
            // A block scalar: `|` keeps the lines, `>` folds them.
            "|" | "|-" | ">" | ">-" => {
                let sep = if inline.starts_with('|') { "\n" } else { " " };
                cont.iter()
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(sep)
                    .trim()
                    .to_string()
            }
            "" => cont.join("\n").trim().to_string(),
            v => unquote(v),
        };
        if !value.is_empty() {
            out.insert(key.to_string(), value);
        }
    }
    out
}

/// `name: value` with a key of word characters and `-`.
fn key_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    let ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    ok.then(|| (key, value.trim()))
}

fn unquote(v: &str) -> String {
    let quoted = v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')));
    if quoted {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `requires` of the `clawdbot` metadata block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requires {
    pub bins: Vec<String>,
    pub any_bins: Vec<String>,
    pub env: Vec<String>,
    pub config: Vec<String>,
}

/// `metadata.clawdbot` (or `metadata.moltbot`, the original's later name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub always: Option<bool>,
    pub skill_key: Option<String>,
    pub primary_env: Option<String>,
    pub emoji: Option<String>,
    pub homepage: Option<String>,
    pub os: Vec<String>,
    pub requires: Option<Requires>,
}

/// A list given as an array or as a comma-separated string; anything else is empty.
fn string_list(v: Option<&Value>) -> Vec<String> {
    let items: Vec<String> = match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn string(v: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The skill's metadata, or None when `metadata` is absent, not JSON5, or has no
/// `clawdbot`/`moltbot` object.
pub fn metadata(fm: &Frontmatter) -> Option<Metadata> {
    let raw = fm.get("metadata")?;
    let parsed = crate::config::json5::parse(raw).ok()?.value;
    let block = parsed
        .get("clawdbot")
        .or_else(|| parsed.get("moltbot"))?
        .as_object()?;
    let requires = block
        .get("requires")
        .and_then(Value::as_object)
        .map(|r| Requires {
            bins: string_list(r.get("bins")),
            any_bins: string_list(r.get("anyBins")),
            env: string_list(r.get("env")),
            config: string_list(r.get("config")),
        });
    Some(Metadata {
        always: block.get("always").and_then(Value::as_bool),
        skill_key: string(block, "skillKey"),
        primary_env: string(block, "primaryEnv"),
        emoji: string(block, "emoji"),
        homepage: string(block, "homepage"),
        os: string_list(block.get("os")),
        requires,
    })
}

/// A frontmatter boolean (`true/false/yes/no/on/off/1/0`), else `fallback`.
pub fn boolean(fm: &Frontmatter, key: &str, fallback: bool) -> bool {
    match fm
        .get(key)
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("true" | "yes" | "on" | "1") => true,
        Some("false" | "no" | "off" | "0") => false,
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_single_line_metadata() {
        let text = "---\nname: gh\ndescription: \"Use the GitHub CLI\"\nhomepage: https://cli.github.com\nmetadata: {\"clawdbot\":{\"emoji\":\"🐙\",\"requires\":{\"bins\":[\"gh\"],\"anyBins\":\"a, b\",\"env\":[\"GH_TOKEN\"],\"config\":[\"browser.enabled\"]},\"os\":[\"linux\",\"darwin\"],\"primaryEnv\":\"GH_TOKEN\"}}\n---\n# Body\nname: not-a-key\n";
        let fm = parse(text);
        assert_eq!(fm["name"], "gh");
        assert_eq!(fm["description"], "Use the GitHub CLI");
        assert_eq!(fm["homepage"], "https://cli.github.com");
        assert!(!fm.contains_key("# Body"));
        let m = metadata(&fm).unwrap();
        let r = m.requires.unwrap();
        assert_eq!(r.bins, ["gh"]);
        assert_eq!(r.any_bins, ["a", "b"]);
        assert_eq!(r.env, ["GH_TOKEN"]);
        assert_eq!(r.config, ["browser.enabled"]);
        assert_eq!(m.os, ["linux", "darwin"]);
        assert_eq!(m.primary_env.as_deref(), Some("GH_TOKEN"));
        assert_eq!(m.emoji.as_deref(), Some("🐙"));
    }

    #[test]
    fn multiline_json5_metadata_crlf_and_block_scalars() {
        let text = "---\r\nname: x\r\ndescription: >\r\n  folded\r\n  text\r\nmetadata:\r\n  {\r\n    moltbot: { requires: { bins: ['sh'] }, always: true, }, // json5\r\n  }\r\n---\r\n";
        let fm = parse(text);
        assert_eq!(fm["description"], "folded text");
        let m = metadata(&fm).unwrap();
        assert_eq!(m.always, Some(true));
        assert_eq!(m.requires.unwrap().bins, ["sh"]);
    }

    #[test]
    fn missing_fields_and_no_block() {
        assert!(parse("# just markdown\nname: x\n").is_empty());
        assert!(parse("---\nname: x\n(no end)").is_empty());
        let fm = parse("---\nname: only\n---\n");
        assert_eq!(fm.get("description"), None);
        assert_eq!(metadata(&fm), None);
        // metadata without a clawdbot block, or not JSON at all
        assert_eq!(
            metadata(&parse("---\nmetadata: {\"other\":{}}\n---\n")),
            None
        );
        assert_eq!(metadata(&parse("---\nmetadata: nope: [\n---\n")), None);
        let fm = parse("---\nmetadata: {\"clawdbot\":{}}\n---\n");
        assert_eq!(metadata(&fm), Some(Metadata::default()));
        assert!(boolean(
            &parse("---\ndisable-model-invocation: yes\n---\n"),
            "disable-model-invocation",
            false
        ));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let deep = format!(
            "---\nmetadata: {}{}\n---\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(metadata(&parse(&deep)), None);
        for text in [
            "---",
            "---\n",
            "---\n---",
            "---\n:\n: :\n'\n\"\n---\n",
            "---\nname: \"\n---\n",
            "---\nname: 'é\n---\n",
            "---\n\u{0}\u{feff}: x\nmetadata: {\"clawdbot\":{\"requires\":{\"bins\":[1,null,{\"a\":2}]}}}\n---",
        ] {
            let _ = metadata(&parse(text));
        }
        let fm = parse("---\nname: \"\n---\n");
        assert_eq!(fm["name"], "\"");
        let m = metadata(&parse(
            "---\nmetadata: {\"clawdbot\":{\"requires\":{\"bins\":[1,\" \",\"ok\"]}}}\n---\n",
        ))
        .unwrap();
        assert_eq!(m.requires.unwrap().bins, ["1", "ok"]);
    }

    #[test]
    fn huge_input_is_bounded_by_the_caller_and_parses_in_time() {
        let mut text = String::from("---\nname: big\ndescription: d\n");
        while text.len() < MAX_BYTES {
            text.push_str("k: vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\n");
        }
        text.push_str("---\n");
        let t = std::time::Instant::now();
        let fm = parse(&text);
        assert_eq!(fm["name"], "big");
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }
}
