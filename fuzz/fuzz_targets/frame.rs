//! A WebSocket text frame from a peer: the first frame (`connect` and its params, with
//! AJV-shaped errors) and every frame after it (shape, `connect` only once, role and
//! scope checks). Every refusal must be a valid `res` frame, and close reasons must fit
//! a close frame (123 bytes).
#![no_main]

use clawdbot::protocol;
use clawdbot::server::{connect_params, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match frame::first(text) {
        frame::First::Connect { params, .. } => {
            if let Err(msg) = connect_params::parse(params.as_ref()) {
                let reason = protocol::close_reason(&format!("invalid connect params: {msg}"));
                assert!(
                    reason.len() <= 123,
                    "close reason of {} bytes",
                    reason.len()
                );
            }
        }
        frame::First::NotConnect { id } => assert!(!id.is_empty()),
        frame::First::NotJson | frame::First::Invalid => {}
    }
    let roles: [(&str, Vec<String>); 3] = [
        ("operator", vec!["operator.admin".into()]),
        ("operator", vec!["operator.read".into()]),
        ("node", vec![]),
    ];
    for (role, scopes) in &roles {
        match frame::parse(text, role, scopes) {
            Ok(req) => {
                assert!(!req.id.is_empty() && !req.method.is_empty());
                assert_ne!(req.method, "connect");
            }
            Err(refusal) => {
                let v: serde_json::Value =
                    serde_json::from_str(&refusal.frame()).expect("refusal is JSON");
                assert_eq!(v["type"], "res");
                assert_eq!(v["ok"], false);
                assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()));
            }
        }
    }
    let _ = protocol::close_reason(text);
});
