//! The `exec` tool: the policy ([`policy`]: what a command means and whether it may
//! run), approvals, a clean environment ([`env`]), and a bounded run through the sandbox:
//! timeout, output cap, its own process group so a timeout kills the children too. In
//! Nix mode a missing program names `services.clawdbot.extraPackages`.

mod env;
mod parse;
pub mod policy;
mod resolve;

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::approvals::{self, Decision};
pub use policy::{Plan, Policy, Verdict};

pub const OUTPUT_CAP: usize = 64 * 1024;

pub struct ExecCtx<'a> {
    pub host: &'a crate::agent::Host,
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
    let rt = ctx.host.config();
    let policy = Policy::from_model(&rt.config);
    if policy.security == "deny" {
        return (
            "exec refused: exec is disabled on this gateway (tools.exec.security=\"deny\")".into(),
            true,
        );
    }
    let path_var = policy.path_var(&std::env::var("PATH").unwrap_or_default());
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let trusted = resolve::trusted_dirs(&policy.path_prepend, home.as_deref());
    let lookup = policy::Lookup {
        path_var: &path_var,
        cwd: ctx.workspace,
        trusted: &trusted,
    };
    let plan = match policy::plan(&policy, command, &lookup) {
        Ok(p) => p,
        Err(why) if !why.is_empty() => return (format!("exec refused: {why}"), true),
        Err(_) => {
            let name = parse::simple_argv(command)
                .ok()
                .and_then(|a| a.into_iter().next())
                .unwrap_or_default();
            return (crate::nix::missing_program(&name, &ctx.host.nix), true);
        }
    };
    if policy.security == "full"
        && let Some(name) = policy::missing_shell_program(command, &path_var)
    {
        return (crate::nix::missing_program(&name, &ctx.host.nix), true);
    }
    let remembered = approvals::load_allowlist(&ctx.host.paths.state_dir);
    match policy::judge(&policy, &plan, &remembered) {
        Verdict::Run => {}
        Verdict::Refuse(why) => return (format!("exec refused: {why}"), true),
        Verdict::Ask => {
            let request = json!({
                "command": command,
                "resolvedPath": plan.program.display().to_string(),
                "argv": plan.argv(),
                "shell": plan.shell,
                "reason": plan.shell_reason,
                "cwd": ctx.workspace.display().to_string(),
                "host": "gateway",
                "agentId": ctx.agent_id,
                "sessionKey": ctx.session_key,
                "security": policy.security,
                "ask": policy.ask,
            });
            let (id, decision) = ctx
                .host
                .agents
                .approvals
                .request(&ctx.host.bus, request, policy.approval_timeout, ctx.cancel)
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
                    if let Err(e) = approvals::remember(&ctx.host.paths.state_dir, &plan.approved())
                    {
                        tracing::warn!(target: "exec", "cannot remember approval for {}: {e}", plan.program.display());
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
    let mut sandbox =
        match crate::sandbox::for_run(&rt.config, ctx.session_key, ctx.workspace, timeout) {
            Ok(p) => p,
            Err(e) => return (format!("exec refused: {e}"), true),
        };
    sandbox.owner = crate::sandbox::owner_of(ctx.host);
    // The eligible skills' `skills.entries.<key>.env`/`apiKey` reach tool processes only,
    // under `tools.exec.env` (which wins).
    let mut extra =
        super::skills::Context::new(ctx.workspace, &ctx.host.paths.state_dir, &rt, &ctx.host.nix)
            .tool_env();
    extra.extend(policy.env.clone());
    let env = env::build(&path_var, ctx.workspace, std::env::vars_os(), &extra);
    spawn_bounded(&plan, env, ctx.workspace, timeout, ctx.cancel, &sandbox).await
}

/// Spawns `plan` through the sandbox with exactly `env`, collects capped output, and
/// kills its process group at `timeout` or on `cancel`.
async fn spawn_bounded(
    plan: &Plan,
    env: Vec<(OsString, OsString)>,
    cwd: &Path,
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
    let inv = crate::sandbox::Invocation {
        program: plan.program.clone(),
        args: plan.args.iter().map(OsString::from).collect(),
        env,
        cwd: cwd.to_path_buf(),
    };
    let mut cmd = match crate::sandbox::command(&inv, sandbox) {
        Ok(c) => c,
        Err(e) => return (format!("exec refused: {e}"), true),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return (
                format!("cannot start {}: {e}", plan.program.display()),
                true,
            );
        }
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
        r = collect => {
            // A sandboxed command cannot outlive its call: whatever it left running in
            // the background (it cannot leave the group: setsid/setpgid are refused) dies.
            if sandbox.enabled {
                kill_group();
            }
            r
        }
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

    fn sh(command: &str) -> Plan {
        Plan {
            program: policy::SHELL.into(),
            args: vec!["-c".into(), command.into()],
            shell: true,
            shell_reason: None,
            trusted: false,
        }
    }

    #[tokio::test]
    async fn bounded_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("PATH").unwrap();
        let env = || vec![(OsString::from("PATH"), OsString::from(&path))];
        let c = tokio_util::sync::CancellationToken::new();
        let t = Duration::from_secs(10);
        let (out, err) = spawn_bounded(
            &sh("echo hi; echo oops >&2"),
            env(),
            dir.path(),
            t,
            &c,
            &Default::default(),
        )
        .await;
        assert!(
            !err && out.contains("hi\n") && out.contains("stderr:\noops"),
            "{out}"
        );
        let (out, err) =
            spawn_bounded(&sh("exit 3"), env(), dir.path(), t, &c, &Default::default()).await;
        assert!(err && out.contains("exit status 3"));
        let short = Duration::from_millis(200);
        let (out, err) = spawn_bounded(
            &sh("sleep 30"),
            env(),
            dir.path(),
            short,
            &c,
            &Default::default(),
        )
        .await;
        assert!(err && out.contains("timed out"), "{out}");
        let (out, _) = spawn_bounded(
            &sh("yes | head -c 200000"),
            env(),
            dir.path(),
            t,
            &c,
            &Default::default(),
        )
        .await;
        assert!(out.contains("[output truncated at 65536 bytes]"));
    }

    #[tokio::test]
    async fn the_child_sees_only_the_environment_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let c = tokio_util::sync::CancellationToken::new();
        let env = vec![
            (OsString::from("PATH"), OsString::from("/nonexistent")),
            (OsString::from("ONLY_THIS"), OsString::from("1")),
        ];
        let plan = sh("export -p");
        let (out, err) = spawn_bounded(
            &plan,
            env,
            dir.path(),
            Duration::from_secs(10),
            &c,
            &Default::default(),
        )
        .await;
        assert!(!err, "{out}");
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|kv| kv.split('=').next().unwrap())
            .filter(|n| !matches!(*n, "PWD" | "OLDPWD" | "SHLVL" | "_"))
            .collect();
        assert_eq!(names, ["ONLY_THIS", "PATH"], "{out}");
    }
}
