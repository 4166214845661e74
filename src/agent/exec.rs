//! The `exec` tool: policy (`tools.exec.security` deny|allowlist|full and `tools.exec.ask`
//! off|on-miss|always, the original's keys), program lookup on the service's PATH (in Nix
//! mode a missing program names `services.clawdbot.extraPackages`), and a bounded run:
//! timeout, output cap, its own process group so a timeout kills the children too.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::approvals::{self, Decision};

pub const OUTPUT_CAP: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub security: String,
    pub ask: String,
    pub safe_bins: Vec<String>,
    pub timeout: Duration,
    pub path_prepend: Vec<String>,
    pub approval_timeout: Duration,
}

impl Policy {
    pub fn from_config(resolved: &Value) -> Policy {
        let e = resolved
            .pointer("/tools/exec")
            .cloned()
            .unwrap_or(json!({}));
        let strs = |k: &str| -> Vec<String> {
            e.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Policy {
            security: e["security"].as_str().unwrap_or("allowlist").to_string(),
            ask: e["ask"].as_str().unwrap_or("on-miss").to_string(),
            safe_bins: strs("safeBins"),
            timeout: Duration::from_secs(e["timeoutSec"].as_u64().unwrap_or(120)),
            path_prepend: strs("pathPrepend"),
            approval_timeout: Duration::from_secs(120),
        }
    }
}

/// What the policy says before anyone is asked.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Run,
    Ask,
    Refuse(String),
}

pub fn judge(policy: &Policy, program: &str, remembered: &[String]) -> Verdict {
    let listed =
        policy.safe_bins.iter().any(|b| b == program) || remembered.iter().any(|b| b == program);
    match (policy.security.as_str(), policy.ask.as_str()) {
        ("deny", _) => Verdict::Refuse(
            "exec is disabled on this gateway (tools.exec.security=\"deny\")".into(),
        ),
        (_, "always") => Verdict::Ask,
        ("full", _) => Verdict::Run,
        (_, _) if listed => Verdict::Run,
        (_, "off") => Verdict::Refuse(format!(
            "`{program}` is not allowed: it is not in tools.exec.safeBins and approvals are off (tools.exec.ask=\"off\")"
        )),
        _ => Verdict::Ask,
    }
}

/// The program a shell command starts with (`FOO=1 git status` → `git`).
pub fn program_of(command: &str) -> String {
    command
        .split_whitespace()
        .find(|w| !w.contains('=') || w.starts_with('='))
        .map(|w| w.rsplit('/').next().unwrap_or(w).to_string())
        .unwrap_or_default()
}

const SHELL_BUILTINS: &[&str] = &[
    "cd", "echo", "printf", "test", "[", "true", "false", "export", "set", "pwd", "exit", "read",
    "for", "if", "while", "case", ":", ".", "type", "command", "kill", "wait", "umask",
];

pub fn find_program(program: &str, path_var: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.exists().then_some(p);
    }
    std::env::split_paths(path_var)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub struct ExecCtx<'a> {
    pub gw: &'a crate::server::state::Gateway,
    pub workspace: &'a Path,
    pub agent_id: &'a str,
    pub session_key: &'a str,
    pub cancel: &'a tokio_util::sync::CancellationToken,
}

/// Runs the tool call; returns (output, is_error).
pub async fn run(ctx: &ExecCtx<'_>, args: &Value) -> (String, bool) {
    let Some(command) = args
        .get("command")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
    else {
        return ("exec needs a non-empty \"command\"".into(), true);
    };
    let rt = ctx.gw.runtime();
    let policy = Policy::from_config(&rt.loaded.resolved);
    let program = program_of(command);
    let mut path_var = std::env::var("PATH").unwrap_or_default();
    if !policy.path_prepend.is_empty() {
        path_var = format!("{}:{path_var}", policy.path_prepend.join(":"));
    }
    if !SHELL_BUILTINS.contains(&program.as_str()) && find_program(&program, &path_var).is_none() {
        return (crate::nix::missing_program(&program, &ctx.gw.nix), true);
    }
    let remembered = approvals::load_allowlist(&ctx.gw.paths.state_dir);
    match judge(&policy, &program, &remembered) {
        Verdict::Run => {}
        Verdict::Refuse(why) => return (format!("exec refused: {why}"), true),
        Verdict::Ask => {
            let request = json!({
                "command": command,
                "cwd": ctx.workspace.display().to_string(),
                "host": "gateway",
                "agentId": ctx.agent_id,
                "sessionKey": ctx.session_key,
                "security": policy.security,
                "ask": policy.ask,
            });
            let (id, decision) = ctx
                .gw
                .agents
                .approvals
                .request(&ctx.gw.bus, request, policy.approval_timeout, ctx.cancel)
                .await;
            match decision {
                Decision::Deny => {
                    return (
                        format!(
                            "exec refused: the operator denied `{command}` (approval {id}), or no one answered in time"
                        ),
                        true,
                    );
                }
                Decision::AllowAlways => {
                    if let Err(e) = approvals::remember(&ctx.gw.paths.state_dir, &program) {
                        tracing::warn!(target: "exec", "cannot remember approval for {program}: {e}");
                    }
                }
                Decision::AllowOnce => {}
            }
        }
    }
    let timeout = args
        .get("timeout")
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .unwrap_or(policy.timeout)
        .min(policy.timeout.max(Duration::from_secs(1)));
    let sandbox =
        match crate::sandbox::for_run(&rt.loaded.config, ctx.session_key, ctx.workspace, timeout) {
            Ok(p) => p,
            Err(e) => return (format!("exec refused: {e}"), true),
        };
    spawn_bounded(
        command,
        ctx.workspace,
        &path_var,
        timeout,
        ctx.cancel,
        &sandbox,
    )
    .await
}

async fn spawn_bounded(
    command: &str,
    cwd: &Path,
    path_var: &str,
    timeout: Duration,
    cancel: &tokio_util::sync::CancellationToken,
    sandbox: &crate::sandbox::Policy,
) -> (String, bool) {
    if let Err(e) = std::fs::create_dir_all(cwd) {
        return (
            format!("cannot create workspace {}: {e}", cwd.display()),
            true,
        );
    }
    // Until the exec policy builds argv and a clean environment itself, the command
    // runs through sh with the gateway's environment (PATH replaced).
    let mut env: Vec<(std::ffi::OsString, std::ffi::OsString)> =
        std::env::vars_os().filter(|(k, _)| k != "PATH").collect();
    env.push(("PATH".into(), path_var.into()));
    let inv = crate::sandbox::Invocation {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), command.into()],
        env,
        cwd: cwd.to_path_buf(),
    };
    let mut cmd = match crate::sandbox::command(&inv, sandbox) {
        Ok(c) => c,
        Err(e) => return (format!("exec refused: {e}"), true),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (format!("cannot start sh: {e}"), true),
    };
    let pid = child.id();
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let collect = async {
        // Keep the first OUTPUT_CAP+1 bytes and drain the rest, so a chatty command
        // never blocks on a full pipe.
        async fn capped(r: &mut (impl tokio::io::AsyncRead + Unpin)) -> Vec<u8> {
            let mut v = Vec::new();
            let _ = r.take(OUTPUT_CAP as u64 + 1).read_to_end(&mut v).await;
            let _ = tokio::io::copy(r, &mut tokio::io::sink()).await;
            v
        }
        let (a, b) = tokio::join!(capped(&mut out), capped(&mut err));
        let status = child.wait().await;
        (a, b, status)
    };
    let kill_group = || {
        if let Some(pid) = pid {
            // SAFETY: kill(2) on the child's own process group (it was spawned with
            // process_group(0), so -pid names exactly it and its descendants).
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    };
    let (a, b, status) = tokio::select! {
        r = collect => r,
        _ = tokio::time::sleep(timeout) => {
            kill_group();
            return (format!("command timed out after {}s and was killed", timeout.as_secs()), true);
        }
        _ = cancel.cancelled() => {
            kill_group();
            return ("command aborted".into(), true);
        }
    };
    let mut text = String::new();
    let mut truncated = false;
    for (label, bytes) in [("", a), ("stderr:\n", b)] {
        if bytes.is_empty() {
            continue;
        }
        truncated |= bytes.len() > OUTPUT_CAP;
        text.push_str(label);
        text.push_str(&String::from_utf8_lossy(
            &bytes[..bytes.len().min(OUTPUT_CAP)],
        ));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if truncated {
        text.push_str(&format!("[output truncated at {OUTPUT_CAP} bytes]\n"));
    }
    match status {
        Ok(s) if s.success() => (
            if text.is_empty() {
                "(no output)".into()
            } else {
                text
            },
            false,
        ),
        Ok(s) => {
            text.push_str(&format!("exit status {}", s.code().unwrap_or(-1)));
            (text, true)
        }
        Err(e) => (format!("{text}wait failed: {e}"), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_table() {
        let mut p = Policy::from_config(&json!({"tools": {"exec": {"safeBins": ["ls"]}}}));
        assert_eq!(judge(&p, "ls", &[]), Verdict::Run);
        assert_eq!(judge(&p, "rm", &[]), Verdict::Ask);
        assert_eq!(judge(&p, "rm", &["rm".into()]), Verdict::Run);
        p.ask = "off".into();
        assert!(
            matches!(judge(&p, "rm", &[]), Verdict::Refuse(m) if m.contains("tools.exec.safeBins"))
        );
        p.security = "deny".into();
        assert!(matches!(judge(&p, "ls", &[]), Verdict::Refuse(_)));
        p.security = "full".into();
        assert_eq!(judge(&p, "rm", &[]), Verdict::Run);
        p.ask = "always".into();
        assert_eq!(judge(&p, "ls", &[]), Verdict::Ask);
        assert_eq!(program_of("FOO=1 /usr/bin/git status"), "git");
    }

    #[tokio::test]
    async fn bounded_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap();
        let c = tokio_util::sync::CancellationToken::new();
        let (out, err) = spawn_bounded(
            "echo hi; echo oops >&2",
            dir.path(),
            &path,
            Duration::from_secs(10),
            &c,
            &Default::default(),
        )
        .await;
        assert!(
            !err && out.contains("hi\n") && out.contains("stderr:\noops"),
            "{out}"
        );
        let (out, err) = spawn_bounded(
            "exit 3",
            dir.path(),
            &path,
            Duration::from_secs(10),
            &c,
            &Default::default(),
        )
        .await;
        assert!(err && out.contains("exit status 3"));
        let (out, err) = spawn_bounded(
            "sleep 30",
            dir.path(),
            &path,
            Duration::from_millis(200),
            &c,
            &Default::default(),
        )
        .await;
        assert!(err && out.contains("timed out"), "{out}");
        let (out, _) = spawn_bounded(
            "yes | head -c 200000",
            dir.path(),
            &path,
            Duration::from_secs(10),
            &c,
            &Default::default(),
        )
        .await;
        assert!(out.contains("[output truncated at 65536 bytes]"));
    }
}
