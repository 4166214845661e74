//! Skills: `<dir>/<skill>/SKILL.md` folders that teach the agent a task. The system
//! prompt lists the eligible ones (name, description, location) and the model reads a
//! file with the `read` tool when one applies, as in the original.
//!
//! Discovery and precedence are the original's: `skills.load.extraDirs` (lowest), then
//! `<stateDir>/skills` (managed), then `<workspace>/skills` (highest); a later directory's
//! skill replaces an earlier one of the same name. There are no bundled skills here.
//! Everything is read on each call (a run, an exec, `skills.status`), so an edited or
//! newly installed skill takes effect on the next message; the watcher ([`watch`]) only
//! announces a change (`skills.changed`) to clients.

pub mod frontmatter;
pub mod gate;
pub mod watch;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub use gate::{Facts, Gate};

use crate::nix::NixMode;
use crate::paths::Env;

/// At most this many skill folders are looked at per directory (hostile trees).
pub(crate) const MAX_PER_DIR: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    pub name: String,
    pub description: String,
    /// `clawdbot-workspace`, `clawdbot-managed` or `clawdbot-extra`.
    pub source: String,
    pub file_path: PathBuf,
    pub base_dir: PathBuf,
    pub frontmatter: frontmatter::Frontmatter,
    pub metadata: Option<frontmatter::Metadata>,
}

impl Skill {
    /// The `skills.entries` key: `metadata.clawdbot.skillKey`, else the name.
    pub fn key(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.skill_key.as_deref())
            .unwrap_or(&self.name)
    }

    /// `disable-model-invocation: true` keeps a skill out of the prompt.
    pub fn model_invocable(&self) -> bool {
        !frontmatter::boolean(&self.frontmatter, "disable-model-invocation", false)
    }
}

/// Where skills are looked for, for one agent.
pub struct Context<'a> {
    pub workspace: PathBuf,
    pub managed_dir: PathBuf,
    pub extra_dirs: Vec<PathBuf>,
    pub facts: Facts<'a>,
}

impl<'a> Context<'a> {
    /// From a loaded config: `skills.load.extraDirs` (with `~`), the exec PATH built as the
    /// exec tool builds it, `tools.exec.env`.
    pub fn new(
        workspace: &Path,
        state_dir: &Path,
        loaded: &'a crate::config::Loaded,
        nix: &'a NixMode,
    ) -> Context<'a> {
        let policy = crate::agent::exec::Policy::from_model(&loaded.config);
        let path_var = policy.path_var(&std::env::var("PATH").unwrap_or_default());
        Context {
            workspace: workspace.to_path_buf(),
            managed_dir: state_dir.join("skills"),
            extra_dirs: extra_dirs(&loaded.resolved, &loaded.env),
            facts: Facts {
                resolved: &loaded.resolved,
                path_var,
                exec_env: policy.env,
                platform: gate::platform(),
                nix,
            },
        }
    }

    /// Every skill found, after precedence, in the original's order.
    pub fn load(&self) -> Vec<Skill> {
        let mut merged: Vec<Skill> = Vec::new();
        let mut dirs: Vec<(&Path, &str)> = self
            .extra_dirs
            .iter()
            .map(|d| (d.as_path(), "clawdbot-extra"))
            .collect();
        dirs.push((&self.managed_dir, "clawdbot-managed"));
        let ws_skills = self.workspace.join("skills");
        dirs.push((&ws_skills, "clawdbot-workspace"));
        for (dir, source) in dirs {
            for skill in load_dir(dir, source) {
                match merged.iter_mut().find(|s| s.name == skill.name) {
                    Some(slot) => *slot = skill,
                    None => merged.push(skill),
                }
            }
        }
        merged
    }

    /// Each skill with its gate.
    pub fn gated(&self) -> Vec<(Skill, Gate)> {
        self.load()
            .into_iter()
            .map(|s| {
                let g = gate::check(&s, &self.facts);
                (s, g)
            })
            .collect()
    }

    /// The eligible skills the model may be told about.
    pub fn eligible(&self) -> Vec<Skill> {
        self.gated()
            .into_iter()
            .filter(|(s, g)| g.eligible && s.model_invocable())
            .map(|(s, _)| s)
            .collect()
    }

    /// `skills.status`: the original's report shape, plus `reasons` (why a skill is not
    /// eligible, naming the fix).
    pub fn status(&self) -> Value {
        let skills: Vec<Value> = self
            .gated()
            .iter()
            .map(|(s, g)| status_entry(s, g))
            .collect();
        json!({
            "workspaceDir": self.workspace.display().to_string(),
            "managedSkillsDir": self.managed_dir.display().to_string(),
            "skills": skills,
        })
    }

    /// The env the eligible skills' entries give tool processes: `env` values, and
    /// `apiKey` as the skill's `primaryEnv`. `tools.exec.env` is applied over it.
    pub fn tool_env(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (s, g) in self.gated() {
            if !g.eligible {
                continue;
            }
            let Some(entry) = gate::entry(self.facts.resolved, s.key()) else {
                continue;
            };
            if let Some(env) = entry.get("env").and_then(Value::as_object) {
                for (k, v) in env {
                    if let Some(v) = v.as_str().filter(|v| !v.is_empty()) {
                        out.entry(k.clone()).or_insert_with(|| v.to_string());
                    }
                }
            }
            let primary = s.metadata.as_ref().and_then(|m| m.primary_env.clone());
            if let (Some(name), Some(key)) = (
                primary,
                entry
                    .get("apiKey")
                    .and_then(Value::as_str)
                    .filter(|k| !k.is_empty()),
            ) {
                out.entry(name).or_insert_with(|| key.to_string());
            }
        }
        out
    }

    /// The system prompt's skills section ("" when none is eligible).
    pub fn prompt_section(&self) -> String {
        prompt_section(&self.eligible(), &self.workspace)
    }
}

/// `skills.load.extraDirs`, `~` expanded, blanks dropped.
pub(crate) fn extra_dirs(resolved: &Value, env: &Env) -> Vec<PathBuf> {
    resolved
        .pointer("/skills/load/extraDirs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| env.expand_tilde(s))
                .collect()
        })
        .unwrap_or_default()
}

/// The skills of one directory: each `<dir>/<name>/SKILL.md` with a description (the
/// original's loader skips a skill without one). Hidden folders and `node_modules` are
/// skipped; a file over [`frontmatter::MAX_BYTES`] is skipped with a warning.
pub fn load_dir(dir: &Path, source: &str) -> Vec<Skill> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && n != "node_modules")
        .collect();
    names.sort();
    names.truncate(MAX_PER_DIR);
    let mut out = Vec::new();
    for folder in names {
        let base_dir = dir.join(&folder);
        let file_path = base_dir.join("SKILL.md");
        let Some(text) = read_bounded(&file_path) else {
            continue;
        };
        let fm = frontmatter::parse(&text);
        let name = fm.get("name").cloned().unwrap_or_else(|| folder.clone());
        let Some(description) = fm.get("description").cloned() else {
            tracing::debug!(target: "skills", "{} has no description; skipped", file_path.display());
            continue;
        };
        out.push(Skill {
            name,
            description,
            source: source.to_string(),
            metadata: frontmatter::metadata(&fm),
            frontmatter: fm,
            file_path,
            base_dir,
        });
    }
    out
}

fn read_bounded(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.len() > frontmatter::MAX_BYTES as u64 {
        tracing::warn!(target: "skills", "{} is larger than {} bytes; skipped", path.display(), frontmatter::MAX_BYTES);
        return None;
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(frontmatter::MAX_BYTES as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn status_entry(s: &Skill, g: &Gate) -> Value {
    let meta = s.metadata.clone().unwrap_or_default();
    let req = meta.requires.clone().unwrap_or_default();
    let homepage = meta
        .homepage
        .clone()
        .or_else(|| s.frontmatter.get("homepage").cloned())
        .or_else(|| s.frontmatter.get("website").cloned())
        .or_else(|| s.frontmatter.get("url").cloned())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    let emoji = meta
        .emoji
        .clone()
        .or_else(|| s.frontmatter.get("emoji").cloned());
    let checks: Vec<Value> = g
        .config_checks
        .iter()
        .map(|(p, v, ok)| json!({"path": p, "value": v, "satisfied": ok}))
        .collect();
    json!({
        "name": s.name,
        "description": s.description,
        "source": s.source,
        "filePath": s.file_path.display().to_string(),
        "baseDir": s.base_dir.display().to_string(),
        "skillKey": s.key(),
        "primaryEnv": meta.primary_env,
        "emoji": emoji,
        "homepage": homepage,
        "always": meta.always == Some(true),
        "disabled": g.disabled,
        "blockedByAllowlist": false,
        "eligible": g.eligible,
        "requirements": {
            "bins": req.bins, "anyBins": req.any_bins, "env": req.env,
            "config": req.config, "os": meta.os,
        },
        "missing": {
            "bins": g.missing_bins, "anyBins": g.missing_any_bins, "env": g.missing_env,
            "config": g.missing_config, "os": g.missing_os,
        },
        "configChecks": checks,
        "install": [],
        "reasons": g.reasons,
    })
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The original's "## Skills (mandatory)" section around pi's `<available_skills>` list.
/// Our `read` tool is confined to the workspace, so a skill outside it (managed or extra
/// dir) gets a note saying how to open it instead of a location `read` would refuse.
pub fn prompt_section(skills: &[Skill], workspace: &Path) -> String {
    if skills.is_empty() {
        return String::new();
    }
    let mut lines: Vec<String> = [
        "## Skills (mandatory)",
        "Before replying: scan <available_skills> <description> entries.",
        "- If exactly one skill clearly applies: read its SKILL.md at <location> with `read`, then follow it.",
        "- If multiple could apply: choose the most specific one, then read/follow it.",
        "- If none clearly apply: do not read any SKILL.md.",
        "Constraints: never read more than one skill up front; only read after selecting.",
        "",
        "The following skills provide specialized instructions for specific tasks.",
        "Use the read tool to load a skill's file when the task matches its description.",
        "When a skill file references a relative path, resolve it against the skill directory (parent of SKILL.md / dirname of the path) and use that absolute path in tool commands.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if skills.iter().any(|s| !s.file_path.starts_with(workspace)) {
        lines.push(format!(
            "`read` only opens files inside the workspace ({}); for a skill whose <location> is outside it, read the file with `exec` (`cat <location>`) when exec is available.",
            workspace.display()
        ));
    }
    lines.push(String::new());
    lines.push("<available_skills>".into());
    for s in skills {
        lines.push("  <skill>".into());
        lines.push(format!("    <name>{}</name>", escape_xml(&s.name)));
        lines.push(format!(
            "    <description>{}</description>",
            escape_xml(&s.description)
        ));
        lines.push(format!(
            "    <location>{}</location>",
            escape_xml(&s.file_path.display().to_string())
        ));
        lines.push("  </skill>".into());
    }
    lines.push("</available_skills>".into());
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests;
