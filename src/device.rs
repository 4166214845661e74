//! TEMPORARY stub until the device module lands.
use ed25519_dalek::VerifyingKey;
pub fn device_id_for(_k: &VerifyingKey) -> String { String::new() }
#[derive(Debug)] pub struct KeyError;
pub fn parse_public_key(_s: &str) -> Result<VerifyingKey, KeyError> { Err(KeyError) }
pub fn public_key_b64url(_k: &VerifyingKey) -> String { String::new() }
pub struct SignedFields<'a> { pub device_id: &'a str, pub client_id: &'a str, pub client_mode: &'a str, pub role: &'a str, pub scopes: &'a [String], pub signed_at_ms: i64, pub token: &'a str, pub nonce: Option<&'a str> }
pub fn signed_payload(_f: &SignedFields) -> String { String::new() }
pub fn verify_signature(_k: &VerifyingKey, _p: &str, _s: &str) -> bool { false }
pub struct DeviceIdentity;
impl DeviceIdentity {
    pub fn load_or_create(_p: &std::path::Path) -> Result<DeviceIdentity, String> { Ok(DeviceIdentity) }
    pub fn device_id(&self) -> &str { "" }
    pub fn public_key_b64url(&self) -> String { String::new() }
    pub fn sign(&self, _p: &str) -> String { String::new() }
}
