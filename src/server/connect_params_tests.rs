//! Unit tests of `connect_params` (both schemas, negotiation).

use super::*;
use serde_json::json;

fn base() -> Value {
    json!({"minProtocol": 3, "maxProtocol": 3,
           "client": {"id": "cli", "version": "dev", "platform": "linux", "mode": "cli"}})
}

#[test]
fn accepts_cli_shape_and_both_id_families() {
    assert!(parse(Some(&base())).is_ok());
    for id in ["clawdbot-control-ui", "moltbot-control-ui"] {
        let mut v = base();
        v["client"]["id"] = json!(id);
        assert!(parse(Some(&v)).is_ok(), "{id}");
    }
}

#[test]
fn ajv_shaped_errors() {
    let mut v = base();
    v["bogus"] = json!(1);
    v["client"]["id"] = json!("nope");
    let e = parse(Some(&v)).unwrap_err();
    assert_eq!(
        e,
        "invalid connect params: at root: unexpected property 'bogus'; at /client/id: must be equal to one of the allowed values"
    );
    let e = parse(Some(&json!({"maxProtocol": 3}))).unwrap_err();
    assert!(
        e.contains("at root: must have required property 'minProtocol'"),
        "{e}"
    );
    assert!(
        e.contains("at root: must have required property 'client'"),
        "{e}"
    );
}

fn v4() -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
           "client": {"id": "openclaw-control-ui", "version": "2026.9.6", "buildId": "b",
                      "platform": "Linux x86_64", "mode": "webchat", "timeZone": "UTC"},
           "modelCatalog": {"sessionKey": "main"}, "caps": ["tool-events"],
           "auth": {"token": "t", "password": "t", "deviceToken": "d"}})
}

#[test]
fn negotiation_prefers_v4_then_v3() {
    assert_eq!(negotiate(3, 4), Some(4));
    assert_eq!(negotiate(4, 4), Some(4));
    assert_eq!(negotiate(3, 3), Some(3));
    assert_eq!(negotiate(1, 3), Some(3));
    assert_eq!(negotiate(5, 99), None);
    assert_eq!(negotiate(1, 2), None);
    assert_eq!(negotiate(4, 3), None);
}

#[test]
fn v4_superset_is_accepted_only_on_v4() {
    let p = parse(Some(&v4())).unwrap();
    assert_eq!(p.protocol, Some(4));
    assert_eq!(p.client.build_id.as_deref(), Some("b"));
    assert_eq!(p.device_token.as_deref(), Some("d"));
    // The same connect offering only v3 is checked against v3's closed schema.
    let mut v = v4();
    v["minProtocol"] = json!(3);
    v["maxProtocol"] = json!(3);
    let e = parse(Some(&v)).unwrap_err();
    for needle in [
        "at root: unexpected property 'modelCatalog'",
        "at /client: unexpected property 'buildId'",
        "at /client: unexpected property 'timeZone'",
        "at /client/id: must be equal to one of the allowed values",
        "at /auth: unexpected property 'deviceToken'",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // v4 drops the clawdbot ids, and stays closed.
    let mut v = v4();
    v["client"]["id"] = json!("clawdbot-control-ui");
    v["client"]["bogus"] = json!(1);
    let e = parse(Some(&v)).unwrap_err();
    assert!(e.contains("at /client/id: must be equal"), "{e}");
    assert!(e.contains("at /client: unexpected property 'bogus'"), "{e}");
}

#[test]
fn v4_field_rules() {
    let mut v = v4();
    v["client"]["buildId"] = json!("x".repeat(97));
    v["client"]["timeZone"] = json!("");
    v["caps"] = json!([""]);
    v["modelCatalog"] = json!({"sessionKey": "s", "shortId": "x"});
    let e = parse(Some(&v)).unwrap_err();
    assert!(
        e.contains("/client/buildId: must NOT have more than 96"),
        "{e}"
    );
    assert!(
        e.contains("/client/timeZone: must NOT have fewer than 1"),
        "{e}"
    );
    assert!(e.contains("at /caps: items"), "{e}");
    assert!(
        e.contains("at /modelCatalog: must match exactly one"),
        "{e}"
    );
    // A v4 device must carry the nonce; v3 keeps it optional.
    let dev = json!({"id": "d", "publicKey": "k", "signature": "s", "signedAt": 1});
    let mut v = v4();
    v["device"] = dev.clone();
    let e = parse(Some(&v)).unwrap_err();
    assert!(
        e.contains("at /device: must have required property 'nonce'"),
        "{e}"
    );
    let mut v = base();
    v["device"] = dev;
    assert!(parse(Some(&v)).is_ok());
}

#[test]
fn a_range_matching_neither_reaches_the_mismatch_answer() {
    for (min, max) in [(99, 99), (1, 2)] {
        let mut v = v4();
        v["minProtocol"] = json!(min);
        v["maxProtocol"] = json!(max);
        assert_eq!(parse(Some(&v)).unwrap().protocol, None);
        let mut v = base();
        v["minProtocol"] = json!(min);
        v["maxProtocol"] = json!(max);
        assert_eq!(parse(Some(&v)).unwrap().protocol, None);
    }
}
