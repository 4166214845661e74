//! The Docker route built and run for real (issue 16): the test's own dockerd (its own
//! data root, socket and pidfile; no bridge, no iptables, no forwarding), base images
//! made locally by debootstrap (tests/docker/base-images.sh), the real Dockerfile built
//! with the host-built release binary (both variants), the image checked against
//! nix/container-contract.json, a container's health check, /healthz, uid, HOME and
//! `docker stop`, the wrong-owner message, then `docker-setup.sh` end to end with Compose
//! v2 (state kept across `down`/`up`, extra mounts and a home volume). Containers run with
//! `--network none`; builds use the host network for apt. Needs root, dockerd,
//! debootstrap and the Compose v2 plugin: without them it prints why and skips, and
//! fails instead when CLAWDBOT_REQUIRE_DOCKER=1 (scripts/test.sh sets it).

mod docker_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use docker_support::*;
use serde_json::Value;

const IMAGE: &str = "clawdbot:e2e";
const IMAGE_APT: &str = "clawdbot:e2e-apt";
/// The default (distroless-style) image must stay under this (issue 16).
const MAX_IMAGE_BYTES: u64 = 40_000_000;

fn contract() -> Value {
    let raw = std::fs::read_to_string(repo().join("nix/container-contract.json")).unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

struct Tools {
    dockerd: PathBuf,
    cli: PathBuf,
}

fn tools() -> Option<Tools> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("not root (dockerd and debootstrap need root)");
        return None;
    }
    let Some(dockerd) = which("dockerd").or_else(|| {
        let p = PathBuf::from("/usr/sbin/dockerd");
        p.is_file().then_some(p)
    }) else {
        skip("no dockerd (apt-get install docker.io)");
        return None;
    };
    let Some(cli) = docker_cli() else {
        skip("no docker CLI");
        return None;
    };
    if which("debootstrap")
        .or_else(|| Some(PathBuf::from("/usr/sbin/debootstrap")).filter(|p| p.is_file()))
        .is_none()
    {
        skip("no debootstrap (apt-get install debootstrap)");
        return None;
    }
    let compose = Command::new(&cli)
        .args(["compose", "version"])
        .stdin(Stdio::null())
        .output();
    if !compose.is_ok_and(|o| o.status.success() && text(&o.stdout).contains("v2")) {
        skip("no Compose v2 plugin for the docker CLI (`docker compose version` fails)");
        return None;
    }
    Some(Tools { dockerd, cli })
}

/// The host-built release binary (the Dockerfile's CLAWDBOT_BINARY_FROM=prebuilt path).
/// scripts/test.sh builds it before the tests: a cargo run from inside a test sees the
/// test's environment and rebuilds half the dependency tree (minutes with fat LTO).
fn release_binary() -> Option<PathBuf> {
    let bin = target_dir().join("release/clawdbot");
    let Ok(built) = std::fs::metadata(&bin).and_then(|m| m.modified()) else {
        skip(
            "no release binary (run `cargo build --release --locked` first; scripts/test.sh does)",
        );
        return None;
    };
    let mut stack = vec![repo().join("src"), repo().join("ui")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > built)
            {
                skip(&format!(
                    "target/release/clawdbot is older than {} (run `cargo build --release --locked`)",
                    p.display()
                ));
                return None;
            }
        }
    }
    Some(bin)
}

#[test]
fn docker_image_compose_and_setup_end_to_end() {
    let Some(tools) = tools() else { return };
    let Some(binary) = release_binary() else {
        return;
    };
    let started = Instant::now();
    let before = host_network_snapshot();
    let cache = target_dir().join("docker-e2e");
    let tmp = tempfile::tempdir().unwrap();
    {
        let engine = Engine::start(&tools.dockerd, &tools.cli, &cache.join("data"));
        // The debootstrap tarball outside target/ (CI clones afresh), one per day.
        let base_cache = std::env::var_os("CLAWDBOT_DOCKER_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("clawdbot-docker-e2e-cache"));
        base_images(&engine, &base_cache);
        let ctx = tmp.path().join("context");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::copy(&binary, ctx.join("clawdbot")).unwrap();

        build(&engine, &ctx, IMAGE, "");
        let size: u64 = engine.inspect(IMAGE, "{{.Size}}").parse().unwrap();
        eprintln!(
            "docker e2e: image {IMAGE} (default, distroless-style) is {size} bytes ({:.1} MB)",
            size as f64 / 1e6
        );
        std::fs::write(cache.join("image-size.txt"), format!("{size}\n")).unwrap();
        assert!(
            size < MAX_IMAGE_BYTES,
            "the default image is {size} bytes, over {MAX_IMAGE_BYTES}"
        );
        build(&engine, &ctx, IMAGE_APT, "jq");
        let apt_size: u64 = engine.inspect(IMAGE_APT, "{{.Size}}").parse().unwrap();
        eprintln!(
            "docker e2e: image {IMAGE_APT} (CLAWDBOT_DOCKER_APT_PACKAGES=jq) is {apt_size} bytes ({:.1} MB)",
            apt_size as f64 / 1e6
        );
        let jq = engine.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "jq",
            IMAGE_APT,
            "--version",
        ]);
        assert!(jq.starts_with("jq-"), "the apt variant has jq: {jq}");
        for img in [IMAGE, IMAGE_APT] {
            image_matches_contract(&engine, img);
        }

        container_runs_healthy_and_stops_cleanly(&engine);
        wrong_owner_is_reported_with_the_chown(&engine, tmp.path());
        setup_end_to_end(&engine, tmp.path());
    }
    assert_eq!(
        host_network_snapshot(),
        before,
        "the host's interfaces, forwarding sysctls or iptables changed"
    );
    eprintln!("docker e2e: done in {:.0?}", started.elapsed());
}

fn base_images(engine: &Engine, cache: &Path) {
    let t = Instant::now();
    let mut cmd = Command::new(repo().join("tests/docker/base-images.sh"));
    cmd.arg(cache);
    engine.env(&mut cmd);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![engine.cli.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    dirs.push("/usr/sbin".into());
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    let out = ok(&mut cmd);
    eprintln!("docker e2e: base images in {:.0?}:\n{out}", t.elapsed());
}

/// `docker build` of the repository's Dockerfile with the prebuilt binary in `ctx`.
fn build(engine: &Engine, ctx: &Path, tag: &str, apt: &str) {
    let t = Instant::now();
    engine.ok(&[
        "build".to_string(),
        "-q".into(),
        "--network".into(),
        "host".into(),
        "--build-arg".into(),
        "CLAWDBOT_BINARY_FROM=prebuilt".into(),
        "--build-arg".into(),
        format!("CLAWDBOT_DOCKER_APT_PACKAGES={apt}"),
        "-t".into(),
        tag.into(),
        "-f".into(),
        repo().join("Dockerfile").display().to_string(),
        ctx.display().to_string(),
    ]);
    eprintln!("docker e2e: built {tag} in {:.0?}", t.elapsed());
}

/// The built image's config against nix/container-contract.json (nix/docker.nix reads
/// the same file), and the contract's directories' owner and mode inside the image.
fn image_matches_contract(engine: &Engine, img: &str) {
    let c = contract();
    let raw = engine.ok(&["image", "inspect", img]);
    let v: Value = serde_json::from_str(&raw).unwrap();
    let cfg = &v[0]["Config"];
    assert_eq!(cfg["User"], c["user"], "{img} User");
    assert_eq!(cfg["WorkingDir"], c["workdir"], "{img} WorkingDir");
    let env = strs(&cfg["Env"]);
    for (k, val) in c["env"].as_object().unwrap() {
        let want = format!("{k}={}", val.as_str().unwrap());
        assert!(env.contains(&want), "{img} Env lacks {want}: {env:?}");
    }
    let port = format!("{}/tcp", c["port"]);
    assert!(
        cfg["ExposedPorts"].get(&port).is_some(),
        "{img} exposes {port}"
    );
    assert!(
        cfg["Entrypoint"].is_null() || cfg["Entrypoint"] == c["entrypoint"],
        "{img} Entrypoint {}",
        cfg["Entrypoint"]
    );
    assert_eq!(strs(&cfg["Cmd"]), strs(&c["cmd"]), "{img} Cmd");
    let hc = &cfg["Healthcheck"];
    let mut test = vec!["CMD".to_string()];
    test.extend(strs(&c["healthcheck"]["test"]));
    assert_eq!(strs(&hc["Test"]), test, "{img} health check");
    let ns = |k: &str| c["healthcheck"][k].as_u64().unwrap() * 1_000_000_000;
    assert_eq!(hc["Interval"].as_u64(), Some(ns("interval_s")), "{img}");
    assert_eq!(hc["Timeout"].as_u64(), Some(ns("timeout_s")), "{img}");
    assert_eq!(
        hc["StartPeriod"].as_u64(),
        Some(ns("start_period_s")),
        "{img}"
    );
    assert_eq!(hc["Retries"], c["healthcheck"]["retries"], "{img}");
    for (dir, mode) in c["dirs"].as_object().unwrap() {
        let got = engine.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/busybox",
            img,
            "stat",
            "-c",
            "%u:%g %a",
            dir,
        ]);
        let mode = mode.as_str().unwrap().trim_start_matches('0');
        assert_eq!(
            got.trim(),
            format!("{} {mode}", c["user"].as_str().unwrap()),
            "{img} {dir}"
        );
    }
}

/// `docker run` of the image as built (no --init: the gateway handles SIGTERM as PID 1).
fn container_runs_healthy_and_stops_cleanly(engine: &Engine) {
    let c = contract();
    let token = hex_token();
    let name = "clawdbot-e2e-run";
    // The image's own health check command; only the interval is shortened (30 s).
    engine.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "--health-interval",
        "1s",
        "-e",
        &format!("CLAWDBOT_GATEWAY_TOKEN={token}"),
        IMAGE,
    ]);
    engine.assert_contained(name);
    let health = poll(60, || {
        let s = engine.inspect(name, "{{.State.Health.Status}} {{.State.Running}}");
        assert!(
            s.ends_with("true"),
            "the container exited:\n{}",
            logs(engine, name)
        );
        s.starts_with("healthy").then_some(())
    });
    assert!(
        health.is_some(),
        "the health check never turned healthy:\n{}",
        logs(engine, name)
    );
    let pid: u32 = engine.inspect(name, "{{.State.Pid}}").parse().unwrap();
    let port = c["port"].as_u64().unwrap() as u16;
    assert_eq!(
        http_status_in_netns(pid, port, "/healthz"),
        Some(200),
        "/healthz in the container's network namespace"
    );
    let status = engine.ok(&["exec", name, "cat", "/proc/1/status"]);
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("1000"),
        "the gateway (PID 1) runs as uid 1000: {uid_line}"
    );
    let home = engine.ok(&["exec", name, "sh", "-c", "echo \"$HOME\""]);
    assert_eq!(home.trim(), c["home"].as_str().unwrap());

    let deadline = c["drain_deadline_s"].as_u64().unwrap();
    let t = Instant::now();
    engine.ok(&[
        "stop",
        "-t",
        &c["stop_timeout_s"].as_u64().unwrap().to_string(),
        name,
    ]);
    let took = t.elapsed();
    assert!(
        took.as_secs() < deadline + 2,
        "docker stop took {took:?} (drain deadline {deadline} s): SIGTERM did not reach the gateway"
    );
    assert_eq!(
        engine.inspect(name, "{{.State.ExitCode}}"),
        "0",
        "exit code after docker stop:\n{}",
        logs(engine, name)
    );
    eprintln!("docker e2e: docker stop took {took:?}, exit 0");
    engine.ok(&["rm", name]);
}

fn logs(engine: &Engine, name: &str) -> String {
    let out = output(engine.docker().args(["logs", "--tail", "40", name]));
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// A host config dir the container's uid cannot write: the gateway refuses to start and
/// names the exact chown (with the host path compose passes in).
fn wrong_owner_is_reported_with_the_chown(engine: &Engine, tmp: &Path) {
    let dir = tmp.join("root-owned-config");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), 0);
    let name = "clawdbot-e2e-owner";
    engine.ok(&[
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        name.into(),
        "--network".into(),
        "none".into(),
        "-e".into(),
        format!("CLAWDBOT_GATEWAY_TOKEN={}", hex_token()),
        "-e".into(),
        format!("CLAWDBOT_HOST_CONFIG_DIR={}", dir.display()),
        "-v".into(),
        format!("{}:/home/node/.clawdbot", dir.display()),
        IMAGE.into(),
    ]);
    engine.assert_contained(name);
    let exited = poll(30, || {
        (engine.inspect(name, "{{.State.Running}}") == "false").then_some(())
    });
    assert!(
        exited.is_some(),
        "the gateway started on a directory it cannot write"
    );
    assert_ne!(engine.inspect(name, "{{.State.ExitCode}}"), "0");
    let log = logs(engine, name);
    let fix = format!("sudo chown -R 1000:1000 {}", dir.display());
    assert!(log.contains(&fix), "the message names `{fix}`:\n{log}");
    assert!(log.contains("owned by uid 0"), "{log}");
    engine.ok(&["rm", name]);
}

/// `docker-setup.sh` for real in a copy of the deployment files, then the guide's check.
fn setup_end_to_end(engine: &Engine, tmp: &Path) {
    docker_support::setup::run(engine, tmp);
}
