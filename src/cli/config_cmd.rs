//! `clawdbot config get|set|unset|path`: local edits of the config file. Edits apply to
//! the file as written (includes and `${VAR}` stay as they are), are validated before
//! they are written, and are refused in Nix mode with the option to set instead.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use crate::nix::NixMode;
use crate::paths::{Env, Paths};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file path.
    Path,
    /// Print the value at a dot path of the effective config (secrets redacted).
    Get {
        /// e.g. gateway.port
        key: String,
        /// Print JSON even for strings.
        #[arg(long)]
        json: bool,
    },
    /// Set the value at a dot path (the value is parsed as JSON5, else taken as a string).
    Set { key: String, value: String },
    /// Remove the key at a dot path.
    Unset { key: String },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

pub fn run(args: ConfigArgs, profile: Option<&str>) -> ExitCode {
    let env = Env::from_process();
    let paths = Paths::resolve(&env, profile);
    match args.command {
        ConfigCommand::Path => {
            println!("{}", paths.config_path.display());
            ExitCode::SUCCESS
        }
        ConfigCommand::Get { key, json } => {
            let loaded = match crate::config::load(&paths.config_path, &env) {
                Ok(l) => l,
                Err(e) => return fail(e),
            };
            let red = loaded.display();
            match get_path(&red, &key) {
                Some(Value::String(s)) if !json => println!("{s}"),
                Some(v) => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
                None => return fail(format!("Config path not found: {key}")),
            }
            ExitCode::SUCCESS
        }
        ConfigCommand::Set { key, value } => {
            let v = crate::config::json5::parse(&value)
                .map(|p| p.value)
                .unwrap_or(Value::String(value));
            edit(&paths, &env, &key, Some(v))
        }
        ConfigCommand::Unset { key } => edit(&paths, &env, &key, None),
    }
}

fn get_path<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Sets (or removes, with `None`) a dot path inside an object tree.
pub fn set_path(root: &mut Value, key: &str, value: Option<Value>) -> Result<bool, String> {
    let segs: Vec<&str> = key.split('.').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!("invalid key path {key:?}"));
    }
    let mut cur = root;
    for seg in &segs[..segs.len() - 1] {
        if !cur.is_object() {
            return Err(format!(
                "cannot set {key}: {seg} is inside a non-object value"
            ));
        }
        let map = cur.as_object_mut().ok_or("not an object")?;
        if value.is_none() && !map.contains_key(*seg) {
            return Ok(false);
        }
        cur = map
            .entry(seg.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let last = segs[segs.len() - 1];
    let map = cur
        .as_object_mut()
        .ok_or_else(|| format!("cannot set {key}: its parent is not an object"))?;
    Ok(match value {
        Some(v) => {
            map.insert(last.to_string(), v);
            true
        }
        None => map.remove(last).is_some(),
    })
}

fn edit(paths: &Paths, env: &Env, key: &str, value: Option<Value>) -> ExitCode {
    let unset = value.is_none();
    match edit_config(paths, env, &[(key, value)]) {
        Ok(changed) if unset && !changed => fail(format!("Config path not found: {key}")),
        Ok(_) => {
            println!(
                "Updated {key} in {}. A running gateway reloads it automatically.",
                paths.config_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Applies `(key, value)` edits (`None` removes) to the config file as one validated,
/// atomic write with backups; refused in Nix mode with the option to set instead.
/// Returns whether anything changed. Shared by `config set`, `onboard` and `channels`.
pub fn edit_config(
    paths: &Paths,
    env: &Env,
    edits: &[(&str, Option<Value>)],
) -> Result<bool, String> {
    let nix = NixMode::detect(env, &paths.config_path);
    let first = edits.first().map(|(k, _)| *k).unwrap_or("config");
    crate::config::write::guard(&nix, first).map_err(|e| e.to_string())?;
    let raw = std::fs::read_to_string(&paths.config_path).ok();
    let mut doc = match raw.as_deref().map(crate::config::json5::parse) {
        None => Value::Object(Map::new()),
        Some(Ok(p)) => p.value,
        Some(Err(e)) => return Err(format!("cannot edit {}: {e}", paths.config_path.display())),
    };
    let mut changed = false;
    for (key, value) in edits {
        changed |= set_path(&mut doc, key, value.clone())?;
    }
    if !changed {
        return Ok(false);
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    if let Err(e) = crate::config::load_text(&paths.config_path, Some(text), env) {
        return Err(format!(
            "Not written: the change would make the config invalid.\n{e}"
        ));
    }
    if let Some(dir) = paths.config_path.parent() {
        crate::fsutil::create_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::config::write::write_value(&paths.config_path, &mut doc, &nix, first)
        .map_err(|e| e.to_string())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_and_unset_paths() {
        let mut v = json!({});
        set_path(&mut v, "gateway.auth.mode", Some(json!("token"))).unwrap();
        assert_eq!(v, json!({"gateway": {"auth": {"mode": "token"}}}));
        assert!(set_path(&mut v, "gateway.auth.mode", None).unwrap());
        assert!(!set_path(&mut v, "nope.x", None).unwrap());
        assert!(set_path(&mut v, "gateway..x", Some(json!(1))).is_err());
    }
}
