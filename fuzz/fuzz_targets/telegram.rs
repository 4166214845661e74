//! Bot API bytes as the gateway decodes them: a `getUpdates` answer (any status, any
//! body), each update's message fields, the bot-mention rule, the allowlist; and the
//! durable inbox opened from whatever a crash left on disk, then fed the updates.
//! Input: body, inbox file and offset file, separated by NUL bytes.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use clawdbot::channels::telegram::decode::{self, Envelope};
use clawdbot::channels::access::allows;
use clawdbot::channels::telegram::{self, KIND};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn state() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("clawdbot-fuzz-telegram")
            .tempdir()
            .unwrap()
            .keep()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let body = parts.next().unwrap_or_default();
    let status = if body.first().is_some_and(|b| b % 2 == 0) {
        200
    } else {
        502
    };
    let updates = match decode::envelope(status, body) {
        Ok(Envelope::Ok(result)) => decode::updates(result),
        Ok(Envelope::Err { description, .. }) => {
            assert!(!description.is_empty());
            vec![]
        }
        Err(_) => vec![],
    };
    let allow = [
        "*".to_string(),
        "12345".into(),
        "@ann".into(),
        "tg:".into(),
        String::new(),
    ];
    for u in &updates {
        let _ = decode::chat_of(u);
        if let Some(m) = decode::message(u) {
            assert!(!m.text.trim().is_empty());
            for bot in ["", "MyBot", "bot"] {
                let (mentioned, rest) = decode::mention(m.text, bot);
                if mentioned {
                    assert_eq!(rest.len(), m.text.len() - bot.len() - 1);
                } else {
                    assert_eq!(rest, m.text);
                }
            }
            // Without `*`, an entry never admits a sender that has no id and no username.
            let strict = &allow[1..];
            if m.from["id"].as_i64().is_none()
                && m.from["username"].as_str().is_none_or(str::is_empty)
            {
                assert!(!allows(&KIND, strict, &m.sender()), "{:?}", m.from);
            }
            let _ = allows(&KIND, &allow, &m.sender());
        }
    }
    // The inbox as a crash may have left it.
    let dir = state().join("telegram");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, part) in ["inbox-fz.json", "update-offset-fz.json"]
        .iter()
        .zip([parts.next(), parts.next()])
    {
        let p = dir.join(name);
        match part {
            Some(bytes) => std::fs::write(&p, bytes).unwrap(),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let Ok(inbox) = telegram::open_inbox(state(), "fz") else {
        return;
    };
    let before = inbox.offset();
    let pending: Vec<Value> = inbox.pending();
    if let Ok(fresh) = telegram::accept(&inbox, state(), "fz", updates) {
        // The offset never moves backwards, and everything fresh is pending.
        assert!(inbox.offset() >= before);
        assert!(inbox.pending().len() >= pending.len());
        for u in fresh {
            let id = u["update_id"].as_i64().expect("fresh updates have ids");
            inbox.done(id).unwrap();
        }
    }
});
