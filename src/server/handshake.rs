//! The `connect` request: protocol negotiation, device signature, shared secret,
//! device-token fallback and pairing, in the original's order (spec §2.2–§2.5), each
//! failure with its exact text and close code.

use serde_json::{Value, json};

use super::connect_params::{ConnectParams, DeviceParams};
use super::pairing::PendingRequest;
use super::state::Gateway;
use crate::device;
use crate::protocol::{self, RpcError, close};
use crate::util::now_ms;

/// A refused handshake: the `res` error (if any) and how to close.
#[derive(Debug)]
pub struct Reject {
    pub error: Option<Box<RpcError>>,
    pub code: u16,
    pub reason: String,
}

impl Reject {
    pub(super) fn invalid(message: &str) -> Reject {
        Reject::with(RpcError::invalid(message), close::POLICY)
    }
    pub(super) fn with(error: RpcError, code: u16) -> Reject {
        let reason = protocol::close_reason(&error.message);
        Reject {
            error: Some(Box::new(error)),
            code,
            reason,
        }
    }
}

/// What a successful handshake established for the connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub role: String,
    pub scopes: Vec<String>,
    pub params: ConnectParams,
    pub auth_method: &'static str,
    pub device_token: Option<Value>,
    /// The negotiated protocol: 3, or 4 for openclaw 2026.9 clients.
    pub protocol: u64,
}

impl Session {
    pub fn is_v4(&self) -> bool {
        self.protocol == protocol::PROTOCOL_V4
    }
}

/// Facts about the socket that the checks need.
pub struct Peer {
    pub is_local: bool,
    pub remote_ip: String,
}

pub fn run(gw: &Gateway, raw: Option<&Value>, nonce: &str, peer: &Peer) -> Result<Session, Reject> {
    let params = super::connect_params::parse(raw).map_err(|m| Reject::invalid(&m))?;
    let v4 = params.protocol == Some(protocol::PROTOCOL_V4);
    let ip: Option<std::net::IpAddr> = peer.remote_ip.parse().ok();
    if let Some(ip) = ip
        && let Err(wait) = gw.throttle.check(ip)
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let msg = format!("too many failed authentication attempts; retry in {secs}s");
        let mut err = RpcError::unavailable(msg);
        if v4 {
            err = err.with_details(v4_auth_details(
                "AUTH_RATE_LIMITED",
                "rate_limited",
                false,
                "wait_then_retry",
            ));
        }
        return Err(Reject::with(err, close::POLICY));
    }
    let Some(negotiated) = params.protocol else {
        return Err(Reject::with(
            RpcError::invalid("protocol mismatch").with_details(json!({
                "code": "PROTOCOL_MISMATCH",
                "clientMinProtocol": params.min_protocol,
                "clientMaxProtocol": params.max_protocol,
                "expectedProtocol": protocol::PROTOCOL_V4,
                "minimumProbeProtocol": protocol::PROTOCOL_VERSION,
            })),
            close::PROTOCOL,
        ));
    };
    let role = params.role.clone().unwrap_or_else(|| "operator".into());
    if role != "operator" && role != "node" {
        return Err(Reject::invalid("invalid role"));
    }
    // Scopes as sent (for the signature) and with the role's default applied (v3 only:
    // a v4 client always names its scopes).
    let sent_scopes = params.scopes.clone().unwrap_or_default();
    let mut scopes = if sent_scopes.is_empty() && role == "operator" && !v4 {
        vec![protocol::SCOPE_ADMIN.to_string()]
    } else {
        sent_scopes.clone()
    };

    let rt = gw.runtime();
    let cfg = &rt.loaded.config;
    let ui = crate::protocol::is_control_ui(&params.client.id);
    let allow_insecure = cfg.gateway.control_ui.allow_insecure_auth == Some(true);
    let disable_device = cfg.gateway.control_ui.dangerously_disable_device_auth == Some(true);
    let ui_bypass = ui && (allow_insecure || disable_device);
    let present = |s: &Option<String>| s.as_deref().is_some_and(|t| !t.is_empty());
    let has_token = present(&params.token) || (v4 && present(&params.device_token));
    let has_shared = has_token || present(&params.password);

    let device = if ui && disable_device {
        None
    } else {
        params.device.clone()
    };
    let mut device_key_b64 = None;
    match &device {
        None => {
            if ui && !ui_bypass {
                return Err(Reject::invalid(if v4 {
                    "control ui requires device identity (use HTTPS or localhost secure context)"
                } else {
                    "control ui requires HTTPS or localhost (secure context)"
                }));
            }
            // v4 accepts the shared secret in either field (the UI sends both).
            let can_skip = if ui_bypass || v4 {
                has_shared
            } else {
                has_token
            };
            if !can_skip {
                let mut err = RpcError {
                    code: protocol::codes::NOT_PAIRED,
                    message: "device identity required".into(),
                    details: None,
                };
                if v4 {
                    err = err.with_details(json!({"code": "DEVICE_IDENTITY_REQUIRED", "reason": "device-identity-missing"}));
                }
                return Err(Reject::with(err, close::POLICY));
            }
            // v4 (connect-policy.ts): a device-less operator keeps its scopes only as the
            // local CLI or the CLI's loopback backend helper; any other gets none.
            if v4 && !ui_bypass && !keeps_scopes_without_device(&params, peer) {
                scopes.clear();
            }
        }
        Some(d) => {
            let check = if v4 { check_device_v4 } else { check_device };
            device_key_b64 = Some(check(d, &params, &role, &sent_scopes, nonce, peer)?);
        }
    }

    let auth_method = match shared_auth(&rt.auth, &params, v4) {
        Ok(m) => m,
        Err(failure) => {
            let mut candidates = vec![params.token.as_deref()];
            if v4 {
                candidates.push(params.device_token.as_deref());
            }
            let by_device_token = match &device {
                Some(d) => candidates
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                    .any(|t| lock(gw).verify_token(&d.id, t, &role, &scopes)),
                None => false,
            };
            if !by_device_token {
                if let Some(ip) = ip {
                    let detail = format!("client={} mode={}", params.client.id, params.client.mode);
                    gw.throttle.failed(ip, &detail);
                }
                if v4 {
                    return Err(super::handshake_v4::auth_failure(
                        failure,
                        &params,
                        device.is_some(),
                        peer.is_local,
                    ));
                }
                let msg =
                    super::auth::failure_message(failure, &params.client.id, &params.client.mode);
                return Err(Reject::invalid(&msg));
            }
            "device-token"
        }
    };

    let mut device_token = None;
    if let (Some(d), Some(key)) = (&device, device_key_b64) {
        if !(ui_bypass && has_shared) {
            pair_if_needed(gw, d, &key, &params, &role, &scopes, peer, v4)?;
        }
        let issued = lock(gw)
            .ensure_token_as(&d.id, &role, &scopes, v4)
            .map_err(|e| {
                Reject::with(
                    RpcError::unavailable(format!("cannot store device token: {e}")),
                    close::POLICY,
                )
            })?;
        device_token = issued.map(|t| {
            json!({"deviceToken": t.token, "role": t.role, "scopes": t.scopes, "issuedAtMs": t.rotated_at_ms.unwrap_or(t.created_at_ms)})
        });
    }
    if let Some(ip) = ip {
        gw.throttle.succeeded(ip);
    }
    Ok(Session {
        role,
        scopes,
        params,
        auth_method,
        device_token,
        protocol: negotiated,
    })
}

/// The shared-secret check; on v4 the secret may sit in `auth.token` or `auth.password`
/// (openclaw's Control UI sends its one "Gateway secret" field as both).
fn shared_auth(
    auth: &super::auth::ResolvedAuth,
    p: &ConnectParams,
    v4: bool,
) -> Result<&'static str, super::auth::Failure> {
    let (t, pw) = (p.token.as_deref(), p.password.as_deref());
    let first = super::auth::authorize(auth, t, pw);
    if first.is_ok() || !v4 {
        return first;
    }
    // Swapped fields: a hit is a success, a miss reports the first failure.
    super::auth::authorize(auth, pw, t).or(first)
}

/// openclaw's `shouldPreserveLocalCliSharedAuthScopes` / `shouldSkipLocalBackendSelfPairing`.
fn keeps_scopes_without_device(p: &ConnectParams, peer: &Peer) -> bool {
    let c = &p.client;
    peer.is_local
        && ((c.id == "cli" && c.mode == "cli") || (c.id == "gateway-client" && c.mode == "backend"))
}

pub(super) fn v4_auth_details(code: &str, reason: &str, retry_device: bool, next: &str) -> Value {
    json!({"code": code, "authReason": reason, "canRetryWithDeviceToken": retry_device, "recommendedNextStep": next})
}

pub(super) fn lock(gw: &Gateway) -> std::sync::MutexGuard<'_, super::pairing::PairingStore> {
    gw.pairing.lock().unwrap_or_else(|p| p.into_inner())
}

/// Device identity checks; returns the public key normalised to base64url.
fn check_device(
    d: &DeviceParams,
    params: &ConnectParams,
    role: &str,
    sent_scopes: &[String],
    nonce: &str,
    peer: &Peer,
) -> Result<String, Reject> {
    let key = device::parse_public_key(&d.public_key).ok();
    if key.as_ref().map(device::device_id_for).as_deref() != Some(d.id.as_str()) {
        return Err(Reject::invalid("device identity mismatch"));
    }
    if (now_ms() - d.signed_at).abs() > protocol::SIGNATURE_SKEW_MS {
        return Err(Reject::invalid("device signature expired"));
    }
    let provided = d.nonce.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if !peer.is_local && provided.is_none() {
        return Err(Reject::invalid("device nonce required"));
    }
    if provided.is_some_and(|n| n != nonce) {
        return Err(Reject::invalid("device nonce mismatch"));
    }
    let Some(key) = key else {
        return Err(Reject::invalid("device public key invalid"));
    };
    let fields = device::SignedFields {
        device_id: &d.id,
        client_id: &params.client.id,
        client_mode: &params.client.mode,
        role,
        scopes: sent_scopes,
        signed_at_ms: d.signed_at,
        token: params.token.as_deref().unwrap_or(""),
        nonce: provided,
    };
    let ok = device::verify_signature(&key, &device::signed_payload(&fields), &d.signature)
        || (provided.is_none() && peer.is_local && {
            let v1 = device::SignedFields {
                nonce: None,
                ..fields
            };
            device::verify_signature(&key, &device::signed_payload(&v1), &d.signature)
        });
    if !ok {
        return Err(Reject::invalid("device signature invalid"));
    }
    Ok(device::public_key_b64url(&key))
}

/// The v4 device checks live in `handshake_v4`.
fn check_device_v4(
    d: &DeviceParams,
    params: &ConnectParams,
    role: &str,
    sent_scopes: &[String],
    nonce: &str,
    _peer: &Peer,
) -> Result<String, Reject> {
    super::handshake_v4::check_device(d, params, role, sent_scopes, nonce)
}

/// Requires pairing when the device is unknown, its key changed, or it asks for a role
/// or scope it was not granted. Local clients are approved silently.
#[allow(clippy::too_many_arguments)]
fn pair_if_needed(
    gw: &Gateway,
    d: &DeviceParams,
    key: &str,
    params: &ConnectParams,
    role: &str,
    scopes: &[String],
    peer: &Peer,
    v4: bool,
) -> Result<(), Reject> {
    let needs = {
        let store = lock(gw);
        match store.paired.get(&d.id) {
            Some(p) if p.public_key == key => {
                let roles = p.allowed_roles();
                let granted = p.scopes.clone().unwrap_or_default();
                !roles.iter().any(|r| r == role)
                    || (!scopes.is_empty() && !scopes.iter().all(|s| granted.contains(s)))
            }
            _ => true,
        }
    };
    if !needs {
        return Ok(());
    }
    let io_err = |e: std::io::Error| {
        Reject::with(
            RpcError::unavailable(format!("cannot store pairing: {e}")),
            close::POLICY,
        )
    };
    let req = PendingRequest {
        request_id: String::new(),
        device_id: d.id.clone(),
        public_key: key.to_string(),
        display_name: params.client.display_name.clone(),
        platform: Some(params.client.platform.clone()),
        client_id: Some(params.client.id.clone()),
        client_mode: Some(params.client.mode.clone()),
        role: Some(role.to_string()),
        roles: None,
        scopes: Some(scopes.to_vec()),
        remote_ip: Some(peer.remote_ip.clone()),
        silent: Some(peer.is_local),
        is_repair: None,
        ts: 0,
        extra: Default::default(),
    };
    let (request, created) = lock(gw).request(req).map_err(io_err)?;
    if peer.is_local {
        let approved = lock(gw).approve(&request.request_id).map_err(io_err)?;
        if let Some(dev) = approved {
            tracing::info!(target: "gateway", "device pairing auto-approved device={} role={role}", dev.device_id);
            gw.host.bus.send(
                "device.pair.resolved",
                json!({"requestId": request.request_id, "deviceId": dev.device_id, "decision": "approved", "ts": now_ms()}),
                None,
                true,
            );
        }
        return Ok(());
    }
    if created {
        tracing::info!(target: "gateway", "device pairing requested device={} from {} (approve with `clawdbot devices approve {}`)", d.id, peer.remote_ip, request.request_id);
        gw.host.bus.send(
            "device.pair.requested",
            serde_json::to_value(&request).unwrap_or(Value::Null),
            None,
            true,
        );
    }
    Err(Reject::with(
        RpcError {
            code: protocol::codes::NOT_PAIRED,
            message: "pairing required".into(),
            details: Some(if v4 {
                json!({"requestId": request.request_id, "code": "PAIRING_REQUIRED", "recommendedNextStep": "wait_then_retry"})
            } else {
                json!({"requestId": request.request_id})
            }),
        },
        close::POLICY,
    ))
}
