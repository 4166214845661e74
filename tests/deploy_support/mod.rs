//! Shared helpers of the deployment tests (deploy_*.rs): repository files, tool lookup
//! (shellcheck, hadolint, python3 YAML/TOML), the real CLI parser, and the Dockerfile
//! reader.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use clawdbot::cli::{Cli, Command as Sub};
use serde_json::Value;

// --- helpers -------------------------------------------------------------------------------

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn tools_required() -> bool {
    std::env::var("CLAWDBOT_REQUIRE_DEPLOY_TOOLS").as_deref() == Ok("1")
}

/// A tool or module is missing: a failure when required, else a SKIP line.
pub fn missing(what: &str) {
    assert!(
        !tools_required(),
        "{what} is required (CLAWDBOT_REQUIRE_DEPLOY_TOOLS=1); ./scripts/test.sh installs it"
    );
    eprintln!("SKIP: {what} not available (set CLAWDBOT_REQUIRE_DEPLOY_TOOLS=1 to require it)");
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.is_file()
                && p.metadata()
                    .is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
        })
}

pub fn output(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parses a YAML or TOML file with python3 (PyYAML / tomllib) into JSON; None = skipped.
pub fn parse_with_python(kind: &str, path: &Path) -> Option<Value> {
    let script = match kind {
        "yaml" => {
            "import json, sys, yaml\njson.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"
        }
        "toml" => concat!(
            "import json, sys\ntry:\n    import tomllib\nexcept ImportError:\n    import tomli as tomllib\n",
            "json.dump(tomllib.load(open(sys.argv[1], 'rb')), sys.stdout)"
        ),
        _ => unreachable!(),
    };
    let Some(py) = which("python3") else {
        missing("python3");
        return None;
    };
    let out = output(Command::new(py).arg("-c").arg(script).arg(path));
    let err = text(&out.stderr);
    if !out.status.success() && (err.contains("ModuleNotFoundError") || err.contains("ImportError"))
    {
        missing(&format!("a python3 {kind} parser (PyYAML / tomllib)"));
        return None;
    }
    assert!(
        out.status.success(),
        "{} does not parse as {kind}:\n{err}",
        path.display()
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// What our CLI's parser makes of an argv (argv[0] is the program); panics if rejected.
pub fn parse_cli<S: AsRef<str>>(argv: &[S]) -> Cli {
    let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
    Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("`{}` is rejected by our CLI:\n{e}", argv.join(" ")))
}

/// (bind, port, --allow-unconfigured) of a `clawdbot gateway ...` command line.
pub fn gateway_flags<S: AsRef<str>>(argv: &[S]) -> (String, String, bool) {
    match parse_cli(argv).command {
        Sub::Gateway(g) => {
            assert!(g.command.is_none(), "not the gateway run form");
            let r = g.run;
            (
                r.bind.map(|b| b.as_str().to_string()).unwrap_or_default(),
                r.port.unwrap_or_default(),
                r.allow_unconfigured,
            )
        }
        other => panic!("not a gateway command: {other:?}"),
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

/// Compose-style interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err},
/// ${VAR?err}, $$. Variables come from `env`; a missing required one is an error.
pub fn interpolate(s: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
            continue;
        }
        let Some(body_end) = rest.strip_prefix("${").and_then(|r| r.find('}')) else {
            return Err(format!("unsupported `$` in {s:?}"));
        };
        let body = &rest[2..2 + body_end];
        rest = &rest[3 + body_end..];
        let name_end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, op) = body.split_at(name_end);
        let val = env.get(name).map(String::as_str);
        let v = match op {
            "" => val.unwrap_or("").to_string(),
            _ if op.starts_with(":-") => val
                .filter(|v| !v.is_empty())
                .unwrap_or(&op[2..])
                .to_string(),
            _ if op.starts_with('-') => val.unwrap_or(&op[1..]).to_string(),
            _ if op.starts_with(":?") => match val.filter(|v| !v.is_empty()) {
                Some(v) => v.to_string(),
                None => return Err(format!("{name}: {}", &op[2..])),
            },
            _ if op.starts_with('?') => match val {
                Some(v) => v.to_string(),
                None => return Err(format!("{name}: {}", &op[1..])),
            },
            _ => return Err(format!("unsupported interpolation ${{{body}}}")),
        };
        out.push_str(&v);
    }
    out.push_str(rest);
    Ok(out)
}

/// The names of all ${VAR...} references in a text.
pub fn referenced_vars(s: &str) -> Vec<(String, String)> {
    let mut v = vec![];
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        rest = &rest[i + 2..];
        let end = rest.find('}').unwrap_or(rest.len());
        let body = &rest[..end];
        let name_end = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        v.push((body[..name_end].to_string(), body[name_end..].to_string()));
        rest = &rest[end..];
    }
    v
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn hex_token() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    hex::encode(b)
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// GET a path over plain HTTP/1.1; the status code, or None when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// A process stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Running(pub Child);

impl Running {
    pub fn stop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(8) {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

// --- the Dockerfile ------------------------------------------------------------------------

#[derive(Debug)]
pub struct Instr {
    pub line: usize,
    pub keyword: String,
    pub args: String,
}

/// Instructions with continuation lines joined and comments dropped (as Docker reads them).
pub fn dockerfile() -> Vec<Instr> {
    let mut v: Vec<Instr> = vec![];
    let mut cur: Option<Instr> = None;
    for (i, raw) in read("Dockerfile").lines().enumerate() {
        let t = raw.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_none()) {
            continue;
        }
        let (body, cont) = match t.strip_suffix('\\') {
            Some(b) => (b.trim(), true),
            None => (t, false),
        };
        match cur.as_mut() {
            Some(c) => {
                c.args.push(' ');
                c.args.push_str(body);
            }
            None => {
                let (k, a) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
                cur = Some(Instr {
                    line: i + 1,
                    keyword: k.to_ascii_uppercase(),
                    args: a.trim().to_string(),
                });
            }
        }
        if !cont {
            v.extend(cur.take());
        }
    }
    v.extend(cur.take());
    v
}

/// (name, base, instructions) per stage.
pub fn stages(instrs: &[Instr]) -> Vec<(String, String, Vec<&Instr>)> {
    let mut v: Vec<(String, String, Vec<&Instr>)> = vec![];
    for i in instrs {
        if i.keyword == "FROM" {
            let w: Vec<&str> = i
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--platform"))
                .collect();
            let name = match w.as_slice() {
                [_, as_, n] if as_.eq_ignore_ascii_case("as") => n.to_string(),
                _ => String::new(),
            };
            v.push((name, w[0].to_string(), vec![]));
        } else if let Some(s) = v.last_mut() {
            s.2.push(i);
        }
    }
    v
}

pub fn exec_form(args: &str, what: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{what} must be in exec (JSON) form: {args}: {e}"));
    strings(&v)
}

pub fn last<'a>(stage: &[&'a Instr], keyword: &str) -> Option<&'a Instr> {
    stage.iter().rev().find(|i| i.keyword == keyword).copied()
}

/// The final image's HEALTHCHECK command (exec form).
pub fn dockerfile_healthcheck() -> Vec<String> {
    let instrs = dockerfile();
    let st = stages(&instrs);
    let hc = last(&st.last().unwrap().2, "HEALTHCHECK").expect("the image has a HEALTHCHECK");
    let (_, cmd) = hc
        .args
        .split_once("CMD ")
        .expect("HEALTHCHECK ... CMD [...]");
    exec_form(cmd.trim(), "HEALTHCHECK")
}

pub fn dockerfile_cmd() -> Vec<String> {
    let instrs = dockerfile();
    let st = stages(&instrs);
    exec_form(
        &last(&st.last().unwrap().2, "CMD")
            .expect("the image has a CMD")
            .args,
        "CMD",
    )
}

pub fn dockerfile_env() -> BTreeMap<String, String> {
    let instrs = dockerfile();
    let st = stages(&instrs);
    st.last()
        .unwrap()
        .2
        .iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| {
            i.args
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV in KEY=value form: {kv}"));
            (k.to_string(), v.to_string())
        })
        .collect()
}
