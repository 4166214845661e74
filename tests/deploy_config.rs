//! docker-compose.yml and the fly files parsed, their gateway command lines checked by
//! our real argument parser and started with the real binary; every `clawdbot …` line
//! in docs/deploy.md and these files parses.
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

// --- docker-compose.yml --------------------------------------------------------------------

fn compose() -> Option<Value> {
    parse_with_python("yaml", &repo().join("docker-compose.yml"))
}

#[test]
fn compose_file_has_the_guides_services_variables_and_loopback_ports() {
    let Some(c) = compose() else { return };
    let raw = read("docker-compose.yml");
    let services = c["services"].as_object().expect("services");
    assert_eq!(
        services.keys().collect::<Vec<_>>(),
        ["clawdbot-gateway", "clawdbot-cli"]
    );
    let gw = &c["services"]["clawdbot-gateway"];
    let cli = &c["services"]["clawdbot-cli"];
    let mounts = [
        "${CLAWDBOT_CONFIG_DIR:?set CLAWDBOT_CONFIG_DIR in .env (./docker-setup.sh writes it)}:/home/node/.clawdbot",
        "${CLAWDBOT_WORKSPACE_DIR:?set CLAWDBOT_WORKSPACE_DIR in .env (./docker-setup.sh writes it)}:/home/node/clawd",
    ];
    for s in [gw, cli] {
        assert_eq!(s["image"], "${CLAWDBOT_IMAGE:-clawdbot:local}");
        assert_eq!(strings(&s["volumes"]), mounts);
        assert_eq!(s["environment"]["HOME"], "/home/node");
        assert!(
            s["environment"]["CLAWDBOT_GATEWAY_TOKEN"]
                .as_str()
                .unwrap()
                .starts_with("${CLAWDBOT_GATEWAY_TOKEN:?")
        );
        assert_eq!(s["init"], true, "an init reaps the exec tool's orphans");
    }
    // The gateway: published on loopback only, restarted, health-checked like the image.
    assert_eq!(
        strings(&gw["ports"]),
        ["127.0.0.1:${CLAWDBOT_GATEWAY_PORT:-18789}:18789"]
    );
    assert_eq!(gw["restart"], "unless-stopped");
    assert_eq!(
        gw["build"]["args"]["CLAWDBOT_DOCKER_APT_PACKAGES"],
        "${CLAWDBOT_DOCKER_APT_PACKAGES:-}"
    );
    let hc = strings(&gw["healthcheck"]["test"]);
    assert_eq!(hc[0], "CMD");
    assert_eq!(
        hc[1..],
        dockerfile_healthcheck()[..],
        "compose and image check /healthz the same way"
    );
    for k in ["interval", "timeout", "retries", "start_period"] {
        assert!(!gw["healthcheck"][k].is_null(), "healthcheck.{k}");
    }
    // Its command, interpolated as compose does, is accepted by our CLI.
    let cmd = strings(&gw["command"]);
    let env = BTreeMap::new();
    let argv: Vec<String> = cmd.iter().map(|a| interpolate(a, &env).unwrap()).collect();
    assert_eq!(argv[0], "clawdbot");
    assert_eq!(
        gateway_flags(&argv),
        ("lan".into(), "18789".into(), false),
        "{argv:?}"
    );
    let env = BTreeMap::from([("CLAWDBOT_GATEWAY_BIND".to_string(), "auto".to_string())]);
    let argv: Vec<String> = cmd.iter().map(|a| interpolate(a, &env).unwrap()).collect();
    assert_eq!(gateway_flags(&argv).0, "auto");
    assert_eq!(
        argv[argv.len() - 2..],
        ["--port", "18789"],
        "the container port is fixed; CLAWDBOT_GATEWAY_PORT is the host's"
    );

    // The CLI: `docker compose run --rm clawdbot-cli <args>` runs `clawdbot <args>`.
    assert_eq!(strings(&cli["entrypoint"]), ["clawdbot"]);
    assert!(cli["ports"].is_null() && cli["restart"].is_null());
    assert_eq!(
        strings(&cli["profiles"]),
        ["cli"],
        "`docker compose up` starts only the gateway"
    );
    assert_eq!(
        cli["environment"]["CLAWDBOT_GATEWAY_PORT"], "${CLAWDBOT_GATEWAY_PORT:-18789}",
        "dashboard prints the host URL"
    );
    for args in [
        &[
            "onboard",
            "--non-interactive",
            "--gateway-bind",
            "lan",
            "--gateway-port",
            "18789",
        ][..],
        &["dashboard"],
        &[
            "channels",
            "add",
            "--channel",
            "telegram",
            "--token",
            "123456:ABC-def",
        ],
        &["check-config"],
    ] {
        parse_cli(&[&["clawdbot"], args].concat());
    }
    // `docker compose exec clawdbot-gateway clawdbot health`, the guide's checkpoint.
    assert!(matches!(
        parse_cli(&["clawdbot", "health"]).command,
        Sub::Health(_)
    ));

    // Only the guide's variables (and optional provider secrets) are referenced.
    let allowed = [
        "CLAWDBOT_IMAGE",
        "CLAWDBOT_GATEWAY_TOKEN",
        "CLAWDBOT_GATEWAY_BIND",
        "CLAWDBOT_GATEWAY_PORT",
        "CLAWDBOT_CONFIG_DIR",
        "CLAWDBOT_WORKSPACE_DIR",
        "CLAWDBOT_DOCKER_APT_PACKAGES",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "OPENROUTER_API_KEY",
        "TELEGRAM_BOT_TOKEN",
    ];
    for (name, _) in referenced_vars(&raw) {
        assert!(
            allowed.contains(&name.as_str()),
            "docker-compose.yml references {name}"
        );
    }
}

// --- fly.toml / fly.private.toml -----------------------------------------------------------

fn fly_common(file: &str) -> Option<(Value, u16)> {
    let f = parse_with_python("toml", &repo().join(file))?;
    let raw = read(file);
    assert!(
        f["app"].as_str().is_some_and(|a| !a.is_empty()),
        "{file}: app"
    );
    assert_eq!(f["build"]["dockerfile"], "Dockerfile", "{file}");
    assert_eq!(f["env"]["CLAWDBOT_STATE_DIR"], "/data", "{file}");
    assert_eq!(f["mounts"]["source"], "clawdbot_data", "{file}");
    assert_eq!(f["mounts"]["destination"], "/data", "{file}");
    let app = f["processes"]["app"].as_str().expect("[processes] app");
    assert!(
        !app.contains(['"', '\'', '\\', '$']),
        "{file}: a plain command line (Fly splits it on spaces)"
    );
    let argv: Vec<&str> = app.split_whitespace().collect();
    assert_eq!(argv[0], "clawdbot", "{file}: runs our binary");
    let (bind, port, allow) = gateway_flags(&argv);
    assert_eq!(
        (bind.as_str(), port.as_str(), allow),
        ("lan", "3000", true),
        "{file}: {app}"
    );
    let port: u16 = port.parse().unwrap();
    assert_eq!(
        f["env"]["CLAWDBOT_GATEWAY_PORT"],
        port.to_string(),
        "{file}: CLI commands over `fly ssh console` find the port"
    );
    // The VM size, stated against what we measure (BENCHMARKS.md).
    let vm = &f["vm"][0];
    assert_eq!(
        (vm["size"].as_str(), vm["memory"].as_str()),
        (Some("shared-cpu-1x"), Some("256mb")),
        "{file}"
    );
    let bench = read("BENCHMARKS.md");
    for figure in ["13.8 MB", "14.6"] {
        assert!(
            bench.contains(figure),
            "BENCHMARKS.md no longer says {figure}: update {file}'s size comment"
        );
        assert!(
            raw.contains(figure) && raw.contains("RSS"),
            "{file}: the size comment states the measured RSS ({figure})"
        );
    }
    Some((f, port))
}

#[test]
fn fly_toml_runs_our_gateway_with_a_volume_and_a_healthz_check() {
    let Some((f, port)) = fly_common("fly.toml") else {
        return;
    };
    let svc = &f["http_service"];
    assert_eq!(svc["internal_port"], port, "internal_port matches --port");
    assert_eq!(svc["force_https"], true);
    assert_eq!(strings(&svc["processes"]), ["app"]);
    let checks = svc["checks"].as_array().expect("[[http_service.checks]]");
    assert!(
        checks
            .iter()
            .any(|c| c["path"] == "/healthz" && c["method"] == "GET"),
        "{checks:?}"
    );
}

#[test]
fn fly_private_toml_has_no_public_service_and_a_healthz_check() {
    let Some((f, port)) = fly_common("fly.private.toml") else {
        return;
    };
    assert!(
        f.get("http_service").is_none(),
        "no [http_service]: no public ingress"
    );
    assert!(
        f.get("services").is_none(),
        "no [[services]]: no public ingress"
    );
    let checks = f["checks"].as_object().expect("[checks.*]");
    assert!(
        checks
            .values()
            .any(|c| c["type"] == "http" && c["path"] == "/healthz" && c["port"] == port),
        "an HTTP check on /healthz at the gateway's port: {checks:?}"
    );
}

// --- the container command lines, run for real ---------------------------------------------

/// Runs a deployment's gateway argv (the port swapped for a free one) with the
/// environment that deployment gives it; returns it once /healthz answers 200.
fn start_like_a_container(argv: &[String], env: &[(String, String)], port: u16) -> Running {
    let mut args: Vec<String> = argv[1..].to_vec();
    let i = args.iter().position(|a| a == "--port").expect("--port") + 1;
    args[i] = port.to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawdbot"));
    cmd.args(&args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut gw = Running(cmd.spawn().unwrap());
    let t = Instant::now();
    loop {
        if http_status(port, "/healthz") == Some(200) {
            return gw;
        }
        if let Ok(Some(status)) = gw.0.try_wait() {
            let mut err = String::new();
            let _ = gw.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("`clawdbot {}` exited ({status}):\n{err}", args.join(" "));
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "`clawdbot {}`: /healthz never answered",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_image_compose_and_fly_command_lines_start_the_real_gateway() {
    let root = tempfile::tempdir().unwrap();
    let token = hex_token();

    // The image's CMD with its ENV (HOME=/home/node mapped to a temp dir) and the token.
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let port = free_port();
    let mut env = vec![("CLAWDBOT_GATEWAY_TOKEN".to_string(), token.clone())];
    for (k, v) in dockerfile_env() {
        let v = match k.as_str() {
            "HOME" => home.display().to_string(),
            "CLAWDBOT_GATEWAY_PORT" => port.to_string(),
            _ => v,
        };
        env.push((k, v));
    }
    let mut gw = start_like_a_container(&dockerfile_cmd(), &env, port);
    assert_eq!(http_status(port, "/readyz"), Some(200));
    assert!(
        home.join(".clawdbot").is_dir(),
        "state under $HOME/.clawdbot (the config volume)"
    );
    // The checkpoint inside the container: `clawdbot health` with the image's environment.
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_clawdbot"))
            .arg("health")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned()),
    );
    assert!(
        out.status.success(),
        "clawdbot health: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).contains(&token) && !text(&out.stderr).contains(&token));
    // The HEALTHCHECK itself, when a busybox is at hand to play the image's.
    match which("busybox") {
        Some(bb) => {
            let mut hc = dockerfile_healthcheck();
            hc[0] = bb.display().to_string();
            let last = hc.len() - 1;
            hc[last] = hc[last].replace(":18789/", &format!(":{port}/"));
            let st = output(Command::new(&hc[0]).args(&hc[1..]));
            assert!(
                st.status.success(),
                "HEALTHCHECK {hc:?}: {}",
                text(&st.stderr)
            );
        }
        None => eprintln!("note: no busybox here; the HEALTHCHECK command was checked statically"),
    }
    gw.stop();

    // Without a token the image's CMD refuses to listen on all interfaces, and says why.
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_clawdbot"))
            .args(&dockerfile_cmd()[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("CLAWDBOT_GATEWAY_TOKEN"),
        "{}",
        text(&out.stderr)
    );

    // Compose's command (defaults interpolated) with compose's environment.
    if let Some(c) = compose() {
        let none = BTreeMap::new();
        let argv: Vec<String> = strings(&c["services"]["clawdbot-gateway"]["command"])
            .iter()
            .map(|a| interpolate(a, &none).unwrap())
            .collect();
        let port = free_port();
        let env = [
            ("HOME", home.display().to_string()),
            ("CLAWDBOT_GATEWAY_TOKEN", token.clone()),
        ]
        .map(|(k, v)| (k.to_string(), v));
        let _gw = start_like_a_container(&argv, &env, port);
    }

    // Fly's process with its [env]: state on the volume (/data mapped to a temp dir).
    for file in ["fly.toml", "fly.private.toml"] {
        let Some(f) = parse_with_python("toml", &repo().join(file)) else {
            return;
        };
        let data = root.path().join(format!("data-{file}"));
        std::fs::create_dir_all(&data).unwrap();
        let argv: Vec<String> = f["processes"]["app"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let port = free_port();
        let mut env = vec![
            ("HOME".to_string(), home.display().to_string()),
            ("CLAWDBOT_GATEWAY_TOKEN".to_string(), token.clone()),
        ];
        for (k, v) in f["env"].as_object().unwrap() {
            let v = match k.as_str() {
                "CLAWDBOT_STATE_DIR" => data.display().to_string(),
                "CLAWDBOT_GATEWAY_PORT" => port.to_string(),
                _ => v.as_str().unwrap().to_string(),
            };
            env.push((k.clone(), v));
        }
        let _gw = start_like_a_container(&argv, &env, port);
        let locks = std::fs::read_dir(&data)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("gateway.")
            })
            .count();
        assert_eq!(
            locks, 1,
            "{file}: the gateway's state (its lock) is on the volume"
        );
    }
}

// --- the documented command lines ----------------------------------------------------------

/// Shell words from the start of `s` up to the end of the command (newline, backtick, `|`,
/// `&`, `;`, a comment, or a double quote closing an outer string as in `-C "..."`).
fn shell_words(s: &str) -> Vec<String> {
    let (mut words, mut cur, mut started) = (vec![], String::new(), false);
    let (mut single, mut double) = (false, false);
    for c in s.chars() {
        if single {
            if c == '\'' {
                single = false
            } else {
                cur.push(c)
            }
        } else if double {
            if c == '"' {
                double = false
            } else {
                cur.push(c)
            }
        } else {
            match c {
                '\'' => (single, started) = (true, true),
                '"' if !started => (double, started) = (true, true),
                '"' | '`' | '\n' | '|' | '&' | ';' => break,
                '#' if !started => break,
                ' ' | '\t' => {
                    if started {
                        words.push(std::mem::take(&mut cur));
                        started = false;
                    }
                }
                _ => {
                    cur.push(c);
                    started = true;
                }
            }
        }
    }
    if started {
        words.push(cur);
    }
    words
}

#[test]
fn every_documented_clawdbot_command_line_parses() {
    use clap::CommandFactory;
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut checked = 0;
    let mut rejected = vec![];
    for file in [
        "docs/deploy.md",
        "docker-setup.sh",
        "docker-compose.yml",
        "Dockerfile",
        "fly.toml",
        "fly.private.toml",
    ] {
        let src = read(file);
        for prefix in ["clawdbot ", "clawdbot-cli "] {
            for (i, _) in src.match_indices(prefix) {
                let before = src[..i].chars().next_back();
                if before
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/' || c == '.')
                {
                    continue; // part of another word or path
                }
                let words = shell_words(&src[i + prefix.len()..]);
                if !words.first().is_some_and(|w| subcommands.contains(w)) {
                    continue; // prose ("the clawdbot gateway answers ...")
                }
                // docker-setup.sh's own variables, as a default run sets them.
                let words: Vec<String> = words
                    .iter()
                    .map(|w| match w.as_str() {
                        "$BIND" => "lan".to_string(),
                        "$PORT" => "18789".to_string(),
                        _ => w.clone(),
                    })
                    .collect();
                assert!(
                    !words.iter().any(|w| w.contains('$')),
                    "{file}: unexpanded variable in {words:?}"
                );
                let argv: Vec<&str> = std::iter::once("clawdbot")
                    .chain(words.iter().map(String::as_str))
                    .collect();
                if let Err(e) = Cli::try_parse_from(&argv) {
                    rejected.push(format!("{file}: `{}`:\n{e}", argv.join(" ")));
                }
                eprintln!("{file}: {}", argv.join(" "));
                checked += 1;
            }
        }
    }
    assert!(
        rejected.is_empty(),
        "rejected by our CLI:\n{}",
        rejected.join("\n")
    );
    assert!(checked >= 20, "only {checked} command lines found");
}
