//! Where tool processes run. Every process a tool starts goes through [`command`]: the
//! exec policy decides *what* runs (an absolute program, an argv, a complete environment)
//! and this module decides *where and within which limits* it runs.
//!
//! This file is the contract between the two; the mechanism (Landlock, seccomp, rlimits,
//! namespaces) lives beside it.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

/// One process to start, exactly as it will run (nothing is inherited from the gateway).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Absolute path of the program, already resolved and judged by the exec policy.
    pub program: PathBuf,
    /// argv[1..].
    pub args: Vec<OsString>,
    /// The complete environment of the child.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (the agent's workspace).
    pub cwd: PathBuf,
}

/// The sandbox settings for one run (built from `agents.defaults.sandbox`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {}

/// A command ready to spawn: stdin null, stdout/stderr piped, its own process group,
/// killed on drop, environment cleared and replaced by `inv.env`.
pub fn command(inv: &Invocation, _policy: &Policy) -> Result<tokio::process::Command, String> {
    let mut cmd = tokio::process::Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    Ok(cmd)
}
