//! Shell scripts: shellcheck on every one, and `docker-setup.sh` run for real (with
//! `--dry-run`, and with a stand-in `docker` that records its calls).
#![allow(unused_imports)]

mod deploy_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use clawdbot::cli::{Cli, Command as Sub};
use deploy_support::*;
use serde_json::Value;

// --- shell scripts -------------------------------------------------------------------------

/// Every *.sh tracked by git or new (not ignored); without git, every *.sh outside target/.
fn shell_scripts() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
            "--",
            "*.sh",
        ])
        .current_dir(repo())
        .output();
    let mut v: Vec<PathBuf> = match out {
        Ok(o) if o.status.success() => o
            .stdout
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| repo().join(String::from_utf8_lossy(s).as_ref()))
            .filter(|p| p.is_file())
            .collect(),
        _ => {
            let mut v = vec![];
            let mut stack = vec![repo()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).unwrap() {
                    let p = e.unwrap().path();
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    if p.is_dir() && name != "target" && name != ".git" {
                        stack.push(p);
                    } else if name.ends_with(".sh") {
                        v.push(p);
                    }
                }
            }
            v
        }
    };
    v.sort();
    v.dedup();
    v
}

#[test]
fn shellcheck_passes_on_docker_setup_at_every_severity() {
    let Some(sc) = which("shellcheck") else {
        return missing("shellcheck (apt install shellcheck)");
    };
    let out = output(
        Command::new(sc)
            .args(["--severity=style", "--shell=bash"])
            .arg(repo().join("docker-setup.sh")),
    );
    assert!(
        out.status.success(),
        "shellcheck docker-setup.sh:\n{}",
        text(&out.stdout)
    );
    let m = std::fs::metadata(repo().join("docker-setup.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert!(
        m & 0o111 != 0,
        "docker-setup.sh is executable (the guide runs ./docker-setup.sh)"
    );
}

#[test]
fn shellcheck_passes_on_every_shell_script() {
    let Some(sc) = which("shellcheck") else {
        return missing("shellcheck (apt install shellcheck)");
    };
    let scripts = shell_scripts();
    assert!(
        scripts.iter().any(|p| p.ends_with("docker-setup.sh")),
        "{scripts:?}"
    );
    assert!(
        scripts.iter().any(|p| p.ends_with("scripts/test.sh")),
        "{scripts:?}"
    );
    let mut failures = vec![];
    for s in &scripts {
        let out = output(Command::new(&sc).arg("--severity=warning").arg(s));
        if !out.status.success() {
            failures.push(text(&out.stdout));
        }
    }
    assert!(
        failures.is_empty(),
        "shellcheck (errors and warnings) on {} scripts:\n{}",
        scripts.len(),
        failures.join("\n")
    );
}

// --- docker-compose.yml --------------------------------------------------------------------
// --- docker-setup.sh -----------------------------------------------------------------------

struct Setup {
    tmp: tempfile::TempDir,
}

impl Setup {
    /// A temp dir with a copy of the script and the compose file (as a checkout has them),
    /// a HOME, and a stand-in `docker` that records its arguments.
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let s = Setup { tmp };
        std::fs::create_dir_all(s.root()).unwrap();
        std::fs::create_dir_all(s.home()).unwrap();
        std::fs::create_dir_all(s.p("bin")).unwrap();
        for f in ["docker-setup.sh", "docker-compose.yml", "Dockerfile"] {
            std::fs::copy(repo().join(f), s.root().join(f)).unwrap();
        }
        let fake = s.p("bin/docker");
        std::fs::write(
            &fake,
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >>\"$FAKE_DOCKER_LOG\"\nprintf '%s\\n' \"${CLAWDBOT_GATEWAY_TOKEN:-}\" >\"$FAKE_DOCKER_LOG.token\"\nexit 0\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        s
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }
    fn root(&self) -> PathBuf {
        self.p("checkout")
    }
    fn home(&self) -> PathBuf {
        self.p("home")
    }
    fn log(&self) -> PathBuf {
        self.p("docker.log")
    }
    fn docker_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    /// Runs the script with only the given settings in the environment.
    fn run(&self, args: &[&str], settings: &[(&str, &str)]) -> (bool, String, String) {
        let path = format!(
            "{}:{}",
            self.p("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = output(
            Command::new("bash")
                .arg(self.root().join("docker-setup.sh"))
                .args(args)
                .current_dir(self.tmp.path())
                .env_clear()
                .env("PATH", path)
                .env("HOME", self.home())
                .env("FAKE_DOCKER_LOG", self.log())
                .envs(settings.iter().copied()),
        );
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }
}

/// KEY=value lines of a .env (quotes removed).
fn dotenv(p: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

/// The commands the script printed (`+ ...` lines), without the `+ `.
fn printed_commands(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .collect()
}

#[test]
fn docker_setup_dry_run_writes_env_and_overrides_only_to_its_dir_and_keeps_the_token() {
    let s = Setup::new();
    let out_dir = s.p("dry");
    let codex = s.p("codex").display().to_string();
    let mounts = format!(" {codex}:/home/node/.codex:ro , ~/github:/home/node/github:rw,");
    let cfg = s.p("cfg").display().to_string();
    let ws = s.p("ws").display().to_string();
    let settings = [
        ("CLAWDBOT_DRY_RUN_DIR", out_dir.to_str().unwrap()),
        ("CLAWDBOT_EXTRA_MOUNTS", mounts.as_str()),
        ("CLAWDBOT_HOME_VOLUME", "clawdbot_home"),
        ("CLAWDBOT_DOCKER_APT_PACKAGES", "ffmpeg  git"),
        ("CLAWDBOT_GATEWAY_PORT", "28789"),
        ("CLAWDBOT_CONFIG_DIR", cfg.as_str()),
        ("CLAWDBOT_WORKSPACE_DIR", ws.as_str()),
    ];
    let (ok, stdout, stderr) = s.run(&["--dry-run"], &settings);
    assert!(ok, "dry run failed:\n{stdout}\n{stderr}");

    // .env: private, complete, a 64-hex token that is never printed.
    let env_file = out_dir.join(".env");
    assert_eq!(mode(&env_file), 0o600, ".env mode");
    let env = dotenv(&env_file);
    let token = env["CLAWDBOT_GATEWAY_TOKEN"].clone();
    assert!(
        is_hex64(&token),
        "token is 64 hex chars: {} chars",
        token.len()
    );
    assert!(
        !stdout.contains(&token) && !stderr.contains(&token),
        "the token is never printed"
    );
    assert!(
        stdout.contains("CLAWDBOT_GATEWAY_TOKEN=<redacted: 64 characters>"),
        "{stdout}"
    );
    assert_eq!(env["CLAWDBOT_IMAGE"], "clawdbot:local");
    assert_eq!(env["CLAWDBOT_GATEWAY_BIND"], "lan");
    assert_eq!(env["CLAWDBOT_GATEWAY_PORT"], "28789");
    assert_eq!(env["CLAWDBOT_CONFIG_DIR"], cfg);
    assert_eq!(env["CLAWDBOT_WORKSPACE_DIR"], ws);
    assert_eq!(env["CLAWDBOT_HOME_VOLUME"], "clawdbot_home");
    assert_eq!(env["CLAWDBOT_DOCKER_APT_PACKAGES"], "ffmpeg git");
    // Every variable compose requires (${VAR:?...}) is in it.
    for (name, op) in referenced_vars(&read("docker-compose.yml")) {
        if op.starts_with(":?") {
            assert!(
                env.get(&name).is_some_and(|v| !v.is_empty()),
                ".env lacks {name}, which compose requires"
            );
        }
    }

    // The override: the extra mounts and the home volume on both services.
    let extra = out_dir.join("docker-compose.extra.yml");
    assert!(
        stdout.contains(&format!("--- {}", extra.display())),
        "the override is printed"
    );
    let expected = [
        "clawdbot_home:/home/node".to_string(),
        format!("{codex}:/home/node/.codex:ro"),
        format!("{}/github:/home/node/github:rw", s.home().display()),
    ];
    if let Some(y) = parse_with_python("yaml", &extra) {
        for svc in ["clawdbot-gateway", "clawdbot-cli"] {
            assert_eq!(strings(&y["services"][svc]["volumes"]), expected, "{svc}");
        }
        assert!(
            y["volumes"]
                .as_object()
                .unwrap()
                .contains_key("clawdbot_home"),
            "the named volume is declared"
        );
        assert_eq!(
            y["volumes"]["clawdbot_home"]["name"], "clawdbot_home",
            "the volume keeps its name (no <project>_ prefix)"
        );
    }

    // The commands: build with the packages, onboarding in the CLI container, the gateway.
    let root = s.root().display().to_string();
    let compose =
        format!("docker compose -f {root}/docker-compose.yml -f {root}/docker-compose.extra.yml");
    let cmds = printed_commands(&stdout);
    let pos = |want: &str| {
        cmds.iter()
            .position(|c| *c == want)
            .unwrap_or_else(|| panic!("`{want}` not in {cmds:#?}"))
    };
    let build = pos(&format!(
        "docker build --build-arg CLAWDBOT_DOCKER_APT_PACKAGES=ffmpeg\\ git -t clawdbot:local -f {root}/Dockerfile {root}"
    ));
    // -T: the test has no terminal on stdin, so compose run gets no pseudo-TTY.
    let onboard_cmd = format!(
        "{compose} run --rm -T clawdbot-cli onboard --non-interactive --gateway-bind lan --gateway-port 18789"
    );
    let onboard = pos(&onboard_cmd);
    let up = pos(&format!("{compose} up -d clawdbot-gateway"));
    let mkdir = pos(&format!("mkdir -p {cfg} {ws}"));
    assert!(
        mkdir < build && build < onboard && onboard < up,
        "{cmds:#?}"
    );
    // The onboarding command line is one our CLI accepts.
    let args: Vec<&str> = onboard_cmd
        .split(" clawdbot-cli ")
        .nth(1)
        .unwrap()
        .split(' ')
        .collect();
    assert!(matches!(
        parse_cli(&[&["clawdbot"], &args[..]].concat()).command,
        Sub::Onboard(_)
    ));
    assert!(
        stdout.contains("http://127.0.0.1:28789/"),
        "prints the URL:\n{stdout}"
    );
    assert!(
        stdout.contains("run --rm clawdbot-cli dashboard"),
        "says how to get the tokenized link"
    );
    assert!(
        stdout.contains("exec clawdbot-gateway clawdbot health"),
        "says how to check it"
    );

    // Nothing else was touched: no docker, no directories, nothing beside the script.
    assert!(
        s.docker_calls().is_empty(),
        "docker was called in a dry run: {:?}",
        s.docker_calls()
    );
    assert!(
        !Path::new(&cfg).exists() && !Path::new(&ws).exists(),
        "a dry run creates no directories"
    );
    let mut beside: Vec<String> = std::fs::read_dir(s.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["Dockerfile", "docker-compose.yml", "docker-setup.sh"]
    );

    // Again, with only the dry-run dir set: same token and settings; lines the user added
    // to .env are kept and, being secrets, never printed.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&env_file)
        .unwrap();
    writeln!(f, "ANTHROPIC_API_KEY=sk-ant-test-0123456789").unwrap();
    drop(f);
    let (ok, stdout2, stderr2) = s.run(
        &["--dry-run"],
        &[("CLAWDBOT_DRY_RUN_DIR", out_dir.to_str().unwrap())],
    );
    assert!(ok, "{stdout2}\n{stderr2}");
    let env2 = dotenv(&env_file);
    assert_eq!(
        env2["CLAWDBOT_GATEWAY_TOKEN"], token,
        "a second run keeps the token"
    );
    assert_eq!(env2, {
        let mut e = env.clone();
        e.insert("ANTHROPIC_API_KEY".into(), "sk-ant-test-0123456789".into());
        e
    });
    assert_eq!(mode(&env_file), 0o600);
    assert!(
        !stdout2.contains("sk-ant-test") && !stdout2.contains(&token),
        "secrets in .env are redacted"
    );
    assert!(stdout2.contains("token kept from"), "{stdout2}");
    assert!(
        printed_commands(&stdout2).contains(&onboard_cmd.as_str()),
        "the same commands"
    );
    assert!(extra.is_file());
}

#[test]
fn docker_setup_real_run_calls_docker_in_order_and_is_idempotent() {
    let s = Setup::new();
    let cfg = s.p("cfg");
    let ws = s.p("ws");
    let (cfg_s, ws_s) = (cfg.display().to_string(), ws.display().to_string());
    let mount = format!("{}:/home/node/x:ro", s.p("x").display());
    let settings = [
        ("CLAWDBOT_CONFIG_DIR", cfg_s.as_str()),
        ("CLAWDBOT_WORKSPACE_DIR", ws_s.as_str()),
        ("CLAWDBOT_EXTRA_MOUNTS", mount.as_str()),
    ];
    let (ok, stdout, stderr) = s.run(&[], &settings);
    assert!(ok, "{stdout}\n{stderr}");
    let root = s.root().display().to_string();
    let env_file = s.root().join(".env");
    assert_eq!(mode(&env_file), 0o600);
    let token = dotenv(&env_file)["CLAWDBOT_GATEWAY_TOKEN"].clone();
    assert!(is_hex64(&token));
    assert!(s.root().join("docker-compose.extra.yml").is_file());
    assert!(cfg.is_dir() && ws.is_dir());
    assert_eq!(mode(&cfg), 0o700, "the config dir is private");
    let compose =
        format!("compose -f {root}/docker-compose.yml -f {root}/docker-compose.extra.yml");
    assert_eq!(
        s.docker_calls(),
        [
            "compose version".to_string(),
            format!(
                "build --build-arg CLAWDBOT_DOCKER_APT_PACKAGES= -t clawdbot:local -f {root}/Dockerfile {root}"
            ),
            format!(
                "{compose} run --rm -T clawdbot-cli onboard --non-interactive --gateway-bind lan --gateway-port 18789"
            ),
            format!("{compose} up -d clawdbot-gateway"),
        ]
    );
    // Compose gets the token through the environment (as from .env), never as an argument.
    assert_eq!(
        std::fs::read_to_string(s.p("docker.log.token"))
            .unwrap()
            .trim(),
        token
    );
    assert!(!s.docker_calls().join("\n").contains(&token));
    assert!(!stdout.contains(&token) && !stderr.contains(&token));

    // Again, after onboarding wrote a config, with the extra mounts cleared: same token,
    // no second onboarding, the override removed.
    std::fs::write(cfg.join("clawdbot.json"), "{}\n").unwrap();
    std::fs::remove_file(s.log()).unwrap();
    let (ok, stdout, stderr) = s.run(&[], &[("CLAWDBOT_EXTRA_MOUNTS", "")]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        dotenv(&env_file)["CLAWDBOT_GATEWAY_TOKEN"],
        token,
        "a second run keeps the token"
    );
    assert_eq!(
        dotenv(&env_file)["CLAWDBOT_CONFIG_DIR"],
        cfg_s,
        "and the settings"
    );
    assert!(
        !s.root().join("docker-compose.extra.yml").exists(),
        "the override goes when its variables do"
    );
    assert!(stdout.contains("onboarding skipped"), "{stdout}");
    let compose = format!("compose -f {root}/docker-compose.yml");
    assert_eq!(
        s.docker_calls(),
        [
            "compose version".to_string(),
            format!(
                "build --build-arg CLAWDBOT_DOCKER_APT_PACKAGES= -t clawdbot:local -f {root}/Dockerfile {root}"
            ),
            format!("{compose} up -d clawdbot-gateway"),
        ]
    );
}

#[test]
fn docker_setup_rejects_bad_settings_before_writing_anything() {
    let s = Setup::new();
    let out_dir = s.p("dry");
    let dry = out_dir.to_str().unwrap();
    for (key, value, says) in [
        ("CLAWDBOT_GATEWAY_PORT", "70000", "CLAWDBOT_GATEWAY_PORT"),
        (
            "CLAWDBOT_GATEWAY_PORT",
            "80; rm -rf /",
            "CLAWDBOT_GATEWAY_PORT",
        ),
        (
            "CLAWDBOT_GATEWAY_BIND",
            "everywhere",
            "CLAWDBOT_GATEWAY_BIND",
        ),
        ("CLAWDBOT_HOME_VOLUME", "/srv/home", "CLAWDBOT_HOME_VOLUME"),
        (
            "CLAWDBOT_DOCKER_APT_PACKAGES",
            "git;curl",
            "CLAWDBOT_DOCKER_APT_PACKAGES",
        ),
        (
            "CLAWDBOT_EXTRA_MOUNTS",
            "/srv/data",
            "CLAWDBOT_EXTRA_MOUNTS",
        ),
        (
            "CLAWDBOT_EXTRA_MOUNTS",
            "/srv/data:relative/path",
            "CLAWDBOT_EXTRA_MOUNTS",
        ),
        (
            "CLAWDBOT_EXTRA_MOUNTS",
            "/srv/\"x:/y",
            "CLAWDBOT_EXTRA_MOUNTS",
        ),
        (
            "CLAWDBOT_GATEWAY_TOKEN",
            "two words",
            "CLAWDBOT_GATEWAY_TOKEN",
        ),
    ] {
        let (ok, stdout, stderr) = s.run(
            &["--dry-run"],
            &[("CLAWDBOT_DRY_RUN_DIR", dry), (key, value)],
        );
        assert!(!ok, "{key}={value:?} accepted:\n{stdout}");
        assert!(stderr.contains(says), "{key}={value:?}: {stderr}");
        assert!(
            !out_dir.join(".env").exists(),
            "{key}={value:?}: .env written anyway"
        );
    }
    let (ok, _, stderr) = s.run(&["--bogus"], &[]);
    assert!(!ok && stderr.contains("unknown argument"), "{stderr}");
    let (ok, stdout, _) = s.run(&["--help"], &[]);
    assert!(
        ok && stdout.contains("--dry-run") && stdout.contains("CLAWDBOT_EXTRA_MOUNTS"),
        "{stdout}"
    );
    assert!(s.docker_calls().is_empty());
}

#[test]
fn docker_setup_reuses_an_image_reads_the_override_and_refuses_compose_v1() {
    let s = Setup::new();
    let (cfg, ws) = (s.p("cfg"), s.p("ws"));
    let (cfg_s, ws_s) = (cfg.display().to_string(), ws.display().to_string());
    std::fs::write(
        s.root().join("docker-compose.override.yml"),
        "services: {}\n",
    )
    .unwrap();
    let settings = [
        ("CLAWDBOT_CONFIG_DIR", cfg_s.as_str()),
        ("CLAWDBOT_WORKSPACE_DIR", ws_s.as_str()),
        ("CLAWDBOT_DOCKER_BUILD", "0"),
        ("CLAWDBOT_IMAGE", "clawdbot:nix"),
    ];
    let (ok, stdout, stderr) = s.run(&[], &settings);
    assert!(ok, "{stdout}\n{stderr}");
    let root = s.root().display().to_string();
    let compose =
        format!("compose -f {root}/docker-compose.yml -f {root}/docker-compose.override.yml");
    assert_eq!(
        s.docker_calls(),
        [
            "compose version".to_string(),
            "image inspect --format {{.Id}} clawdbot:nix".to_string(),
            format!(
                "{compose} run --rm -T clawdbot-cli onboard --non-interactive --gateway-bind lan --gateway-port 18789"
            ),
            format!("{compose} up -d clawdbot-gateway"),
        ],
        "no build; the override passed like plain `docker compose` reads it"
    );

    let (ok, _, stderr) = s.run(&[], &[("CLAWDBOT_DOCKER_BUILD", "yes")]);
    assert!(
        !ok && stderr.contains("CLAWDBOT_DOCKER_BUILD must be 1"),
        "{stderr}"
    );

    // Only Compose v1 (`docker-compose`): refused by name, before anything runs.
    let v1 = Setup::new();
    std::fs::write(
        v1.p("bin/docker"),
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >>\"$FAKE_DOCKER_LOG\"\n[ \"$1\" = compose ] && exit 1\nexit 0\n",
    )
    .unwrap();
    std::fs::write(v1.p("bin/docker-compose"), "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(
        v1.p("bin/docker-compose"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (ok, _, stderr) = v1.run(&[], &settings);
    assert!(!ok, "Compose v1 only must be refused");
    assert!(stderr.contains("Compose v1"), "{stderr}");
    assert_eq!(v1.docker_calls(), ["compose version"]);
}
