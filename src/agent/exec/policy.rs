//! What a command means and whether it may run: `tools.exec.security`
//! (`deny` | `allowlist` | `full`) and `tools.exec.ask` (`off` | `on-miss` | `always`),
//! the original's keys.
//!
//! In `allowlist` mode a command is a simple command: its words become an argv that is
//! run by `execve`, never by a shell. A command with shell syntax cannot be a safe-listed
//! one; it is refused, or (when approvals are on) shown to the operator as the
//! `/bin/sh -c …` it would become. In `full` mode the operator chose a shell.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::parse;
use super::resolve::{self, Resolved};
use crate::agent::approvals::Approved;

/// The shell `full` mode (and an approved shell command) runs under.
pub const SHELL: &str = "/bin/sh";

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub security: String,
    pub ask: String,
    pub safe_bins: Vec<String>,
    pub timeout: Duration,
    pub path_prepend: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub approval_timeout: Duration,
}

impl Policy {
    pub fn from_model(cfg: &crate::config::model::Config) -> Policy {
        let e = &cfg.tools.exec;
        Policy {
            security: e.security().to_string(),
            ask: e.ask().to_string(),
            safe_bins: e.safe_bins.clone(),
            timeout: e.timeout(),
            path_prepend: e.path_prepend.clone(),
            env: e.env.clone(),
            approval_timeout: Duration::from_secs(120),
        }
    }

    /// `pathPrepend` + the service's PATH.
    pub fn path_var(&self, service_path: &str) -> String {
        let mut dirs = self.path_prepend.clone();
        if !service_path.is_empty() {
            dirs.push(service_path.to_string());
        }
        dirs.join(":")
    }
}

/// A command turned into what would run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The program file executed (absolute).
    pub program: PathBuf,
    /// argv[1..].
    pub args: Vec<String>,
    /// Runs through `/bin/sh -c` (full mode, or shell syntax the operator may approve).
    pub shell: bool,
    /// Why it is not a simple command, when `shell` in allowlist mode.
    pub shell_reason: Option<String>,
    /// `safeBins` may match it (found on PATH in a trusted directory).
    pub trusted: bool,
}

impl Plan {
    pub fn approved(&self) -> Approved {
        Approved {
            path: self.program.display().to_string(),
            args: self.args.clone(),
        }
    }
    /// The argv as it will run, argv[0] being the program's path.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

/// Where programs are looked up and which locations are trusted.
pub struct Lookup<'a> {
    pub path_var: &'a str,
    pub cwd: &'a std::path::Path,
    pub trusted: &'a [PathBuf],
}

/// Builds the plan; `Err` is a message for the model (program not found, builtin).
pub fn plan(policy: &Policy, command: &str, l: &Lookup<'_>) -> Result<Plan, String> {
    let shell = |reason: Option<String>| Plan {
        program: SHELL.into(),
        args: vec!["-c".into(), command.into()],
        shell: true,
        shell_reason: reason,
        trusted: false,
    };
    if policy.security == "full" {
        return Ok(shell(None));
    }
    let argv = match parse::simple_argv(command) {
        Ok(a) => a,
        Err(why) => return Ok(shell(Some(why))),
    };
    let dirs: Vec<PathBuf> = std::env::split_paths(l.path_var).collect();
    let Some(Resolved { path, trusted, .. }) = resolve::resolve(&argv[0], &dirs, l.cwd, l.trusted)
    else {
        let name = argv[0].as_str();
        if resolve::BUILTINS_WITHOUT_PROGRAM.contains(&name) {
            return Err(format!(
                "`{name}` is a shell builtin; tools.exec.security=\"allowlist\" runs programs without a shell (commands already run in the workspace)"
            ));
        }
        return Err(String::new());
    };
    Ok(Plan {
        program: path,
        args: argv[1..].to_vec(),
        shell: false,
        shell_reason: None,
        trusted,
    })
}

/// For a shell command, the first program it names when that is plainly a program that is
/// not installed (so Nix mode can name the option that adds it instead of the shell's
/// "not found"). Builtins, assignments and anything unusual are left to the shell.
pub fn missing_shell_program(command: &str, path_var: &str) -> Option<String> {
    const SHELL_WORDS: &[&str] = &[
        "echo", "printf", "test", "[", "true", "false", "pwd", "read", "type", "command", "kill",
        "wait", "!", "{", "time",
    ];
    let word = command.split_whitespace().find(|w| !w.contains('='))?;
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if !plain || SHELL_WORDS.contains(&word) || resolve::BUILTINS_WITHOUT_PROGRAM.contains(&word) {
        return None;
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var).collect();
    let found = dirs
        .iter()
        .filter(|d| d.is_absolute())
        .any(|d| d.join(word).is_file());
    (!found).then(|| word.to_string())
}

/// What the policy says before anyone is asked.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Run,
    Ask,
    Refuse(String),
}

pub fn judge(policy: &Policy, plan: &Plan, remembered: &[Approved]) -> Verdict {
    let name = plan
        .program
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    let safe = !plan.shell && plan.trusted && policy.safe_bins.iter().any(|b| b == name);
    let listed = safe || remembered.contains(&plan.approved());
    match (policy.security.as_str(), policy.ask.as_str()) {
        ("deny", _) => Verdict::Refuse(
            "exec is disabled on this gateway (tools.exec.security=\"deny\")".into(),
        ),
        (_, "always") => Verdict::Ask,
        ("full", _) => Verdict::Run,
        _ if listed => Verdict::Run,
        (_, "off") => Verdict::Refuse(match &plan.shell_reason {
            Some(why) => format!(
                "the command contains {why}; tools.exec.security=\"allowlist\" runs one program with its arguments, no shell, and approvals are off (tools.exec.ask=\"off\")"
            ),
            None if policy.safe_bins.iter().any(|b| b == name) => format!(
                "`{}` is not the safe-listed `{name}`: tools.exec.safeBins match only programs found on the exec PATH in a system or Nix directory (or tools.exec.pathPrepend), never a path or a workspace file; approvals are off (tools.exec.ask=\"off\")",
                plan.program.display()
            ),
            None => format!(
                "`{name}` is not allowed: it is not in tools.exec.safeBins and approvals are off (tools.exec.ask=\"off\")"
            ),
        }),
        _ => Verdict::Ask,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    struct Box {
        ws: tempfile::TempDir,
        sys: tempfile::TempDir,
        path: String,
        trusted: Vec<PathBuf>,
    }

    /// A workspace, a trusted dir with `ls`/`echo`/`cat`, and a workspace `ls` that
    /// comes first on PATH when `shadow` is set.
    fn setup(shadow: bool) -> Box {
        let ws = tempfile::tempdir().unwrap();
        let sys = tempfile::tempdir().unwrap();
        for (dir, name) in [
            (sys.path(), "ls"),
            (sys.path(), "echo"),
            (sys.path(), "cat"),
            (ws.path(), "ls"),
            (&ws.path().join("bin"), "ls"),
        ] {
            std::fs::create_dir_all(dir).unwrap();
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut path = sys.path().display().to_string();
        if shadow {
            path = format!("{}:{path}", ws.path().display());
        }
        let trusted = vec![sys.path().to_path_buf()];
        Box {
            ws,
            sys,
            path,
            trusted,
        }
    }

    fn policy(ask: &str) -> Policy {
        Policy {
            security: "allowlist".into(),
            ask: ask.into(),
            safe_bins: vec!["ls".into(), "echo".into()],
            timeout: Duration::from_secs(10),
            path_prepend: vec![],
            env: BTreeMap::new(),
            approval_timeout: Duration::from_secs(1),
        }
    }

    fn verdict(b: &Box, p: &Policy, cmd: &str, remembered: &[Approved]) -> (Verdict, Plan) {
        let l = Lookup {
            path_var: &b.path,
            cwd: b.ws.path(),
            trusted: &b.trusted,
        };
        let plan = plan(p, cmd, &l).expect(cmd);
        (judge(p, &plan, remembered), plan)
    }

    #[test]
    fn allowlist_runs_only_simple_safe_listed_commands() {
        let b = setup(false);
        let off = policy("off");
        for cmd in [
            "ls",
            "ls -la",
            "echo 'a;b'",
            "echo \"a|b\" a\\&b",
            "ls /etc",
        ] {
            let (v, plan) = verdict(&b, &off, cmd, &[]);
            assert_eq!(v, Verdict::Run, "{cmd}");
            assert!(!plan.shell && plan.program.starts_with(b.sys.path()));
        }
        let (_, plan) = verdict(&b, &off, "echo 'a;b'", &[]);
        assert_eq!(plan.args, ["a;b"]);
        for (cmd, why) in [
            ("ls ; cat /etc/passwd", "separator"),
            ("ls && cat /etc/passwd", "&&"),
            ("ls | cat /etc/passwd", "pipe"),
            ("ls $(cat /etc/passwd)", "expansion"),
            ("echo `cat /etc/passwd`", "substitution"),
            ("ls\ncat /etc/passwd", "line break"),
            ("PATH=/x:$PATH ls", "assignment"),
            ("ls /etc/*", "glob"),
            ("ls >/tmp/out", "redirection"),
            ("ls ~", "home-directory"),
            ("./bin/ls", "never a path"),
            ("bin/ls", "never a path"),
            ("cat /etc/passwd", "not in tools.exec.safeBins"),
        ] {
            let (v, _) = verdict(&b, &off, cmd, &[]);
            assert!(
                matches!(&v, Verdict::Refuse(m) if m.contains(why)),
                "{cmd}: {v:?}"
            );
        }
        // A workspace file named `ls` earlier in PATH is not the safe-listed `ls`.
        let s = setup(true);
        let (v, plan) = verdict(&s, &off, "ls", &[]);
        assert!(plan.program.starts_with(s.ws.path()));
        assert!(
            matches!(&v, Verdict::Refuse(m) if m.contains("workspace file")),
            "{v:?}"
        );
    }

    #[test]
    fn on_miss_asks_with_the_command_as_it_will_run() {
        let b = setup(false);
        let p = policy("on-miss");
        let (v, plan) = verdict(&b, &p, "ls ; cat /etc/passwd", &[]);
        assert_eq!(v, Verdict::Ask);
        assert!(plan.shell && plan.shell_reason.is_some());
        assert_eq!(plan.argv(), ["/bin/sh", "-c", "ls ; cat /etc/passwd"]);
        let (v, plan) = verdict(&b, &p, "cat /etc/passwd", &[]);
        assert_eq!(v, Verdict::Ask);
        assert_eq!(plan.argv()[1..], ["/etc/passwd"]);
        assert_eq!(plan.program, b.sys.path().join("cat"));
    }

    #[test]
    fn allow_always_approves_the_exact_argv_only() {
        let b = setup(false);
        let mut p = policy("on-miss");
        p.safe_bins.clear();
        let (_, la) = verdict(&b, &p, "ls -la", &[]);
        let remembered = [la.approved()];
        assert_eq!(verdict(&b, &p, "ls -la", &remembered).0, Verdict::Run);
        assert_eq!(verdict(&b, &p, "ls  '-la'", &remembered).0, Verdict::Run);
        for cmd in [
            "ls /etc",
            "ls -la /etc",
            "ls",
            "ls && cat /etc/passwd",
            "ls -la;id",
        ] {
            assert_eq!(verdict(&b, &p, cmd, &remembered).0, Verdict::Ask, "{cmd}");
        }
        // The same argv of another file (the workspace `ls` first on PATH) asks again.
        let s = setup(true);
        let (_, sys_la) = verdict(&b, &p, "ls -la", &[]);
        assert_eq!(
            verdict(&s, &p, "ls -la", &[sys_la.approved()]).0,
            Verdict::Ask
        );
    }

    #[test]
    fn deny_full_and_always() {
        let b = setup(false);
        let mut p = policy("on-miss");
        p.security = "deny".into();
        assert!(matches!(verdict(&b, &p, "ls", &[]).0, Verdict::Refuse(m) if m.contains("deny")));
        p.security = "full".into();
        let (v, plan) = verdict(&b, &p, "ls | wc -l", &[]);
        assert_eq!(v, Verdict::Run);
        assert_eq!(plan.argv(), ["/bin/sh", "-c", "ls | wc -l"]);
        p.ask = "always".into();
        assert_eq!(verdict(&b, &p, "ls", &[]).0, Verdict::Ask);
        p.security = "allowlist".into();
        assert_eq!(verdict(&b, &p, "ls", &[]).0, Verdict::Ask);
    }

    #[test]
    fn a_missing_program_in_a_shell_command_is_named() {
        let b = setup(false);
        assert_eq!(
            missing_shell_program("FOO=1 ffmpeg-nope -i x | cat", &b.path).as_deref(),
            Some("ffmpeg-nope")
        );
        for cmd in ["ls | wc", "echo $(x)", "cd /tmp && ls", "$(x)", "./x"] {
            assert_eq!(missing_shell_program(cmd, &b.path), None, "{cmd}");
        }
    }

    #[test]
    fn builtins_without_a_program_are_explained() {
        let b = setup(false);
        let l = Lookup {
            path_var: &b.path,
            cwd: b.ws.path(),
            trusted: &b.trusted,
        };
        let e = plan(&policy("off"), "cd /tmp", &l).unwrap_err();
        assert!(e.contains("shell builtin"), "{e}");
        assert_eq!(plan(&policy("off"), "nonesuch", &l).unwrap_err(), "");
    }
}
