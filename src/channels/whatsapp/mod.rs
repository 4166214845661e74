//! WhatsApp: a linked device on WhatsApp Web multi-device, through the `whatsapp-rust`
//! library (an unofficial client; WhatsApp may restrict accounts that automate).
//! There is no bot token: `clawdbot channels login` (or `web.login.*` from the Control
//! UI) links the phone by QR or pairing code and the session lives in
//! `<stateDir>/credentials/whatsapp/<account>/` ([`creds`]), so an account runs without
//! any config section and a container that mounts the state dir keeps its link.
//!
//! The library parts are behind the `whatsapp` cargo feature (on by default): without
//! it the channel is still known (its keys validate, `channels.status` lists it) and says
//! that this build has no WhatsApp.

pub mod creds;
pub mod format;
pub mod settings;

#[cfg(feature = "whatsapp")]
pub mod client;
#[cfg(feature = "whatsapp")]
pub mod inbound;
#[cfg(feature = "whatsapp")]
pub mod login;
#[cfg(feature = "whatsapp")]
pub mod qr;
#[cfg(feature = "whatsapp")]
mod runner;
#[cfg(feature = "whatsapp")]
pub mod send;
#[cfg(feature = "whatsapp")]
pub mod session;
#[cfg(feature = "whatsapp")]
pub mod web;

use std::path::Path;
#[cfg(not(feature = "whatsapp"))]
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::Channels;
use super::accounts::{self, Account};
use super::kinds::{Kind, keep_token};
use crate::paths::Env;

/// WhatsApp Web's socket, overridden by `apiRoot` (tests, relays).
pub const WS_URL: &str = "wss://web.whatsapp.com/ws/chat";

/// Why a build without the feature cannot link or run WhatsApp.
pub const NO_FEATURE: &str = "this clawdbot was built without WhatsApp (cargo feature `whatsapp`); rebuild with default features";

pub static KIND: Kind = Kind {
    id: "whatsapp",
    label: "WhatsApp",
    inline_token_key: "",
    token_env: "",
    credential: "",
    token_hint: "no token: link the phone with `clawdbot channels login --channel whatsapp`",
    api_root: WS_URL,
    allow_prefixes: &["whatsapp:"],
    chunk_default: settings::CHUNK_DEFAULT,
    chunk_max: super::chunk::MAX_CHUNK,
    reply_to_default: "off",
    // "composing…" lasts about 25 s on the phone.
    typing_every: Duration::from_secs(10),
    target_help: "a phone number (+15551234567) or a chat JID (…@s.whatsapp.net, …@g.us)",
    dm_policy_key: "dmPolicy",
    allow_from_key: "allowFrom",
    linked_device: true,
    check_token: |_| Ok(()),
    clean_token: keep_token,
    run: |ch, acct| Box::pin(run_account(ch, acct)),
    deliver: |ch, acct, to, text| Box::pin(deliver(ch, acct, to, text)),
};

/// The configured accounts plus any linked with `channels login` that the config does
/// not name (a link needs no config).
pub fn accounts(resolved: &Value, env: &Env, state_dir: &Path) -> Vec<Account> {
    let mut out = accounts::accounts(resolved, env, &KIND);
    let section_off = resolved
        .pointer("/channels/whatsapp/enabled")
        .and_then(Value::as_bool)
        == Some(false);
    if section_off {
        return out;
    }
    for id in creds::linked_accounts(state_dir) {
        if !out.iter().any(|a| a.id == id) {
            let section: Map<String, Value> = accounts::sections(resolved, &KIND)
                .into_iter()
                .find(|(i, _)| i == "default")
                .map(|(_, s)| s)
                .unwrap_or_default();
            out.push(Account {
                kind: &KIND,
                id,
                enabled: true,
                token: Ok(None),
                token_source: Some("linked device".into()),
                api_root: WS_URL.into(),
                section,
            });
        }
    }
    out
}

/// The account's credentials directory.
pub fn creds_of(ch: &Channels, account: &Account) -> creds::Creds {
    let home = ch.env.get("HOME").map(std::path::PathBuf::from);
    creds::Creds::for_account(
        &ch.host.paths.state_dir,
        home.as_deref(),
        &account.id,
        account.section.get("authDir").and_then(Value::as_str),
    )
}

/// `+15551234567` → `15551234567@s.whatsapp.net`; a JID as is.
pub fn target_jid(to: &str) -> Result<String, String> {
    let to = to.trim();
    let to = to.strip_prefix("whatsapp:").unwrap_or(to);
    if to.contains('@') {
        let ok = to.ends_with("@s.whatsapp.net") || to.ends_with("@g.us") || to.ends_with("@lid");
        return if ok {
            Ok(to.to_string())
        } else {
            Err(format!("not a WhatsApp chat: {to} ({})", KIND.target_help))
        };
    }
    settings::e164(to)
        .map(|n| format!("{}@s.whatsapp.net", &n[1..]))
        .ok_or_else(|| format!("not a WhatsApp number: {to} ({})", KIND.target_help))
}

#[cfg(feature = "whatsapp")]
pub use runner::{deliver, run_account};

#[cfg(not(feature = "whatsapp"))]
async fn run_account(ch: Arc<Channels>, account: Account) {
    super::worker::Reporter {
        ch,
        kind: &KIND,
        account: account.id,
    }
    .fatal(NO_FEATURE.into());
}

#[cfg(not(feature = "whatsapp"))]
async fn deliver(_: &Arc<Channels>, _: &Account, _: &str, _: &str) -> Result<String, String> {
    Err(NO_FEATURE.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(
            target_jid("+1 555 123 4567").unwrap(),
            "15551234567@s.whatsapp.net"
        );
        assert_eq!(target_jid("whatsapp:120363@g.us").unwrap(), "120363@g.us");
        assert!(target_jid("x@example.com").is_err());
        assert!(target_jid("12").is_err());
    }
}
