//! Strict validation of `connect` params (ConnectParams, spec §2.3), with AJV-shaped
//! messages (`at /client/id: ...`) because clients show them verbatim.
//!
//! Two closed schemas, picked by the protocol the connect negotiates: v3 exactly as the
//! Clawdbot-era clients expect, and openclaw's v4 superset (protocol-v4.md §3.4). A
//! connect that negotiates neither is checked against their union, so that a well-formed
//! connect of any era gets the `protocol mismatch` answer rather than a schema error.

use serde_json::{Map, Value};

use crate::protocol::{CLIENT_IDS, CLIENT_IDS_V4, CLIENT_MODES, CLIENT_MODES_V4};

/// Which schema a connect is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    V3,
    V4,
    /// Neither protocol negotiated: the union, so the mismatch is what gets reported.
    Either,
}

impl Schema {
    fn v4_keys(self) -> bool {
        self != Schema::V3
    }
    fn v3_keys(self) -> bool {
        self != Schema::V4
    }
}

/// The protocol for a client range: v4 when `min ≤ 4 ≤ max`, else v3 when
/// `min ≤ 3 ≤ max`, else none (protocol mismatch).
pub fn negotiate(min: u64, max: u64) -> Option<u64> {
    [
        crate::protocol::PROTOCOL_V4,
        crate::protocol::PROTOCOL_VERSION,
    ]
    .into_iter()
    .find(|v| min <= *v && *v <= max)
}

#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: String,
    pub display_name: Option<String>,
    pub version: String,
    pub platform: String,
    pub device_family: Option<String>,
    pub model_identifier: Option<String>,
    pub mode: String,
    pub instance_id: Option<String>,
    /// v4 only.
    pub build_id: Option<String>,
    /// v4 only.
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DeviceParams {
    pub id: String,
    pub public_key: String,
    pub signature: String,
    pub signed_at: i64,
    pub nonce: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub min_protocol: u64,
    pub max_protocol: u64,
    pub client: ClientInfo,
    pub role: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub device: Option<DeviceParams>,
    pub token: Option<String>,
    pub password: Option<String>,
    /// v4 `auth.deviceToken` (a device token sent apart from the shared secret).
    pub device_token: Option<String>,
    /// v4 `auth.bootstrapToken` (only used in the signed payload; we issue none).
    pub bootstrap_token: Option<String>,
    /// The negotiated protocol (`None`: mismatch, answered by the handshake).
    pub protocol: Option<u64>,
}

impl ConnectParams {
    /// The token the device signed: `auth.token ?? auth.deviceToken ?? auth.bootstrapToken`
    /// on v4 (connect-device-proof.ts), `auth.token` on v3.
    pub fn signed_token(&self) -> &str {
        self.token
            .as_deref()
            .or(self.device_token.as_deref())
            .or(self.bootstrap_token.as_deref())
            .unwrap_or("")
    }
}

const ROOT_KEYS: &[&str] = &[
    "minProtocol",
    "maxProtocol",
    "client",
    "caps",
    "commands",
    "permissions",
    "pathEnv",
    "role",
    "scopes",
    "device",
    "auth",
    "locale",
    "userAgent",
];
const CLIENT_KEYS: &[&str] = &[
    "id",
    "displayName",
    "version",
    "platform",
    "deviceFamily",
    "modelIdentifier",
    "mode",
    "instanceId",
];
const DEVICE_KEYS: &[&str] = &["id", "publicKey", "signature", "signedAt", "nonce"];
const AUTH_KEYS: &[&str] = &["token", "password"];
/// Added by v4 at the top level, in `client` and in `auth`.
const ROOT_KEYS_V4: &[&str] = &["computerUse", "workerRuns", "modelCatalog"];
const CLIENT_KEYS_V4: &[&str] = &["buildId", "timeZone"];
const AUTH_KEYS_V4: &[&str] = &[
    "bootstrapToken",
    "deviceToken",
    "approvalRuntimeToken",
    "agentRuntimeIdentityToken",
];
const MODEL_CATALOG_KEYS: &[&str] = &["agentId", "sessionKey", "shortId", "slugHint"];

fn keys(base: &[&'static str], extra: &[&'static str], with_extra: bool) -> Vec<&'static str> {
    let mut k = base.to_vec();
    if with_extra {
        k.extend_from_slice(extra);
    }
    k
}

struct Check {
    errors: Vec<String>,
}

impl Check {
    fn at(path: &str) -> String {
        if path.is_empty() {
            "root".into()
        } else {
            path.into()
        }
    }

    /// A string of `min..=max` characters (v4's `buildId`, `timeZone`).
    fn bounded(&mut self, v: Option<&Value>, path: &str, max: usize) -> Option<String> {
        let s = self.string(v, path, true)?;
        if s.chars().count() > max {
            self.errors.push(format!(
                "at {path}: must NOT have more than {max} characters"
            ));
            return None;
        }
        Some(s)
    }

    fn strict(&mut self, obj: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.errors
                    .push(format!("at {}: unexpected property '{k}'", Self::at(path)));
            }
        }
    }

    fn required<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<&'a Value> {
        let v = obj.get(key);
        if v.is_none() {
            self.errors.push(format!(
                "at {}: must have required property '{key}'",
                Self::at(path)
            ));
        }
        v
    }

    fn string(&mut self, v: Option<&Value>, path: &str, non_empty: bool) -> Option<String> {
        match v? {
            Value::String(s) if non_empty && s.is_empty() => {
                self.errors
                    .push(format!("at {path}: must NOT have fewer than 1 characters"));
                None
            }
            Value::String(s) => Some(s.clone()),
            _ => {
                self.errors.push(format!("at {path}: must be string"));
                None
            }
        }
    }

    fn int(&mut self, v: Option<&Value>, path: &str, min: i64) -> Option<i64> {
        let v = v?;
        match v.as_i64() {
            Some(n) if n >= min => Some(n),
            Some(_) => {
                self.errors.push(format!("at {path}: must be >= {min}"));
                None
            }
            None => {
                self.errors.push(format!("at {path}: must be integer"));
                None
            }
        }
    }

    fn string_array(&mut self, v: Option<&Value>, path: &str) -> Option<Vec<String>> {
        match v? {
            Value::Array(items) if items.iter().all(Value::is_string) => Some(
                items
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => {
                self.errors
                    .push(format!("at {path}: must be array of strings"));
                None
            }
        }
    }

    fn object<'a>(&mut self, v: Option<&'a Value>, path: &str) -> Option<&'a Map<String, Value>> {
        match v? {
            Value::Object(o) => Some(o),
            _ => {
                self.errors.push(format!("at {path}: must be object"));
                None
            }
        }
    }
}

/// Validates and extracts; `Err` is the full `invalid connect params: ...` message.
/// The schema follows the protocol the client's range negotiates ([`negotiate`]).
pub fn parse(params: Option<&Value>) -> Result<ConnectParams, String> {
    let range = |k: &str| params.and_then(|p| p.get(k)).and_then(Value::as_u64);
    let protocol = match (range("minProtocol"), range("maxProtocol")) {
        (Some(min), Some(max)) => negotiate(min, max),
        _ => None,
    };
    let schema = match protocol {
        Some(crate::protocol::PROTOCOL_V4) => Schema::V4,
        Some(_) => Schema::V3,
        None => Schema::Either,
    };
    let mut p = parse_with(params, schema)?;
    p.protocol = protocol;
    Ok(p)
}

/// Validates against one schema (see [`Schema`]).
pub fn parse_with(params: Option<&Value>, schema: Schema) -> Result<ConnectParams, String> {
    let mut c = Check { errors: vec![] };
    let empty = Map::new();
    let root = match params {
        Some(Value::Object(o)) => o,
        _ => {
            c.errors.push("at root: must be object".into());
            &empty
        }
    };
    let v4 = schema.v4_keys();
    c.strict(root, "", &keys(ROOT_KEYS, ROOT_KEYS_V4, v4));
    let min = c
        .required(root, "", "minProtocol")
        .and_then(|v| c_int(&mut c, v, "/minProtocol"));
    let max = c
        .required(root, "", "maxProtocol")
        .and_then(|v| c_int(&mut c, v, "/maxProtocol"));
    let client_obj = c.required(root, "", "client");
    let client_obj = c.object(client_obj, "/client");
    let client = client_obj.and_then(|o| {
        c.strict(o, "/client", &keys(CLIENT_KEYS, CLIENT_KEYS_V4, v4));
        let id = c
            .required(o, "/client", "id")
            .and_then(|v| c.string(Some(v), "/client/id", true));
        let id_ok = |id: &str| {
            (schema.v3_keys() && CLIENT_IDS.contains(&id))
                || (schema.v4_keys() && CLIENT_IDS_V4.contains(&id))
        };
        if let Some(id) = &id
            && !id_ok(id)
        {
            c.errors
                .push("at /client/id: must be equal to one of the allowed values".into());
        }
        let version = c
            .required(o, "/client", "version")
            .and_then(|v| c.string(Some(v), "/client/version", true));
        let platform = c
            .required(o, "/client", "platform")
            .and_then(|v| c.string(Some(v), "/client/platform", true));
        let mode = c
            .required(o, "/client", "mode")
            .and_then(|v| c.string(Some(v), "/client/mode", true));
        let modes = if v4 { CLIENT_MODES_V4 } else { CLIENT_MODES };
        if let Some(m) = &mode
            && !modes.contains(&m.as_str())
        {
            c.errors
                .push("at /client/mode: must be equal to one of the allowed values".into());
        }
        let display_name = c.string(o.get("displayName"), "/client/displayName", false);
        let device_family = c.string(o.get("deviceFamily"), "/client/deviceFamily", false);
        let model_identifier = c.string(o.get("modelIdentifier"), "/client/modelIdentifier", false);
        let instance_id = c.string(o.get("instanceId"), "/client/instanceId", false);
        let build_id = c.bounded(o.get("buildId"), "/client/buildId", 96);
        let time_zone = c.bounded(o.get("timeZone"), "/client/timeZone", 64);
        Some(ClientInfo {
            id: id?,
            display_name,
            version: version?,
            platform: platform?,
            device_family,
            model_identifier,
            mode: mode?,
            instance_id,
            build_id,
            time_zone,
        })
    });
    if let Some(caps) = c.string_array(root.get("caps"), "/caps")
        && schema == Schema::V4
        && caps.iter().any(String::is_empty)
    {
        c.errors
            .push("at /caps: items must NOT have fewer than 1 characters".into());
    }
    c.string_array(root.get("commands"), "/commands");
    c.object(root.get("permissions"), "/permissions");
    c.string(root.get("pathEnv"), "/pathEnv", false);
    c.string(root.get("locale"), "/locale", false);
    c.string(root.get("userAgent"), "/userAgent", false);
    if v4 && let Some(mc) = c.object(root.get("modelCatalog"), "/modelCatalog") {
        model_catalog(&mut c, mc);
    }
    let role = c.string(root.get("role"), "/role", false);
    let scopes = c.string_array(root.get("scopes"), "/scopes");
    let device = c.object(root.get("device"), "/device").and_then(|o| {
        c.strict(o, "/device", DEVICE_KEYS);
        let id = c
            .required(o, "/device", "id")
            .and_then(|v| c.string(Some(v), "/device/id", true));
        let pk = c
            .required(o, "/device", "publicKey")
            .and_then(|v| c.string(Some(v), "/device/publicKey", true));
        let sig = c
            .required(o, "/device", "signature")
            .and_then(|v| c.string(Some(v), "/device/signature", true));
        let signed_at = c
            .required(o, "/device", "signedAt")
            .and_then(|v| c.int(Some(v), "/device/signedAt", 0));
        // v4 makes the nonce required (v1 signatures are gone).
        let nonce = if schema == Schema::V4 {
            c.required(o, "/device", "nonce")
                .and_then(|v| c.string(Some(v), "/device/nonce", true))
        } else {
            c.string(o.get("nonce"), "/device/nonce", false)
        };
        Some(DeviceParams {
            id: id?,
            public_key: pk?,
            signature: sig?,
            signed_at: signed_at?,
            nonce,
        })
    });
    let (mut token, mut password, mut device_token, mut bootstrap_token) = (None, None, None, None);
    if let Some(o) = c.object(root.get("auth"), "/auth") {
        c.strict(o, "/auth", &keys(AUTH_KEYS, AUTH_KEYS_V4, v4));
        token = c.string(o.get("token"), "/auth/token", false);
        password = c.string(o.get("password"), "/auth/password", false);
        device_token = c.string(o.get("deviceToken"), "/auth/deviceToken", false);
        bootstrap_token = c.string(o.get("bootstrapToken"), "/auth/bootstrapToken", false);
        c.string(
            o.get("approvalRuntimeToken"),
            "/auth/approvalRuntimeToken",
            false,
        );
        c.string(
            o.get("agentRuntimeIdentityToken"),
            "/auth/agentRuntimeIdentityToken",
            false,
        );
    }
    if !c.errors.is_empty() {
        let mut seen = vec![];
        for e in c.errors {
            if !seen.contains(&e) {
                seen.push(e);
            }
        }
        return Err(format!("invalid connect params: {}", seen.join("; ")));
    }
    match (min, max, client) {
        (Some(min), Some(max), Some(client)) => Ok(ConnectParams {
            min_protocol: min as u64,
            max_protocol: max as u64,
            client,
            role,
            scopes,
            device,
            token,
            password,
            device_token,
            bootstrap_token,
            protocol: None,
        }),
        _ => Err("invalid connect params: at root: incomplete".into()),
    }
}

/// v4 `modelCatalog`: `{agentId?, sessionKey?}` or `{agentId?, shortId, slugHint?}`.
fn model_catalog(c: &mut Check, o: &Map<String, Value>) {
    c.strict(o, "/modelCatalog", MODEL_CATALOG_KEYS);
    for k in MODEL_CATALOG_KEYS {
        c.string(o.get(*k), &format!("/modelCatalog/{k}"), true);
    }
    let short = o.contains_key("shortId");
    if (short && o.contains_key("sessionKey")) || (!short && o.contains_key("slugHint")) {
        c.errors
            .push("at /modelCatalog: must match exactly one schema in anyOf".into());
    }
}

fn c_int(c: &mut Check, v: &Value, path: &str) -> Option<i64> {
    c.int(Some(v), path, 1)
}

#[cfg(test)]
#[path = "connect_params_tests.rs"]
mod tests;
