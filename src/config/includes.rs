//! `$include` resolution (spec §6.2): any object holding `$include` (a path or a list of
//! paths, relative to the including file) is replaced by the included JSON5 content;
//! lists deep-merge left to right and sibling keys merge on top.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::json5;
use super::{Located, Location};

/// The original's limit; deeper nesting is almost certainly a mistake.
pub const MAX_DEPTH: usize = 10;

/// Far more than any hand-written config; a bigger file is a wrong path.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a config or include file. Only a regular file of at most [`MAX_FILE_BYTES`]:
/// an `$include` of `/dev/zero`, a FIFO or `/dev/stdin` would otherwise hang the
/// gateway's start or reload, or exhaust its memory.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO without a writer would block before we can look at it.
    // It changes nothing for reading a regular file.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {} MiB", MAX_FILE_BYTES >> 20),
        ));
    }
    Ok(text)
}

/// Reads and parses one file, recording where its keys are (under `prefix`).
pub fn read_file(path: &Path, prefix: &str, locs: &mut Located) -> Result<Value, String> {
    let text = read_text(path).map_err(|e| format!("{e}"))?;
    parse_text(&text, path, prefix, locs)
}

pub fn parse_text(
    text: &str,
    path: &Path,
    prefix: &str,
    locs: &mut Located,
) -> Result<Value, String> {
    let parsed = json5::parse(text).map_err(|e| e.to_string())?;
    for (key_path, pos) in parsed.positions {
        let full = join(prefix, &key_path);
        locs.insert(
            full,
            Location {
                file: path.to_path_buf(),
                line: pos.line,
                col: pos.col,
            },
        );
    }
    Ok(parsed.value)
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{rest}"),
    }
}

/// Resolves every `$include` below `value`. `chain` holds the files being included, to
/// detect cycles; `files` collects every file read (for change detection).
pub fn resolve(
    value: Value,
    file: &Path,
    path: &str,
    chain: &mut Vec<PathBuf>,
    files: &mut Vec<PathBuf>,
    locs: &mut Located,
) -> Result<Value, String> {
    match value {
        Value::Object(map) if map.contains_key("$include") => {
            resolve_include_object(map, file, path, chain, files, locs)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let child = join(path, &k);
                out.insert(k, resolve(v, file, &child, chain, files, locs)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                let child = join(path, &i.to_string());
                out.push(resolve(v, file, &child, chain, files, locs)?);
            }
            Ok(Value::Array(out))
        }
        other => Ok(other),
    }
}

fn resolve_include_object(
    mut map: Map<String, Value>,
    file: &Path,
    path: &str,
    chain: &mut Vec<PathBuf>,
    files: &mut Vec<PathBuf>,
    locs: &mut Located,
) -> Result<Value, String> {
    let spec = map.remove("$include").unwrap_or(Value::Null);
    let targets: Vec<String> = match &spec {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        other => return Err(format!("Invalid $include value: {other}")),
    };
    let base = file.parent().unwrap_or(Path::new("."));
    let mut merged: Option<Value> = None;
    for target in targets {
        let resolved = crate::paths::absolute(&base.join(&target));
        if chain.contains(&resolved) {
            let mut names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
            names.push(resolved.display().to_string());
            return Err(format!("Circular include detected: {}", names.join(" -> ")));
        }
        if chain.len() > MAX_DEPTH {
            return Err(format!(
                "Maximum include depth ({MAX_DEPTH}) exceeded at: {target}"
            ));
        }
        let text = read_text(&resolved).map_err(|e| {
            format!(
                "Failed to read include file: {target} (resolved: {}): {e}",
                resolved.display()
            )
        })?;
        files.push(resolved.clone());
        let value = parse_text(&text, &resolved, path, locs).map_err(|e| {
            format!(
                "Failed to parse include file: {target} (resolved: {}): {e}",
                resolved.display()
            )
        })?;
        chain.push(resolved.clone());
        let value = resolve(value, &resolved, path, chain, files, locs);
        chain.pop();
        let value = value?;
        merged = Some(match merged {
            None => value,
            Some(prev) => deep_merge(prev, value),
        });
    }
    let included = merged.unwrap_or(Value::Object(Map::new()));
    if map.is_empty() {
        return Ok(included);
    }
    if !included.is_object() {
        return Err("Sibling keys require included content to be an object".to_string());
    }
    let siblings = resolve(Value::Object(map), file, path, chain, files, locs)?;
    Ok(deep_merge(included, siblings))
}

/// Deep merge: objects merge key by key, arrays concatenate, scalars: later wins.
pub fn deep_merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut a), Value::Object(b)) => {
            for (k, v) in b {
                let merged = match a.remove(&k) {
                    Some(prev) => deep_merge(prev, v),
                    None => v,
                };
                a.insert(k, merged);
            }
            Value::Object(a)
        }
        (Value::Array(mut a), Value::Array(b)) => {
            a.extend(b);
            Value::Array(a)
        }
        (_, over) => over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_with(include: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("clawdbot.json");
        std::fs::write(&main, format!("{{ $include: {include:?} }}")).unwrap();
        match crate::config::load(&main, &crate::paths::Env::from_pairs([("HOME", "/")])) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn devices_fifos_and_huge_files_are_refused_not_read() {
        let e = load_with("/dev/zero");
        assert!(
            e.contains("Failed to read include file: /dev/zero")
                && e.contains("not a regular file"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = load_with(fifo.to_str().unwrap());
        assert!(e.contains("not a regular file"), "{e}");
        // Another spelling of the same file: a symlink to the device.
        let link = dir.path().join("zero.json5");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = load_with(link.to_str().unwrap());
        assert!(e.contains("not a regular file"), "{e}");
        let big = dir.path().join("big.json5");
        std::fs::write(&big, vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let e = load_with(big.to_str().unwrap());
        assert!(e.contains("larger than 4 MiB"), "{e}");
    }
}
