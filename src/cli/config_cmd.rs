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
            let red = crate::config::schema::redact(&loaded.resolved);
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
    let nix = NixMode::detect(env, &paths.config_path);
    if let Err(e) = crate::config::write::guard(&nix, key) {
        return fail(e);
    }
    let raw = std::fs::read_to_string(&paths.config_path).ok();
    let mut doc = match raw.as_deref().map(crate::config::json5::parse) {
        None => Value::Object(Map::new()),
        Some(Ok(p)) => p.value,
        Some(Err(e)) => return fail(format!("cannot edit {}: {e}", paths.config_path.display())),
    };
    let unset = value.is_none();
    match set_path(&mut doc, key, value) {
        Ok(false) if unset => return fail(format!("Config path not found: {key}")),
        Ok(_) => {}
        Err(e) => return fail(e),
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    if let Err(e) = crate::config::load_text(&paths.config_path, Some(text), env) {
        return fail(format!(
            "Not written: the change would make the config invalid.\n{e}"
        ));
    }
    if let Err(e) = crate::config::write::write_value(&paths.config_path, &mut doc, &nix, key) {
        return fail(e);
    }
    println!(
        "Updated {key} in {}. A running gateway reloads it automatically.",
        paths.config_path.display()
    );
    ExitCode::SUCCESS
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
