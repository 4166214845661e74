//! The config loader as the gateway runs it: JSON5, `$include` across files, the `env`
//! block and `${VAR}`, validation, then the redacted display. The input is up to four
//! files (main, a.json5, b.json5, sub/c.json5) separated by NUL bytes, plus environment
//! lines `K=V` in a fifth part. Also: whatever JSON5 parses, printed as JSON, parses
//! again to the same value (JSON is JSON5).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use clawdbot::config::{self, json5};
use clawdbot::paths::Env;
use libfuzzer_sys::fuzz_target;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::Builder::new()
            .prefix("clawdbot-fuzz-config")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = text.splitn(5, '\0').collect();
    if let Ok(parsed) = json5::parse(parts[0]) {
        let again = json5::parse(&parsed.value.to_string()).expect("JSON output is JSON5");
        assert_eq!(parsed.value, again.value);
    }
    let d = dir();
    let names = ["clawdbot.json", "a.json5", "b.json5", "sub/c.json5"];
    for (i, name) in names.iter().enumerate() {
        let p = d.join(name);
        match parts.get(i) {
            Some(t) => std::fs::write(&p, t).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let mut pairs = vec![("HOME".to_string(), d.display().to_string())];
    if let Some(env) = parts.get(4) {
        for line in env.lines().take(16) {
            if let Some((k, v)) = line.split_once('=') {
                pairs.push((k.to_string(), v.to_string()));
            }
        }
    }
    let env = Env::from_pairs(pairs);
    match config::load(&d.join(names[0]), &env) {
        Err(e) => {
            let _ = e.problems();
        }
        Ok(loaded) => {
            let shown = loaded.display().to_string();
            // The display is what `config.get` sends: it must stay valid JSON.
            serde_json::from_str::<serde_json::Value>(&shown).expect("display is JSON");
        }
    }
});
