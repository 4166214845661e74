//! The one table of channel kinds. Everything that lists, starts, checks or sends to a
//! channel reads [`KINDS`] (`channels.status`, `health`, `send`, `agent` delivery,
//! pairing, `clawdbot channels …`, onboarding, doctor, the config schema), so a new
//! channel is a directory under `src/channels/` and one row here (README: "Adding a
//! channel").

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::Channels;
use super::accounts::Account;
use crate::config::secrets::Secret;

/// Sends Markdown `text` to `to` through `account`; the id of the last message sent.
pub type DeliverFn =
    for<'a> fn(
        &'a Arc<Channels>,
        &'a Account,
        &'a str,
        &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Runs one account until shutdown.
pub type RunFn = fn(Arc<Channels>, Account) -> Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Kind {
    /// The config key under `channels.` and the name in session keys and pairing.
    pub id: &'static str,
    pub label: &'static str,
    /// The key of an inline token in the config (`botToken`, `token`).
    pub inline_token_key: &'static str,
    /// The environment variable of the default account's token (`<VAR>_FILE` too).
    pub token_env: &'static str,
    /// The systemd credential name of the default account's token (the Nix modules'
    /// `secrets.<name>`).
    pub credential: &'static str,
    /// Where a user gets a token, for prompts and errors.
    pub token_hint: &'static str,
    /// The public REST base (`apiRoot` overrides it: tests, self-hosted proxies).
    pub api_root: &'static str,
    /// Allowlist entry prefixes that name this channel (`telegram:123`).
    pub allow_prefixes: &'static [&'static str],
    /// `textChunkLimit` default, and the channel's hard cap on one message.
    pub chunk_default: usize,
    pub chunk_max: usize,
    /// `replyToMode` default (`first`, `all`, `off`).
    pub reply_to_default: &'static str,
    /// How often the typing indicator is renewed while the model works.
    pub typing_every: Duration,
    /// What a delivery target looks like, for errors and `--help`.
    pub target_help: &'static str,
    /// The DM policy and allowlist keys in the account's section (`dmPolicy` and
    /// `allowFrom` for Telegram; `dm.policy` and `dm.allowFrom` for Discord).
    pub dm_policy_key: &'static str,
    pub allow_from_key: &'static str,
    /// A linked device instead of a bot token (WhatsApp): no token is looked up, an
    /// account runs when enabled, and `channels login` links it.
    pub linked_device: bool,
    /// A quick shape check of a token (the CLI refuses an obvious paste error).
    pub check_token: fn(&str) -> Result<(), String>,
    /// Normalises a token as read (Discord's optional `Bot ` prefix).
    pub clean_token: fn(&Secret) -> Secret,
    /// Runs one account until shutdown (spawned on the gateway's task tracker).
    pub run: RunFn,
    pub deliver: DeliverFn,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

/// Every channel this build runs, in display order.
pub static KINDS: &[&Kind] = &[
    &super::telegram::KIND,
    &super::discord::KIND,
    &super::whatsapp::KIND,
];

/// A kind by id (case-insensitive).
pub fn kind(id: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .copied()
        .find(|k| k.id.eq_ignore_ascii_case(id))
}

/// `telegram, discord`, for messages that list the choices.
pub fn ids() -> String {
    KINDS.iter().map(|k| k.id).collect::<Vec<_>>().join(", ")
}

/// An unknown channel, with the choices.
pub fn unknown(id: &str) -> String {
    format!("unknown channel: {id} (this gateway runs: {})", ids())
}

pub fn keep_token(s: &Secret) -> Secret {
    s.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists that name channels agree with this table.
    #[test]
    fn every_list_of_channels_is_this_table() {
        let ids: Vec<&str> = KINDS.iter().map(|k| k.id).collect();
        assert_eq!(ids, crate::config::schema::rules::RUN_CHANNELS);
        for k in KINDS {
            assert_eq!(kind(&k.id.to_uppercase()).map(|x| x.id), Some(k.id));
            assert!(
                k.chunk_default <= k.chunk_max && k.chunk_max <= super::super::chunk::MAX_CHUNK
            );
            if !k.linked_device {
                assert_eq!(k.credential, format!("{}-bot-token", k.id));
            }
        }
        assert!(kind("signal").is_none());
    }
}
