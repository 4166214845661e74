//! `docker-setup.sh` end to end, not dry: in a copy of the deployment files, with the
//! image the test built (CLAWDBOT_DOCKER_BUILD=0) and a docker-compose.override.yml that
//! puts both services on `network_mode: none` (the test's network rule; the script reads
//! the override as plain `docker compose` would). Then the guide's own check, `docker
//! compose exec clawdbot-gateway clawdbot health --token ...`, a paired device and a
//! session kept across `down`/`up`, and CLAWDBOT_EXTRA_MOUNTS / CLAWDBOT_HOME_VOLUME.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::*;

const PROJECT: &str = "clawdbot-e2e";
const HOME_VOLUME: &str = "clawdbot-e2e-home";

struct Project {
    dir: PathBuf,
    home: PathBuf,
    config: PathBuf,
    workspace: PathBuf,
}

impl Project {
    /// The docker CLI's directory first on PATH, so the script finds the same CLI.
    fn path(engine: &Engine) -> std::ffi::OsString {
        let mut dirs = vec![engine.cli.parent().unwrap().to_path_buf()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).unwrap()
    }

    fn setup(&self, engine: &Engine, extra: &[(&str, &str)]) -> (String, String) {
        let mut cmd = Command::new(self.dir.join("docker-setup.sh"));
        cmd.current_dir(&self.dir)
            .env_clear()
            .env("PATH", Self::path(engine))
            .env("HOME", &self.home)
            .env("COMPOSE_PROJECT_NAME", PROJECT)
            .env("CLAWDBOT_IMAGE", "clawdbot:e2e")
            .env("CLAWDBOT_DOCKER_BUILD", "0")
            .env("CLAWDBOT_CONFIG_DIR", &self.config)
            .env("CLAWDBOT_WORKSPACE_DIR", &self.workspace);
        if let Some(cfg) = std::env::var_os("DOCKER_CONFIG") {
            cmd.env("DOCKER_CONFIG", cfg);
        }
        engine.env(&mut cmd);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = output(&mut cmd);
        let (so, se) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "docker-setup.sh failed ({}):\n{so}{se}",
            out.status
        );
        (so, se)
    }

    /// `docker compose` as the script's hint says: the project's files, its .env.
    fn compose(&self, engine: &Engine, extra_file: bool) -> Command {
        let mut c = engine.docker();
        c.current_dir(&self.dir)
            .env("COMPOSE_PROJECT_NAME", PROJECT)
            .arg("compose")
            .arg("-f")
            .arg(self.dir.join("docker-compose.yml"));
        if extra_file {
            c.arg("-f").arg(self.dir.join("docker-compose.extra.yml"));
        }
        c.arg("-f")
            .arg(self.dir.join("docker-compose.override.yml"));
        c
    }

    /// `docker compose exec clawdbot-gateway clawdbot ARGS --token T`, stdout.
    fn exec(&self, engine: &Engine, extra_file: bool, token: &str, args: &[&str]) -> Output {
        output(
            self.compose(engine, extra_file)
                .args(["exec", "-T", "clawdbot-gateway", "clawdbot"])
                .args(args)
                .args(["--token", token]),
        )
    }

    /// Polls the guide's check until the gateway answers.
    fn wait_healthy(&self, engine: &Engine, extra_file: bool, token: &str) -> String {
        let mut last = String::new();
        let r = poll(90, || {
            let o = self.exec(engine, extra_file, token, &["health"]);
            last = format!("{}{}", text(&o.stdout), text(&o.stderr));
            o.status.success().then(|| text(&o.stdout))
        });
        r.unwrap_or_else(|| {
            let logs = output(self.compose(engine, extra_file).args(["logs", "--tail", "30"]));
            panic!(
                "`docker compose exec clawdbot-gateway clawdbot health` never succeeded:\n{last}\nlogs:\n{}{}",
                text(&logs.stdout),
                text(&logs.stderr)
            )
        })
    }

    fn gateway_container(&self, engine: &Engine, extra_file: bool) -> String {
        ok(self
            .compose(engine, extra_file)
            .args(["ps", "-q", "clawdbot-gateway"]))
        .trim()
        .to_string()
    }

    fn paired_devices(&self, engine: &Engine, extra_file: bool, token: &str) -> Vec<String> {
        let o = self.exec(engine, extra_file, token, &["devices", "list", "--json"]);
        assert!(o.status.success(), "devices list: {}", text(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("devices list --json: {e}: {}", text(&o.stdout)));
        v["paired"]
            .as_array()
            .unwrap_or_else(|| panic!("no paired list: {v}"))
            .iter()
            .map(|d| d["deviceId"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn session_keys(&self, engine: &Engine, extra_file: bool, token: &str) -> String {
        let o = self.exec(engine, extra_file, token, &["sessions", "--json"]);
        assert!(o.status.success(), "sessions: {}", text(&o.stderr));
        text(&o.stdout)
    }
}

pub fn run(engine: &Engine, tmp: &Path) {
    let p = Project {
        dir: tmp.join("project"),
        home: tmp.join("home"),
        config: tmp.join("host/config"),
        workspace: tmp.join("host/workspace"),
    };
    std::fs::create_dir_all(&p.dir).unwrap();
    std::fs::create_dir_all(&p.home).unwrap();
    for f in [
        "docker-setup.sh",
        "docker-compose.yml",
        "Dockerfile",
        ".dockerignore",
    ] {
        std::fs::copy(repo().join(f), p.dir.join(f)).unwrap();
    }
    std::fs::write(
        p.dir.join("docker-compose.override.yml"),
        "# The test's network rule: no bridge, no published port.\n\
         services:\n  clawdbot-gateway:\n    network_mode: none\n  clawdbot-cli:\n    network_mode: none\n",
    )
    .unwrap();
    let _ = output(engine.docker().args(["volume", "rm", "-f", HOME_VOLUME]));

    // 1. The first run: .env, onboarding in the CLI container, the gateway up.
    let (so, se) = p.setup(engine, &[]);
    let env_file = p.dir.join(".env");
    let meta = std::fs::metadata(&env_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, ".env mode");
    let env = std::fs::read_to_string(&env_file).unwrap();
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("CLAWDBOT_GATEWAY_TOKEN="))
        .expect("token in .env")
        .to_string();
    assert!(
        token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "64 hex characters: {} characters",
        token.len()
    );
    assert!(
        !so.contains(&token) && !se.contains(&token),
        "docker-setup.sh printed the token"
    );
    let cfg = p.config.join("clawdbot.json");
    assert!(
        cfg.is_file(),
        "onboarding wrote {}:\n{so}{se}",
        cfg.display()
    );
    for d in [&p.config, &p.workspace] {
        assert_eq!(
            std::fs::metadata(d).unwrap().uid(),
            1000,
            "{} owner",
            d.display()
        );
    }
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().uid(),
        1000,
        "config written by uid 1000"
    );
    let health = p.wait_healthy(engine, false, &token);
    eprintln!(
        "docker e2e: compose exec clawdbot-gateway clawdbot health: {}",
        health.trim()
    );
    let id = p.gateway_container(engine, false);
    engine.assert_contained(&id);
    assert_eq!(
        engine.inspect(&id, "{{.HostConfig.Init}}"),
        "true",
        "init: true"
    );

    // 2. State: the CLI's device was paired (local, silently); a session is made.
    let devices = p.paired_devices(engine, false, &token);
    assert!(!devices.is_empty(), "the CLI's device is paired");
    let o = p.exec(
        engine,
        false,
        &token,
        &[
            "gateway",
            "call",
            "sessions.patch",
            "--params",
            r#"{"key":"e2e-persist","label":"kept across down/up"}"#,
        ],
    );
    assert!(
        o.status.success(),
        "sessions.patch: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(
        p.session_keys(engine, false, &token)
            .contains("e2e-persist")
    );

    // 3. down && up: both are still there.
    ok(p.compose(engine, false).args(["down"]));
    ok(p.compose(engine, false)
        .args(["up", "-d", "clawdbot-gateway"]));
    p.wait_healthy(engine, false, &token);
    let after = p.paired_devices(engine, false, &token);
    for d in &devices {
        assert!(
            after.contains(d),
            "device {d} lost across down/up: {after:?}"
        );
    }
    let sessions = p.session_keys(engine, false, &token);
    assert!(
        sessions.contains("e2e-persist"),
        "session lost across down/up: {sessions}"
    );

    // 4. Extra mounts and a home volume: the script writes docker-compose.extra.yml.
    let extra = tmp.join("host/extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("hello.txt"), "from the host\n").unwrap();
    let mounts = format!("{}:/mnt/extra:ro", extra.display());
    let (so, se) = p.setup(
        engine,
        &[
            ("CLAWDBOT_EXTRA_MOUNTS", &mounts),
            ("CLAWDBOT_HOME_VOLUME", HOME_VOLUME),
        ],
    );
    assert!(
        so.contains("onboarding skipped"),
        "second run keeps the config:\n{so}{se}"
    );
    let extra_yml = std::fs::read_to_string(p.dir.join("docker-compose.extra.yml")).unwrap();
    assert!(extra_yml.contains("/mnt/extra:ro"), "{extra_yml}");
    let env2 = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        env2.contains(&format!("CLAWDBOT_GATEWAY_TOKEN={token}")),
        "token kept"
    );
    p.wait_healthy(engine, true, &token);
    let cat = ok(p.compose(engine, true).args([
        "exec",
        "-T",
        "clawdbot-gateway",
        "cat",
        "/mnt/extra/hello.txt",
    ]));
    assert_eq!(cat, "from the host\n");
    let ro = output(p.compose(engine, true).args([
        "exec",
        "-T",
        "clawdbot-gateway",
        "touch",
        "/mnt/extra/nope",
    ]));
    assert!(!ro.status.success(), "the :ro mount is read-only");
    ok(p.compose(engine, true).args([
        "exec",
        "-T",
        "clawdbot-gateway",
        "sh",
        "-c",
        "echo kept > /home/node/in-volume",
    ]));
    let mounts_json = engine.inspect(&p.gateway_container(engine, true), "{{json .Mounts}}");
    assert!(
        mounts_json.contains(&format!("\"Name\":\"{HOME_VOLUME}\"")),
        "the home volume is mounted: {mounts_json}"
    );
    let after = p.paired_devices(engine, true, &token);
    for d in &devices {
        assert!(
            after.contains(d),
            "device {d} lost with the extra file: {after:?}"
        );
    }
    // The home volume survives down/up as well.
    ok(p.compose(engine, true).args(["down"]));
    ok(p.compose(engine, true)
        .args(["up", "-d", "clawdbot-gateway"]));
    p.wait_healthy(engine, true, &token);
    let kept = ok(p.compose(engine, true).args([
        "exec",
        "-T",
        "clawdbot-gateway",
        "cat",
        "/home/node/in-volume",
    ]));
    assert_eq!(kept, "kept\n", "the home volume kept its file");
    ok(p.compose(engine, true).args(["down", "-v"]));
}
