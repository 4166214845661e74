//! The agent's tools. File tools are confined to the workspace (no absolute paths
//! outside it, no `..`, no symlink escapes); `exec` follows the approval policy;
//! `web_fetch` is size-capped. `tools.allow` / `tools.deny` pick which are offered.

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use crate::llm::ToolSpec;

const READ_CAP: usize = 256 * 1024;
const FETCH_BYTES_CAP: usize = 2 * 1024 * 1024;

pub fn all_specs() -> Vec<ToolSpec> {
    let t = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.into(),
        description: description.into(),
        parameters,
    };
    vec![
        t(
            "read",
            "Read a text file in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line (1-based)"}, "limit": {"type": "integer", "description": "number of lines"}}, "required": ["path"]}),
        ),
        t(
            "write",
            "Create or overwrite a file in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}, "required": ["path", "content"]}),
        ),
        t(
            "edit",
            "Replace one exact, unique occurrence of oldText with newText in a workspace file.",
            json!({"type": "object", "properties": {"path": {"type": "string"}, "oldText": {"type": "string"}, "newText": {"type": "string"}}, "required": ["path", "oldText", "newText"]}),
        ),
        t(
            "ls",
            "List a directory in the workspace.",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        ),
        t(
            "exec",
            "Run a shell command in the workspace (subject to the operator's approval policy).",
            json!({"type": "object", "properties": {"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds"}}, "required": ["command"]}),
        ),
        t(
            "web_fetch",
            "Fetch a URL over HTTP(S) and return its text (size-capped).",
            json!({"type": "object", "properties": {"url": {"type": "string"}, "maxChars": {"type": "integer"}}, "required": ["url"]}),
        ),
    ]
}

fn names(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

/// The tools offered under the current config.
pub fn specs(resolved: &Value) -> Vec<ToolSpec> {
    let allow = names(resolved.pointer("/tools/allow"));
    let deny = names(resolved.pointer("/tools/deny")).unwrap_or_default();
    let fetch_on = resolved
        .pointer("/tools/web/fetch/enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    all_specs()
        .into_iter()
        .filter(|s| allow.as_ref().is_none_or(|a| a.contains(&s.name)))
        .filter(|s| !deny.contains(&s.name))
        .filter(|s| s.name != "web_fetch" || fetch_on)
        .collect()
}

/// Resolves `p` inside `root`, refusing anything that leaves it.
pub fn confine(root: &Path, p: &str) -> Result<PathBuf, String> {
    let rel = Path::new(p);
    let joined = if rel.is_absolute() {
        rel.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut norm = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                norm.pop();
            }
            Component::CurDir => {}
            other => norm.push(other),
        }
    }
    let outside = || format!("path {p} is outside the workspace ({})", root.display());
    if !norm.starts_with(root) {
        return Err(outside());
    }
    // Symlinks: the deepest existing ancestor must still be inside the real root.
    let real_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut probe = norm.clone();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    if let Ok(real) = probe.canonicalize()
        && !real.starts_with(&real_root)
    {
        return Err(outside());
    }
    Ok(norm)
}

fn arg<'a>(args: &'a Value, k: &str) -> Result<&'a str, String> {
    args.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string argument \"{k}\""))
}

/// Runs a tool; returns (output, is_error).
pub async fn call(
    ctx: &super::exec::ExecCtx<'_>,
    http: &reqwest::Client,
    name: &str,
    args: &Value,
) -> (String, bool) {
    let root = ctx.workspace;
    let r: Result<String, String> = match name {
        "read" => read(root, args),
        "write" => (|| {
            let path = confine(root, arg(args, "path")?)?;
            let content = arg(args, "content")?;
            crate::fsutil::write_atomic(&path, content.as_bytes(), 0o644)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(format!(
                "wrote {} bytes to {}",
                content.len(),
                arg(args, "path")?
            ))
        })(),
        "edit" => edit(root, args),
        "ls" => ls(root, args),
        "exec" => return super::exec::run(ctx, args).await,
        "web_fetch" => fetch(http, args, &ctx.gw.runtime().loaded.resolved).await,
        other => Err(format!("unknown tool: {other}")),
    };
    match r {
        Ok(s) => (s, false),
        Err(e) => (e, true),
    }
}

fn read(root: &Path, args: &Value) -> Result<String, String> {
    let path = confine(root, arg(args, "path")?)?;
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("cannot read {}: {e}", arg(args, "path").unwrap_or("")))?;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(READ_CAP)]).into_owned();
    let offset = args
        .get("offset")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|n| n as usize);
    let lines: Vec<&str> = text.lines().skip(offset - 1).collect();
    let lines = match limit {
        Some(l) => &lines[..l.min(lines.len())],
        None => &lines[..],
    };
    let mut out = lines.join("\n");
    if bytes.len() > READ_CAP {
        out.push_str(&format!("\n[file truncated at {READ_CAP} bytes]"));
    }
    Ok(out)
}

fn edit(root: &Path, args: &Value) -> Result<String, String> {
    let path = confine(root, arg(args, "path")?)?;
    let old = arg(args, "oldText")?;
    let new = arg(args, "newText")?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", arg(args, "path").unwrap_or("")))?;
    match text.matches(old).count() {
        0 => Err("oldText was not found in the file".into()),
        1 => {
            let out = text.replacen(old, new, 1);
            crate::fsutil::write_atomic(&path, out.as_bytes(), 0o644)
                .map_err(|e| format!("cannot write: {e}"))?;
            Ok("edited".into())
        }
        n => Err(format!(
            "oldText occurs {n} times; include more context so it is unique"
        )),
    }
}

fn ls(root: &Path, args: &Value) -> Result<String, String> {
    let p = args.get("path").and_then(Value::as_str).unwrap_or(".");
    let path = confine(root, p)?;
    let mut names: Vec<String> = std::fs::read_dir(&path)
        .map_err(|e| format!("cannot list {p}: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| {
            let mut n = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                n.push('/');
            }
            n
        })
        .collect();
    names.sort();
    Ok(if names.is_empty() {
        "(empty)".into()
    } else {
        names.join("\n")
    })
}

async fn fetch(http: &reqwest::Client, args: &Value, resolved: &Value) -> Result<String, String> {
    let url = arg(args, "url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("only http:// and https:// URLs can be fetched".into());
    }
    let max_chars = args
        .get("maxChars")
        .and_then(Value::as_u64)
        .or_else(|| {
            resolved
                .pointer("/tools/web/fetch/maxChars")
                .and_then(Value::as_u64)
        })
        .unwrap_or(50_000) as usize;
    let timeout = resolved
        .pointer("/tools/web/fetch/timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(30);
    let mut resp = http
        .get(url)
        .timeout(std::time::Duration::from_secs(timeout))
        .send()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > FETCH_BYTES_CAP {
            body.truncate(FETCH_BYTES_CAP);
            break;
        }
    }
    let text = String::from_utf8_lossy(&body);
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push_str(&format!("\n[truncated at {max_chars} characters]"));
    }
    if !status.is_success() {
        return Err(format!("HTTP {}: {out}", status.as_u16()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(confine(&root, "a/b.txt").unwrap(), root.join("a/b.txt"));
        assert!(confine(&root, "../x").is_err());
        assert!(confine(&root, "/etc/passwd").is_err());
        assert!(confine(&root, "a/../../x").is_err());
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        assert!(
            confine(&root, "link/passwd")
                .unwrap_err()
                .contains("outside the workspace")
        );
        let f = root.join("f.txt");
        std::fs::write(&f, "one two two").unwrap();
        assert!(
            edit(
                &root,
                &json!({"path": "f.txt", "oldText": "two", "newText": "3"})
            )
            .unwrap_err()
            .contains("2 times")
        );
        edit(
            &root,
            &json!({"path": "f.txt", "oldText": "one", "newText": "1"}),
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1 two two");
        assert_eq!(read(&root, &json!({"path": "f.txt"})).unwrap(), "1 two two");
        assert!(ls(&root, &json!({})).unwrap().contains("f.txt"));
        let only =
            specs(&json!({"tools": {"deny": ["exec"], "web": {"fetch": {"enabled": false}}}}));
        let names: Vec<_> = only.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["read", "write", "edit", "ls"]);
    }
}
