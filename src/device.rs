//! Ed25519 device identity, wire-compatible with the original (spec §2.4): device id =
//! hex SHA-256 of the raw public key, the `v1|…`/`v2|…` signed payload, base64url keys
//! and signatures, and the CLI's identity file in Node's PEM format.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Lowercase hex SHA-256 of the raw 32-byte key.
pub fn device_id_for(key: &VerifyingKey) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
#[error("device public key invalid")]
pub struct KeyError;

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// Raw 32-byte key in base64url (or standard base64), or an SPKI PEM.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, KeyError> {
    let s = s.trim();
    if s.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(s).map_err(|_| KeyError);
    }
    let bytes: [u8; 32] = decode_b64(s)
        .and_then(|b| b.try_into().ok())
        .ok_or(KeyError)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError)
}

pub fn public_key_b64url(key: &VerifyingKey) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The fields a device signs at connect.
pub struct SignedFields<'a> {
    pub device_id: &'a str,
    pub client_id: &'a str,
    pub client_mode: &'a str,
    pub role: &'a str,
    pub scopes: &'a [String],
    pub signed_at_ms: i64,
    pub token: &'a str,
    /// The challenge nonce: `Some` gives the v2 payload, `None` the legacy v1.
    pub nonce: Option<&'a str>,
}

pub fn signed_payload(f: &SignedFields) -> String {
    let scopes = f.scopes.join(",");
    match f.nonce {
        Some(n) => format!(
            "v2|{}|{}|{}|{}|{scopes}|{}|{}|{n}",
            f.device_id, f.client_id, f.client_mode, f.role, f.signed_at_ms, f.token
        ),
        None => format!(
            "v1|{}|{}|{}|{}|{scopes}|{}|{}",
            f.device_id, f.client_id, f.client_mode, f.role, f.signed_at_ms, f.token
        ),
    }
}

/// Verifies a base64url (or standard base64) Ed25519 signature over `payload`.
pub fn verify_signature(key: &VerifyingKey, payload: &str, signature: &str) -> bool {
    let Some(bytes) = decode_b64(signature) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(payload.as_bytes(), &sig).is_ok()
}

/// The identity file, as the original writes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityFile {
    version: u32,
    device_id: String,
    public_key_pem: String,
    private_key_pem: String,
    created_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "device identity at {path} is not usable ({why}); move it away and a new identity will be created"
    )]
    Corrupt { path: String, why: String },
    /// Written by a newer clawdbot (state format `device-identity`): kept as it is.
    #[error("{0}")]
    Refused(String),
    #[error("cannot write device identity at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// A device key pair.
pub struct DeviceIdentity {
    key: SigningKey,
    id: String,
}

impl DeviceIdentity {
    pub fn generate() -> DeviceIdentity {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let id = device_id_for(&key.verifying_key());
        DeviceIdentity { key, id }
    }

    /// Loads the identity file, or creates it (0600, atomically) when missing. A stored
    /// device id that does not match the key is corrected, as the original does.
    pub fn load_or_create(path: &Path) -> Result<DeviceIdentity, IdentityError> {
        let p = path.display().to_string();
        let corrupt = |why: String| IdentityError::Corrupt {
            path: p.clone(),
            why,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
                crate::state_format::check_value("device-identity", path, &value)
                    .map_err(|r| IdentityError::Refused(r.to_string()))?;
                let file: IdentityFile = serde_json::from_value(value)
                    .map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
                let key = SigningKey::from_pkcs8_pem(&file.private_key_pem)
                    .map_err(|e| corrupt(format!("bad private key: {e}")))?;
                let me = DeviceIdentity {
                    id: device_id_for(&key.verifying_key()),
                    key,
                };
                if me.id != file.device_id {
                    me.save(path, file.created_at_ms)?;
                }
                Ok(me)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let me = DeviceIdentity::generate();
                me.save(path, crate::util::now_ms())?;
                Ok(me)
            }
            Err(e) => Err(IdentityError::Io { path: p, source: e }),
        }
    }

    fn save(&self, path: &Path, created_at_ms: i64) -> Result<(), IdentityError> {
        let io = |source| IdentityError::Io {
            path: path.display().to_string(),
            source,
        };
        let public_key_pem = self
            .key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let private_key_pem = self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?
            .to_string();
        let file = IdentityFile {
            version: 1,
            device_id: self.id.clone(),
            public_key_pem,
            private_key_pem,
            created_at_ms,
        };
        let v = serde_json::to_value(&file).map_err(|e| io(std::io::Error::other(e)))?;
        crate::fsutil::write_json_private(path, &v).map_err(io)
    }

    pub fn device_id(&self) -> &str {
        &self.id
    }

    pub fn public_key_b64url(&self) -> String {
        public_key_b64url(&self.key.verifying_key())
    }

    /// Ed25519 signature, base64url without padding.
    pub fn sign(&self, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(payload.as_bytes()).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "eHHTbCJF1QdBed-lOMy0VvyIKna6IOfBxZXrEtxJrLs";
    const ID: &str = "711e2c918d978c20539d3baa99b60c33660a91491451f222ca4e4fcb9f70044a";

    fn scopes() -> Vec<String> {
        ["operator.admin", "operator.approvals", "operator.pairing"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Signatures captured from the original program (shared/spec/frames).
    #[test]
    fn golden_frames_from_the_original_verify() {
        let key = parse_public_key(PK).unwrap();
        assert_eq!(device_id_for(&key), ID);
        let s = scopes();
        for (at, token, nonce, sig) in [
            (
                1795473227979,
                "T",
                "ec1246db-e69a-4cef-808d-f51bccc15644",
                "6BGBAXy-84wbWadNnDme4ta-W5krv8Fg444gTp4N9KBwNP3LfL6FzHwJHdoHbPtbzloO07-4B5q7rsvt3XujBg",
            ),
            (
                1795473228343,
                "WRONG",
                "a336c0e2-bd40-4949-977f-51941d2eac97",
                "uVIx0gaUtZEUtig40DV1J1T_CkoccL4K3njA6HGPc4dERDi6P9jRLJ58s9aX3x_m_5XjfdJW3aZTz8mvfPXpCA",
            ),
        ] {
            let f = SignedFields {
                device_id: ID,
                client_id: "cli",
                client_mode: "cli",
                role: "operator",
                scopes: &s,
                signed_at_ms: at,
                token,
                nonce: Some(nonce),
            };
            assert!(verify_signature(&key, &signed_payload(&f), sig));
            let other = SignedFields {
                nonce: Some("other"),
                ..f
            };
            assert!(!verify_signature(&key, &signed_payload(&other), sig));
        }
    }

    #[test]
    fn payload_layout() {
        let s = scopes();
        let f = SignedFields {
            device_id: "d",
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes: &s,
            signed_at_ms: 5,
            token: "",
            nonce: None,
        };
        assert_eq!(
            signed_payload(&f),
            "v1|d|cli|cli|operator|operator.admin,operator.approvals,operator.pairing|5|"
        );
    }

    #[test]
    fn identity_file_roundtrip_and_pem_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("identity/device.json");
        let a = DeviceIdentity::load_or_create(&p).unwrap();
        let b = DeviceIdentity::load_or_create(&p).unwrap();
        assert_eq!(a.device_id(), b.device_id());
        let text = std::fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["publicKeyPem"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        assert!(
            v["privateKeyPem"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        let from_pem = parse_public_key(v["publicKeyPem"].as_str().unwrap()).unwrap();
        assert_eq!(device_id_for(&from_pem), a.device_id());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sig = a.sign("hello");
        assert!(verify_signature(&from_pem, "hello", &sig));
        // A wrong stored id is corrected.
        let mut v2 = v.clone();
        v2["deviceId"] = serde_json::json!("bogus");
        std::fs::write(&p, v2.to_string()).unwrap();
        let c = DeviceIdentity::load_or_create(&p).unwrap();
        assert_eq!(c.device_id(), a.device_id());
        assert!(std::fs::read_to_string(&p).unwrap().contains(a.device_id()));
        std::fs::write(&p, "{oops").unwrap();
        let e = DeviceIdentity::load_or_create(&p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("move it away"), "{e}");
        // Written by a newer release: refused, left byte for byte.
        let mut v3 = v.clone();
        v3["version"] = serde_json::json!(2);
        std::fs::write(&p, v3.to_string()).unwrap();
        let e = DeviceIdentity::load_or_create(&p)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("newer clawdbot"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), v3.to_string());
    }
}
