//! Strict validation of `connect` params (ConnectParams, spec §2.3), with AJV-shaped
//! messages (`at /client/id: ...`) because clients show them verbatim.

use serde_json::{Map, Value};

use crate::protocol::{CLIENT_IDS, CLIENT_MODES};

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
pub fn parse(params: Option<&Value>) -> Result<ConnectParams, String> {
    let mut c = Check { errors: vec![] };
    let empty = Map::new();
    let root = match params {
        Some(Value::Object(o)) => o,
        _ => {
            c.errors.push("at root: must be object".into());
            &empty
        }
    };
    c.strict(root, "", ROOT_KEYS);
    let min = c
        .required(root, "", "minProtocol")
        .and_then(|v| c_int(&mut c, v, "/minProtocol"));
    let max = c
        .required(root, "", "maxProtocol")
        .and_then(|v| c_int(&mut c, v, "/maxProtocol"));
    let client_obj = c.required(root, "", "client");
    let client_obj = c.object(client_obj, "/client");
    let client = client_obj.and_then(|o| {
        c.strict(o, "/client", CLIENT_KEYS);
        let id = c
            .required(o, "/client", "id")
            .and_then(|v| c.string(Some(v), "/client/id", true));
        if let Some(id) = &id
            && !CLIENT_IDS.contains(&id.as_str())
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
        if let Some(m) = &mode
            && !CLIENT_MODES.contains(&m.as_str())
        {
            c.errors
                .push("at /client/mode: must be equal to one of the allowed values".into());
        }
        let display_name = c.string(o.get("displayName"), "/client/displayName", false);
        let device_family = c.string(o.get("deviceFamily"), "/client/deviceFamily", false);
        let model_identifier = c.string(o.get("modelIdentifier"), "/client/modelIdentifier", false);
        let instance_id = c.string(o.get("instanceId"), "/client/instanceId", false);
        Some(ClientInfo {
            id: id?,
            display_name,
            version: version?,
            platform: platform?,
            device_family,
            model_identifier,
            mode: mode?,
            instance_id,
        })
    });
    c.string_array(root.get("caps"), "/caps");
    c.string_array(root.get("commands"), "/commands");
    c.object(root.get("permissions"), "/permissions");
    c.string(root.get("pathEnv"), "/pathEnv", false);
    c.string(root.get("locale"), "/locale", false);
    c.string(root.get("userAgent"), "/userAgent", false);
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
        let nonce = c.string(o.get("nonce"), "/device/nonce", false);
        Some(DeviceParams {
            id: id?,
            public_key: pk?,
            signature: sig?,
            signed_at: signed_at?,
            nonce,
        })
    });
    let (token, password) = match c.object(root.get("auth"), "/auth") {
        Some(o) => {
            c.strict(o, "/auth", AUTH_KEYS);
            (
                c.string(o.get("token"), "/auth/token", false),
                c.string(o.get("password"), "/auth/password", false),
            )
        }
        None => (None, None),
    };
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
        }),
        _ => Err("invalid connect params: at root: incomplete".into()),
    }
}

fn c_int(c: &mut Check, v: &Value, path: &str) -> Option<i64> {
    c.int(Some(v), path, 1)
}

#[cfg(test)]
mod tests {
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
}
