//! A Discord message as the gateway decodes it: `MESSAGE_CREATE` fields (ids that will
//! go into URLs and file names must be snowflakes; the bot's mention is gone from the
//! text), the access rules built from an arbitrary `channels.discord` section, delivery
//! targets, and the durable inbox opened from whatever a crash left on disk.
//! Input: section JSON, message JSON, target, inbox file, separated by NUL bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use clawdbot::channels::access::{DmPolicy, allows};
use clawdbot::channels::discord::decode::{self, Target};
use clawdbot::channels::discord::{self, KIND};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const BOT: &str = "1100000000000000001";

fn state() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("clawdbot-fuzz-discord")
            .tempdir()
            .unwrap()
            .keep()
    })
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let section: Map<String, Value> = parts
        .next()
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_default();
    let msg: Value = parts
        .next()
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_default();
    let _ = decode::key(&msg);
    if let Some(m) = decode::message(&msg, BOT) {
        assert!(digits(&m.id) && digits(&m.channel_id) && digits(&m.author_id));
        assert!(m.guild_id.as_deref().is_none_or(digits));
        assert!(!m.text.is_empty() && m.text == m.text.trim());
        if m.mentioned {
            assert!(!m.text.contains(&format!("<@{BOT}>")), "{:?}", m.text);
        }
        let a = discord::access(&section, &m);
        if section.get("dm").and_then(|d| d.get("enabled")) == Some(&Value::Bool(false)) {
            assert_eq!(a.dm_policy, DmPolicy::Disabled);
        }
        // An allowlist entry never admits a sender by an empty name or id.
        let sender = m.sender();
        assert!(!allows(&KIND, &["".into(), "@".into(), "user:".into()], &sender));
        let _ = allows(&KIND, &a.dm_allow, &sender);
        let _ = allows(&KIND, &a.group_allow, &sender);
    }
    if let Some(t) = parts.next() {
        match decode::target(&String::from_utf8_lossy(t)) {
            Ok(Target::Channel(id) | Target::User(id)) => assert!(digits(&id), "{id:?}"),
            Err(e) => assert!(!e.is_empty()),
        }
    }
    let dir = state().join("discord");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("inbox-fz.json");
    match parts.next() {
        Some(bytes) => std::fs::write(&p, bytes).unwrap(),
        None => {
            let _ = std::fs::remove_file(&p);
        }
    }
    let Ok(inbox) = discord::open_inbox(state(), "fz") else {
        return;
    };
    let before = inbox.pending().len();
    if let Some(k) = decode::key(&msg) {
        if let Ok(fresh) = inbox.accept(vec![(k, msg.clone())]) {
            assert!(inbox.pending().len() >= before);
            if !fresh.is_empty() {
                // Seen: never admitted twice.
                assert!(inbox.accept(vec![(k, msg)]).unwrap().is_empty());
                inbox.done(k).unwrap();
            }
        }
    }
});
