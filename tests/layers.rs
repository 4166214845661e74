//! The layers point one way: server → channels → agent → llm → config. The lower
//! modules never name the server (or the CLI), so the server can change its state
//! without touching them, and they can be driven without a server (the fuzz targets,
//! the benches). A source check: a `use crate::server` in a lower layer fails here.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// (module, what it must not name)
const RULES: &[(&str, &[&str])] = &[
    ("heartbeat", &["crate::server", "crate::cli", "crate::cron"]),
    ("cron", &["crate::server", "crate::cli"]),
    (
        "channels",
        &[
            "crate::server",
            "crate::cli",
            "crate::heartbeat",
            "crate::cron",
        ],
    ),
    ("agent", &["crate::server", "crate::cli", "crate::channels"]),
    (
        "llm",
        &[
            "crate::server",
            "crate::cli",
            "crate::channels",
            "crate::agent",
        ],
    ),
    (
        "config",
        &[
            "crate::server",
            "crate::cli",
            "crate::channels",
            "crate::agent",
            "crate::llm",
        ],
    ),
    (
        "sessions",
        &["crate::server", "crate::cli", "crate::channels"],
    ),
    (
        "sandbox",
        &["crate::server", "crate::cli", "crate::channels"],
    ),
    ("events.rs", &["crate::server", "crate::cli"]),
    // The state-format table sits below every store that uses it.
    (
        "state_format",
        &[
            "crate::server",
            "crate::cli",
            "crate::channels",
            "crate::agent",
            "crate::llm",
            "crate::cron",
            "crate::heartbeat",
            "crate::sessions",
        ],
    ),
];

#[test]
fn lower_layers_never_name_the_upper_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = vec![];
    for (module, banned) in RULES {
        let path = src.join(module);
        let mut files = vec![];
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        assert!(!files.is_empty(), "no sources under {}", path.display());
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                for b in *banned {
                    if code.contains(b) {
                        bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}
