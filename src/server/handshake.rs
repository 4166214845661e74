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
    fn invalid(message: &str) -> Reject {
        Reject::with(RpcError::invalid(message), close::POLICY)
    }
    fn with(error: RpcError, code: u16) -> Reject {
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
}

/// Facts about the socket that the checks need.
pub struct Peer {
    pub is_local: bool,
    pub remote_ip: String,
}

pub fn run(gw: &Gateway, raw: Option<&Value>, nonce: &str, peer: &Peer) -> Result<Session, Reject> {
    let params = super::connect_params::parse(raw).map_err(|m| Reject::invalid(&m))?;
    let ip: Option<std::net::IpAddr> = peer.remote_ip.parse().ok();
    if let Some(ip) = ip
        && let Err(wait) = gw.throttle.check(ip)
    {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let msg = format!("too many failed authentication attempts; retry in {secs}s");
        return Err(Reject::with(RpcError::unavailable(msg), close::POLICY));
    }
    if params.max_protocol < protocol::PROTOCOL_VERSION
        || params.min_protocol > protocol::PROTOCOL_VERSION
    {
        return Err(Reject::with(
            RpcError::invalid("protocol mismatch")
                .with_details(json!({"expectedProtocol": protocol::PROTOCOL_VERSION})),
            close::PROTOCOL,
        ));
    }
    let role = params.role.clone().unwrap_or_else(|| "operator".into());
    if role != "operator" && role != "node" {
        return Err(Reject::invalid("invalid role"));
    }
    // Scopes as sent (for the signature) and with the role's default applied.
    let sent_scopes = params.scopes.clone().unwrap_or_default();
    let scopes = if sent_scopes.is_empty() && role == "operator" {
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
    let has_token = params.token.as_deref().is_some_and(|t| !t.is_empty());
    let has_shared = has_token || params.password.as_deref().is_some_and(|p| !p.is_empty());

    let device = if ui && disable_device {
        None
    } else {
        params.device.clone()
    };
    let mut device_key_b64 = None;
    match &device {
        None => {
            if ui && !ui_bypass {
                return Err(Reject::invalid(
                    "control ui requires HTTPS or localhost (secure context)",
                ));
            }
            let can_skip = if ui_bypass { has_shared } else { has_token };
            if !can_skip {
                return Err(Reject::with(
                    RpcError {
                        code: protocol::codes::NOT_PAIRED,
                        message: "device identity required".into(),
                        details: None,
                    },
                    close::POLICY,
                ));
            }
        }
        Some(d) => {
            device_key_b64 = Some(check_device(d, &params, &role, &sent_scopes, nonce, peer)?);
        }
    }

    let auth_method = match super::auth::authorize(
        &rt.auth,
        params.token.as_deref(),
        params.password.as_deref(),
    ) {
        Ok(m) => m,
        Err(failure) => {
            let by_device_token = match (&device, params.token.as_deref()) {
                (Some(d), Some(t)) if !t.is_empty() => {
                    lock(gw).verify_token(&d.id, t, &role, &scopes)
                }
                _ => false,
            };
            if !by_device_token {
                if let Some(ip) = ip {
                    let detail = format!("client={} mode={}", params.client.id, params.client.mode);
                    gw.throttle.failed(ip, &detail);
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
            pair_if_needed(gw, d, &key, &params, &role, &scopes, peer)?;
        }
        let issued = lock(gw).ensure_token(&d.id, &role, &scopes).map_err(|e| {
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
    })
}

fn lock(gw: &Gateway) -> std::sync::MutexGuard<'_, super::pairing::PairingStore> {
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

/// Requires pairing when the device is unknown, its key changed, or it asks for a role
/// or scope it was not granted. Local clients are approved silently.
fn pair_if_needed(
    gw: &Gateway,
    d: &DeviceParams,
    key: &str,
    params: &ConnectParams,
    role: &str,
    scopes: &[String],
    peer: &Peer,
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
            details: Some(json!({"requestId": request.request_id})),
        },
        close::POLICY,
    ))
}
