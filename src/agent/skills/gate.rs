//! Whether a skill may be offered: the original's gates (`enabled`, `os`, `always`,
//! `requires.bins/anyBins/env/config`), each failure kept with a reason an operator can
//! act on.
//!
//! Two facts differ from the original on purpose:
//! - bins are looked up on the *exec PATH* (`tools.exec.pathPrepend` + the gateway's
//!   PATH, what the exec tool resolves programs through), not the gateway's bare PATH;
//! - an env requirement is met only by a value the tool process will actually receive:
//!   `skills.entries.<key>.env.<NAME>`, `skills.entries.<key>.apiKey` for the skill's
//!   `primaryEnv`, or `tools.exec.env.<NAME>`. The gateway's own environment never
//!   reaches a tool process (see `exec/env.rs`), so it does not count.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Skill;
use crate::nix::NixMode;

/// What gating looks at: the resolved config, the exec PATH, the platform, Nix mode.
pub struct Facts<'a> {
    pub resolved: &'a Value,
    pub path_var: String,
    /// `tools.exec.env`.
    pub exec_env: BTreeMap<String, String>,
    /// The original's `process.platform` name: `linux`, `darwin`, `win32`.
    pub platform: &'static str,
    pub nix: &'a NixMode,
}

pub fn platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// The outcome for one skill.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gate {
    pub disabled: bool,
    pub eligible: bool,
    pub missing_bins: Vec<String>,
    pub missing_any_bins: Vec<String>,
    pub missing_env: Vec<String>,
    pub missing_config: Vec<String>,
    pub missing_os: Vec<String>,
    /// `(path, value, satisfied)` per `requires.config` entry.
    pub config_checks: Vec<(String, Value, bool)>,
    /// One sentence per failed gate, naming the fix.
    pub reasons: Vec<String>,
}

/// `skills.entries.<key>` as JSON (an object), if configured.
pub fn entry<'a>(resolved: &'a Value, key: &str) -> Option<&'a serde_json::Map<String, Value>> {
    resolved
        .get("skills")?
        .get("entries")?
        .get(key)?
        .as_object()
}

/// Whether `bin` is an executable file in one of the absolute `path_var` directories.
pub fn has_binary(bin: &str, path_var: &str) -> bool {
    if bin.is_empty() || bin.contains('/') || bin == "." || bin == ".." {
        return false;
    }
    std::env::split_paths(path_var)
        .filter(|d| d.is_absolute())
        .map(|d: PathBuf| d.join(bin))
        .any(|p| is_executable(&p))
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Config keys the original treats as on when unset.
const DEFAULT_TRUE: &[&str] = &["browser.enabled", "browser.evaluateEnabled"];

pub fn config_value(resolved: &Value, path: &str) -> Value {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(resolved, |cur, seg| cur.as_object()?.get(seg))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The original's truthiness: null/false/0/blank string are false, objects and arrays true.
pub fn config_truthy(resolved: &Value, path: &str) -> bool {
    match config_value(resolved, path) {
        Value::Null => DEFAULT_TRUE.contains(&path),
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.trim().is_empty(),
        _ => true,
    }
}

fn nonempty(m: Option<&serde_json::Map<String, Value>>, key: &str) -> bool {
    m.and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

pub fn check(skill: &Skill, f: &Facts<'_>) -> Gate {
    let key = skill.key();
    let entry = entry(f.resolved, key);
    let mut g = Gate {
        disabled: entry.and_then(|e| e.get("enabled")) == Some(&Value::Bool(false)),
        ..Gate::default()
    };
    let meta = skill.metadata.clone().unwrap_or_default();
    let req = meta.requires.clone().unwrap_or_default();
    if !meta.os.is_empty() && !meta.os.iter().any(|o| o == f.platform) {
        g.missing_os = meta.os.clone();
    }
    g.missing_bins = req
        .bins
        .iter()
        .filter(|b| !has_binary(b, &f.path_var))
        .cloned()
        .collect();
    if !req.any_bins.is_empty() && !req.any_bins.iter().any(|b| has_binary(b, &f.path_var)) {
        g.missing_any_bins = req.any_bins.clone();
    }
    let skill_env = entry.and_then(|e| e.get("env")).and_then(Value::as_object);
    for name in &req.env {
        let from_api_key =
            meta.primary_env.as_deref() == Some(name.as_str()) && nonempty(entry, "apiKey");
        let set = nonempty(skill_env, name)
            || from_api_key
            || f.exec_env.get(name).is_some_and(|v| !v.is_empty());
        if !set {
            g.missing_env.push(name.clone());
        }
    }
    for path in &req.config {
        let ok = config_truthy(f.resolved, path);
        g.config_checks
            .push((path.clone(), config_value(f.resolved, path), ok));
        if !ok {
            g.missing_config.push(path.clone());
        }
    }
    let always = meta.always == Some(true);
    if always {
        // `always` skips every requirement; the enabled and os gates still apply (the
        // original's filter checks those first).
        g.missing_bins.clear();
        g.missing_any_bins.clear();
        g.missing_env.clear();
        g.missing_config.clear();
    }
    if g.disabled {
        g.reasons.push(format!(
            "disabled by skills.entries.{key}.enabled=false (set it to true or remove it)"
        ));
    }
    for os in [&g.missing_os].into_iter().filter(|v| !v.is_empty()) {
        g.reasons.push(format!(
            "runs only on {} (this gateway is {})",
            os.join(", "),
            f.platform
        ));
    }
    for bin in &g.missing_bins {
        g.reasons.push(format!(
            "needs {}",
            crate::nix::missing_program(bin, f.nix)
                .replace(
                    "was not found on the gateway's PATH",
                    "on the exec PATH; it is missing"
                )
                .replace("was not found on PATH", "on the exec PATH; it is missing")
        ));
    }
    if !g.missing_any_bins.is_empty() {
        g.reasons.push(format!(
            "needs one of {} on the exec PATH (tools.exec.pathPrepend + the gateway's PATH); none is installed",
            g.missing_any_bins.join(", ")
        ));
    }
    for name in &g.missing_env {
        let api = if meta.primary_env.as_deref() == Some(name.as_str()) {
            format!(" or skills.entries.{key}.apiKey")
        } else {
            String::new()
        };
        g.reasons.push(format!(
            "needs {name}: set skills.entries.{key}.env.{name}{api} (tool processes do not inherit the gateway's environment)"
        ));
    }
    for path in &g.missing_config {
        g.reasons
            .push(format!("needs config {path} to be set (truthy)"));
    }
    g.eligible = !g.disabled
        && g.missing_os.is_empty()
        && g.missing_bins.is_empty()
        && g.missing_any_bins.is_empty()
        && g.missing_env.is_empty()
        && g.missing_config.is_empty();
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::skills::frontmatter;
    use serde_json::json;

    fn skill(meta: &str) -> Skill {
        let fm = frontmatter::parse(&format!(
            "---\nname: s\ndescription: d\nmetadata: {meta}\n---\n"
        ));
        Skill {
            name: "s".into(),
            description: "d".into(),
            source: "clawdbot-workspace".into(),
            file_path: "/w/skills/s/SKILL.md".into(),
            base_dir: "/w/skills/s".into(),
            metadata: frontmatter::metadata(&fm),
            frontmatter: fm,
        }
    }

    fn facts<'a>(resolved: &'a Value, nix: &'a NixMode, path: &str) -> Facts<'a> {
        Facts {
            resolved,
            path_var: path.to_string(),
            exec_env: BTreeMap::new(),
            platform: "linux",
            nix,
        }
    }

    fn bin_dir() -> (tempfile::TempDir, String) {
        let d = tempfile::tempdir().unwrap();
        let exe = d.path().join("present-tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.path().join("not-exec"), "").unwrap();
        let p = d.path().display().to_string();
        (d, p)
    }

    #[test]
    fn bins_on_the_exec_path_only() {
        let (_d, path) = bin_dir();
        let cfg = json!({});
        let nix = NixMode::off();
        let ok = check(
            &skill(r#"{"clawdbot":{"requires":{"bins":["present-tool"]}}}"#),
            &facts(&cfg, &nix, &path),
        );
        assert!(ok.eligible && ok.reasons.is_empty(), "{ok:?}");
        let g = check(
            &skill(r#"{"clawdbot":{"requires":{"bins":["present-tool","not-exec","../x"]}}}"#),
            &facts(&cfg, &nix, &format!("relative:{path}")),
        );
        assert!(!g.eligible);
        assert_eq!(g.missing_bins, ["not-exec", "../x"]);
        assert!(
            g.reasons[0].contains("`not-exec`") && g.reasons[0].contains("exec PATH"),
            "{:?}",
            g.reasons
        );
        let any = check(
            &skill(r#"{"clawdbot":{"requires":{"anyBins":["nope","present-tool"]}}}"#),
            &facts(&cfg, &nix, &path),
        );
        assert!(any.eligible);
        let none = check(
            &skill(r#"{"clawdbot":{"requires":{"anyBins":["nope"]}}}"#),
            &facts(&cfg, &nix, &path),
        );
        assert_eq!(none.missing_any_bins, ["nope"]);
    }

    #[test]
    fn nix_mode_names_the_nix_fix() {
        let cfg = json!({});
        let nix = NixMode {
            enabled: true,
            ..NixMode::off()
        };
        let g = check(
            &skill(r#"{"clawdbot":{"requires":{"bins":["jq"]}}}"#),
            &facts(&cfg, &nix, "/nonexistent"),
        );
        assert!(
            g.reasons[0].contains("extraPackages") && g.reasons[0].contains("pkgs.jq"),
            "{:?}",
            g.reasons
        );
    }

    #[test]
    fn env_only_from_values_tools_receive() {
        let s =
            skill(r#"{"clawdbot":{"requires":{"env":["A_KEY","B_KEY"]},"primaryEnv":"A_KEY"}}"#);
        let nix = NixMode::off();
        let none = json!({});
        let g = check(&s, &facts(&none, &nix, ""));
        assert_eq!(g.missing_env, ["A_KEY", "B_KEY"]);
        assert!(g.reasons[0].contains("skills.entries.s.env.A_KEY or skills.entries.s.apiKey"));
        let cfg = json!({"skills": {"entries": {"s": {"apiKey": "k", "env": {"B_KEY": "v"}}}}});
        assert!(check(&s, &facts(&cfg, &nix, "")).eligible);
        let mut f = facts(&none, &nix, "");
        f.exec_env = BTreeMap::from([("A_KEY".into(), "1".into()), ("B_KEY".into(), "2".into())]);
        assert!(check(&s, &f).eligible);
        let blank = json!({"skills": {"entries": {"s": {"apiKey": "", "env": {"B_KEY": ""}}}}});
        assert_eq!(check(&s, &facts(&blank, &nix, "")).missing_env.len(), 2);
    }

    #[test]
    fn config_os_enabled_and_always() {
        let nix = NixMode::off();
        let s = skill(r#"{"clawdbot":{"requires":{"config":["browser.enabled","a.b","a.z"]}}}"#);
        let cfg = json!({"a": {"b": "x", "z": 0}});
        let g = check(&s, &facts(&cfg, &nix, ""));
        assert_eq!(g.missing_config, ["a.z"]);
        assert_eq!(g.config_checks[1], ("a.b".to_string(), json!("x"), true));
        let cfg = json!({"browser": {"enabled": false}, "a": {"b": [], "z": 2}});
        assert_eq!(
            check(&s, &facts(&cfg, &nix, "")).missing_config,
            ["browser.enabled"]
        );

        let mac = skill(r#"{"clawdbot":{"os":["darwin"]}}"#);
        let g = check(&mac, &facts(&cfg, &nix, ""));
        assert!(!g.eligible && g.missing_os == ["darwin"] && g.reasons[0].contains("darwin"));

        let off = json!({"skills": {"entries": {"s": {"enabled": false}}}});
        let g = check(&skill(r#"{"clawdbot":{}}"#), &facts(&off, &nix, ""));
        assert!(
            g.disabled && !g.eligible && g.reasons[0].contains("skills.entries.s.enabled=false")
        );

        let always = skill(r#"{"clawdbot":{"always":true,"requires":{"bins":["nope"]}}}"#);
        assert!(check(&always, &facts(&json!({}), &nix, "")).eligible);
        assert!(!check(&always, &facts(&off, &nix, "")).eligible);
        let keyed = skill(r#"{"clawdbot":{"skillKey":"other"}}"#);
        assert!(check(&keyed, &facts(&off, &nix, "")).eligible);
    }
}
