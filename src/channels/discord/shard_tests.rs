//! Unit tests of the shard's pure parts (fatal codes, URLs, backoff, Debug).

use super::*;

#[test]
fn intents_cover_messages_and_content() {
    assert_eq!(INTENTS, 1 | 512 | 4096 | 32768);
}

#[test]
fn fatal_codes_and_hints() {
    for c in [4004, 4010, 4011, 4012, 4013, 4014] {
        assert!(fatal_message(c).is_some(), "{c}");
    }
    for c in [1000, 1006, 4000, 4007, 4008, 4009] {
        assert!(fatal_message(c).is_none(), "{c}");
    }
    assert!(
        fatal_message(4014)
            .unwrap()
            .contains("Message Content intent")
    );
}

#[test]
fn query_and_backoff() {
    assert_eq!(
        gateway_query("wss://gateway.discord.gg"),
        "wss://gateway.discord.gg/?v=10&encoding=json"
    );
    assert_eq!(
        gateway_query("ws://h:1/resume/"),
        "ws://h:1/resume/?v=10&encoding=json"
    );
    let mut s = Shard::new(ShardConfig::new(
        "ws://x",
        Secret::new("tok-SEKRIT"),
        CancellationToken::new(),
    ));
    for n in 1..=12 {
        s.failures = n;
        let b = s.backoff();
        let full = Duration::from_secs(1 << (n - 1).min(6)).min(Duration::from_secs(60));
        assert!(b >= full / 2 && b <= full, "{n}: {b:?}");
    }
    assert!(!format!("{s:?}").contains("SEKRIT"));
    assert!(!format!("{:?}", s.cfg).contains("SEKRIT"));
    assert_eq!(s.scrub("x tok-SEKRIT y"), "x *** y");
}
