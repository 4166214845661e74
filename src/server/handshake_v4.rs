//! What protocol v4 (openclaw 2026.9 clients) changes in the handshake, beside the v3
//! code in `handshake`: the device proof (signature payload v3, nonce always required,
//! 2-minute skew), failure details clients act on (`recommendedNextStep`), and the
//! v4 `hello-ok` (required `auth` block, `features.capabilities`, `server.bootId`).
//! Facts: ../shared/spec/protocol-v4.md §3.3–§3.7.

use serde_json::{Value, json};

use super::auth::Failure;
use super::connect_params::{ConnectParams, DeviceParams};
use super::handshake::{Reject, Session, v4_auth_details};
use crate::device;
use crate::protocol::{self, RpcError, close};
use crate::util::now_ms;

/// The v3 signature payload (openclaw `device-auth.ts`): v2's fields, then the client's
/// platform and device family, trimmed and ASCII-lower-cased.
pub fn signed_payload_v3(f: &device::SignedFields, platform: &str, device_family: &str) -> String {
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    format!(
        "v3|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        f.device_id,
        f.client_id,
        f.client_mode,
        f.role,
        f.scopes.join(","),
        f.signed_at_ms,
        f.token,
        f.nonce.unwrap_or(""),
        norm(platform),
        norm(device_family)
    )
}

fn device_error(message: &str, code: &str, reason: &str) -> Reject {
    Reject::with(
        RpcError::invalid(message).with_details(json!({"code": code, "reason": reason})),
        close::POLICY,
    )
}

/// v4 device checks, in v3's order; returns the public key normalised to base64url.
/// The nonce is required for every client (local or not) and must be the challenge's;
/// the payload may be v3 (tried first, what 2026.9 clients sign) or v2, never v1.
pub fn check_device(
    d: &DeviceParams,
    params: &ConnectParams,
    role: &str,
    sent_scopes: &[String],
    nonce: &str,
) -> Result<String, Reject> {
    let key = device::parse_public_key(&d.public_key).ok();
    if key.as_ref().map(device::device_id_for).as_deref() != Some(d.id.as_str()) {
        return Err(device_error(
            "device identity mismatch",
            "DEVICE_AUTH_DEVICE_ID_MISMATCH",
            "device-id-mismatch",
        ));
    }
    if (now_ms() - d.signed_at).abs() > protocol::SIGNATURE_SKEW_V4_MS {
        return Err(device_error(
            "device signature expired",
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device-signature-stale",
        ));
    }
    let Some(provided) = d.nonce.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
        return Err(device_error(
            "device nonce required",
            "DEVICE_AUTH_NONCE_REQUIRED",
            "device-nonce-missing",
        ));
    };
    if provided != nonce {
        return Err(device_error(
            "device nonce mismatch",
            "DEVICE_AUTH_NONCE_MISMATCH",
            "device-nonce-mismatch",
        ));
    }
    let Some(key) = key else {
        return Err(device_error(
            "device public key invalid",
            "DEVICE_AUTH_PUBLIC_KEY_INVALID",
            "device-public-key",
        ));
    };
    let fields = device::SignedFields {
        device_id: &d.id,
        client_id: &params.client.id,
        client_mode: &params.client.mode,
        role,
        scopes: sent_scopes,
        signed_at_ms: d.signed_at,
        token: params.signed_token(),
        nonce: Some(provided),
    };
    let family = params.client.device_family.as_deref().unwrap_or("");
    let v3 = signed_payload_v3(&fields, &params.client.platform, family);
    let ok = device::verify_signature(&key, &v3, &d.signature)
        || device::verify_signature(&key, &device::signed_payload(&fields), &d.signature);
    if !ok {
        return Err(device_error(
            "device signature invalid",
            "DEVICE_AUTH_SIGNATURE_INVALID",
            "device-signature",
        ));
    }
    Ok(device::public_key_b64url(&key))
}

/// A refused shared secret on v4: openclaw's texts (auth-messages.ts) and the details
/// its clients use to decide what to do next.
pub fn auth_failure(f: Failure, p: &ConnectParams, has_device: bool, is_local: bool) -> Reject {
    let ui = protocol::is_control_ui(&p.client.id) || p.client.mode == "webchat";
    let cli = p.client.mode == "cli";
    let token_hint = if cli && is_local {
        "use this gateway's gateway.auth.token or pair the device"
    } else if cli {
        "set gateway.remote.token to match gateway.auth.token"
    } else if ui {
        "open the dashboard URL and paste the token in Control UI settings"
    } else {
        "provide gateway auth token"
    };
    let password_hint = if cli && is_local {
        "use this gateway's gateway.auth.password or pair the device"
    } else if cli {
        "set gateway.remote.password to match gateway.auth.password"
    } else if ui {
        "enter the password in Control UI settings"
    } else {
        "provide gateway auth password"
    };
    let mismatch = matches!(f, Failure::TokenMismatch | Failure::PasswordMismatch);
    let retry = has_device && mismatch;
    let (message, code, reason) = match f {
        Failure::TokenMissing => (
            format!("unauthorized: gateway token missing ({token_hint})"),
            "AUTH_TOKEN_MISSING",
            "token_missing",
        ),
        Failure::TokenMismatch => (
            format!("unauthorized: gateway token mismatch ({token_hint})"),
            "AUTH_TOKEN_MISMATCH",
            "token_mismatch",
        ),
        Failure::TokenMissingConfig => (
            "unauthorized: gateway token not configured on gateway (set gateway.auth.token)".into(),
            "AUTH_TOKEN_NOT_CONFIGURED",
            "token_missing_config",
        ),
        Failure::PasswordMissing => (
            format!("unauthorized: gateway password missing ({password_hint})"),
            "AUTH_PASSWORD_MISSING",
            "password_missing",
        ),
        Failure::PasswordMismatch => (
            format!("unauthorized: gateway password mismatch ({password_hint})"),
            "AUTH_PASSWORD_MISMATCH",
            "password_mismatch",
        ),
        Failure::PasswordMissingConfig => (
            "unauthorized: gateway password not configured on gateway (set gateway.auth.password)"
                .into(),
            "AUTH_PASSWORD_NOT_CONFIGURED",
            "password_missing_config",
        ),
    };
    let next = if retry {
        "retry_with_device_token"
    } else if mismatch {
        "update_auth_credentials"
    } else if matches!(
        f,
        Failure::TokenMissingConfig | Failure::PasswordMissingConfig
    ) {
        "review_auth_configuration"
    } else {
        "update_auth_configuration"
    };
    Reject::with(
        RpcError::invalid(message).with_details(v4_auth_details(code, reason, retry, next)),
        close::POLICY,
    )
}

/// One id per gateway process, so clients can tell a restart from a reconnect.
pub fn boot_id() -> &'static str {
    static BOOT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// Turns the v3 `hello-ok` into v4's (HelloOkSchema): `protocol: 4`, `server` without
/// `host`, `features.capabilities` (none: we advertise only what we implement), and the
/// required `auth {method, role, scopes, deviceToken?, issuedAtMs?}`. `policy` keeps our
/// real limits, which are smaller than openclaw's and what we enforce.
pub fn hello_ok(mut hello: Value, s: &Session) -> Value {
    hello["protocol"] = json!(protocol::PROTOCOL_V4);
    if let Some(server) = hello["server"].as_object_mut() {
        server.remove("host");
        server.insert("bootId".into(), json!(boot_id()));
    }
    hello["features"]["capabilities"] = json!([]);
    // A primary model always resolves here (a default is built in); `false` would send
    // the 2026.9 UI to its first-run model setup, which is openclaw's own wizard.
    if let Some(d) = hello["snapshot"]["sessionDefaults"].as_object_mut() {
        d.insert("modelConfigured".into(), json!(true));
    }
    if let Some(m) = hello["features"]["methods"].as_array_mut() {
        m.extend(super::methods_v4::METHODS.iter().map(|x| json!(x)));
    }
    let mut auth = json!({"method": s.auth_method, "role": s.role, "scopes": s.scopes});
    if let Some(t) = &s.device_token {
        auth["deviceToken"] = t["deviceToken"].clone();
        auth["issuedAtMs"] = t["issuedAtMs"].clone();
    }
    hello["auth"] = auth;
    hello
}

/// A broadcast as a v4 client gets it. `chat` deltas also carry `deltaText` (the whole
/// text so far) with `replace: true`, openclaw's form (its UI then replaces its stream
/// with the text instead of guessing from `message`); every other event as v3 has it.
pub fn event_frame(ev: &crate::events::Event, seq: u64) -> String {
    if ev.name != "chat" || !ev.frame.contains(r#""state":"delta""#) {
        return ev.numbered(seq);
    }
    let Ok(mut v) = serde_json::from_str::<Value>(&ev.frame) else {
        return ev.numbered(seq);
    };
    if let Some(text) = v["payload"]["message"]["content"][0]["text"]
        .as_str()
        .map(str::to_string)
    {
        v["payload"]["deltaText"] = json!(text);
        v["payload"]["replace"] = json!(true);
    }
    v["seq"] = json!(seq);
    v.to_string()
}

/// A method refused for scopes, in v4's shape: `FORBIDDEN` with `MISSING_SCOPE` details
/// (v3 answers `INVALID_REQUEST "missing scope: X"`).
pub fn forbid(err: &mut RpcError) {
    if let Some(scope) = err.message.strip_prefix("missing scope: ") {
        let scope = scope.to_string();
        err.code = protocol::codes::FORBIDDEN;
        err.details = Some(
            json!({"code": "MISSING_SCOPE", "missingScope": scope, "requiredScopes": [scope]}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real 2026.9 frame (frames-v4/scenarios-v4-client-vs-openclaw.json,
    /// `reconnect-with-device-token`): its token is a real device token, not elided, so
    /// the captured signature checks against our v3 payload.
    #[test]
    fn a_captured_v4_signature_verifies_with_payload_v3() {
        let scopes: Vec<String> = ["operator.admin", "operator.approvals", "operator.pairing"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let fields = device::SignedFields {
            device_id: "d6c72ad0da7e94f88036879021f57b928bcefe91a933b321d47d0517d66c6208",
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &scopes,
            signed_at_ms: 1796154606033,
            token: "eTsUpK80w1Lat8N1cZxttPiO-5dd3DgQyk7AsAJZm68",
            nonce: Some("65b6459c-a432-4f7e-a071-ef0ee335e739"),
        };
        let key = device::parse_public_key("AnZBASl2DtuzZ5OrY0VLsgaawuZ0z8Je2e-w2M4s7rA").unwrap();
        assert_eq!(device::device_id_for(&key), fields.device_id);
        let sig = "e_LmbusGTn3FmpEVZLKz2gJtFp7AU-NBo45MdpKtWn7ICBNU_gcdJlxejlyywwt_MTSoPo7oQQ9HJmUhp7tcAw";
        // platform "linux", deviceFamily "Linux": lower-cased before signing.
        let v3 = signed_payload_v3(&fields, "linux", " Linux ");
        assert!(device::verify_signature(&key, &v3, sig), "{v3}");
        assert!(!device::verify_signature(
            &key,
            &device::signed_payload(&fields),
            sig
        ));
        let other = signed_payload_v3(&fields, "darwin", "Linux");
        assert!(!device::verify_signature(&key, &other, sig));
    }

    #[test]
    fn scope_refusals_become_forbidden() {
        let mut e = RpcError::invalid("missing scope: operator.read");
        forbid(&mut e);
        assert_eq!(e.code, "FORBIDDEN");
        assert_eq!(
            e.details.unwrap(),
            json!({"code": "MISSING_SCOPE", "missingScope": "operator.read", "requiredScopes": ["operator.read"]})
        );
        let mut e = RpcError::invalid("unknown method: x");
        forbid(&mut e);
        assert_eq!(e.code, "INVALID_REQUEST");
    }

    #[test]
    fn tokens_have_the_v4_form() {
        let t = super::super::pairing::new_token_v4();
        assert_eq!(t.len(), 43);
        assert!(super::super::pairing::is_v4_token(&t));
        assert!(!super::super::pairing::is_v4_token(&"a".repeat(32)));
    }
}
