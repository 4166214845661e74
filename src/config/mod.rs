//! The one config loader, shared by the daemon, `check-config` and the CLI.
//!
//! Pipeline (the original's order, spec §6.2): read JSON5 → `$include` → `env` block →
//! `${VAR}` substitution → strict validation → typed model. Every error carries the key
//! path and, where the parser saw it, the file and line.

pub mod includes;
pub mod json5;
pub mod live;
pub mod model;
pub mod openclaw;
pub mod schema;
pub mod secrets;
pub mod substitute;
pub mod write;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Digest;

use crate::paths::Env;
pub use model::Config;
pub use schema::Issue;

/// Where a key was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

/// Dot path → location, across the main file and its includes.
pub type Located = HashMap<String, Location>;

/// A config problem, formatted for people: path, message and `file:line`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub location: Option<Location>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(loc) = &self.location {
            write!(f, " ({}:{}:{})", loc.file.display(), loc.line, loc.col)?;
        }
        Ok(())
    }
}

/// Why a config could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    /// The file exists but could not be read.
    Read { path: PathBuf, message: String },
    /// JSON5 syntax, `$include` or `${VAR}` problems.
    Parse { path: PathBuf, message: String },
    /// The content does not match the schema.
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { message, .. } | ConfigError::Parse { message, .. } => {
                vec![Problem {
                    path: String::new(),
                    message: message.clone(),
                    location: None,
                }]
            }
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::Parse { path, .. }
            | ConfigError::Invalid { path, .. } => path,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Invalid config at {}:", self.path().display())?;
        for p in self.problems() {
            writeln!(f, "  - {p}")?;
        }
        write!(
            f,
            "Fix the keys above (`clawdbot check-config` re-checks), then retry."
        )
    }
}

impl std::error::Error for ConfigError {}

/// A loaded, validated config and everything the gateway needs to know about its source.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub exists: bool,
    /// The file's text, exactly as on disk (contains secrets: never log it).
    pub raw: Option<String>,
    /// Hex SHA-256 of `raw` (of "" when missing): the base hash for `config.set`.
    pub hash: String,
    /// The main file parsed, before includes and substitution.
    pub parsed: Value,
    /// After includes, the env block and substitution: what was validated.
    pub resolved: Value,
    /// After includes but before `${VAR}` substitution: what clients are shown (see
    /// [`schema::display`]) so an environment value never leaves through `config.get`.
    pub templates: Value,
    pub config: Config,
    pub warnings: Vec<Problem>,
    /// Every file read (main + includes), for change detection.
    pub files: Vec<PathBuf>,
    /// [`fingerprint`] of `files` taken at load time, so a change made right after the
    /// load is still noticed.
    pub fingerprint: String,
    /// The process environment overlaid with the config's `env` block.
    pub env: Env,
}

impl Loaded {
    /// The resolved config as clients may see it: secrets redacted, `${VAR}` values shown
    /// as their reference.
    pub fn display(&self) -> Value {
        schema::display(&self.resolved, Some(&self.templates))
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Loads the config at `path`. A missing file is not an error: the embedded defaults
/// (an empty object) apply.
pub fn load(path: &Path, env: &Env) -> Result<Loaded, ConfigError> {
    let raw = match includes::read_text(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                message: format!("cannot read {}: {e}", path.display()),
            });
        }
    };
    load_text(path, raw, env)
}

/// Loads from text already in hand (used by `config.set` to validate before writing).
pub fn load_text(path: &Path, raw: Option<String>, env: &Env) -> Result<Loaded, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let mut locs = Located::new();
    let parsed = match &raw {
        Some(text) => includes::parse_text(text, path, "", &mut locs).map_err(parse_err)?,
        None => Value::Object(Default::default()),
    };
    if !parsed.is_object() {
        return Err(parse_err(
            "the config must be a JSON5 object ({ ... })".into(),
        ));
    }
    let mut files = vec![path.to_path_buf()];
    let mut chain = vec![crate::paths::absolute(path)];
    let mut resolved =
        includes::resolve(parsed.clone(), path, "", &mut chain, &mut files, &mut locs)
            .map_err(parse_err)?;
    let mut env = env.clone();
    substitute::apply_env_block(&resolved, &mut env);
    let templates = resolved.clone();
    let mut subst_errors = Vec::new();
    substitute::substitute(&mut resolved, &env, "", &mut subst_errors);
    if !subst_errors.is_empty() {
        return Err(parse_err(subst_errors.join("; ")));
    }
    let mut report = schema::validate(&resolved);
    if !report.errors.is_empty()
        && let Some(adapted) = openclaw::adapt(&mut resolved, path)
    {
        report = adapted;
    }
    if let Some(note) = env.names_note() {
        report.warnings.push(Issue {
            path: String::new(),
            message: note,
        });
    }
    let locate = |issue: &Issue| Problem {
        path: issue.path.clone(),
        message: issue.message.clone(),
        location: locate(&locs, &issue.path),
    };
    if !report.errors.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: report.errors.iter().map(locate).collect(),
        });
    }
    let config: Config =
        serde_json::from_value(resolved.clone()).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems: vec![Problem {
                path: String::new(),
                message: format!("config does not fit the gateway's model: {e}"),
                location: None,
            }],
        })?;
    let hash = sha256_hex(raw.as_deref().unwrap_or("").as_bytes());
    let fingerprint = fingerprint(&files);
    Ok(Loaded {
        fingerprint,
        path: path.to_path_buf(),
        exists: raw.is_some(),
        raw,
        hash,
        parsed,
        resolved,
        templates,
        config,
        warnings: report.warnings.iter().map(locate).collect(),
        files,
        env,
    })
}

/// The location of a path, or of its nearest located ancestor (an unknown key inside an
/// object still points at the object when the key itself was not recorded).
fn locate(locs: &Located, path: &str) -> Option<Location> {
    let mut p = path;
    loop {
        if let Some(l) = locs.get(p) {
            return Some(l.clone());
        }
        match p.rfind('.') {
            Some(i) => p = &p[..i],
            None => return None,
        }
    }
}

/// A fingerprint of every file the config was read from (content + the symlink target),
/// used to notice edits and `home-manager switch` re-pointing a symlink.
pub fn fingerprint(files: &[PathBuf]) -> String {
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        if let Ok(target) = std::fs::canonicalize(f) {
            h.update(target.to_string_lossy().as_bytes());
        }
        match std::fs::read(f) {
            Ok(bytes) => h.update(&bytes),
            Err(_) => h.update(b"\0missing"),
        }
    }
    hex::encode(h.finalize())
}
