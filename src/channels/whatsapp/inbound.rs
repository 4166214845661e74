//! WhatsApp's side of the conversation. A decrypted message (the library's
//! [`InboundMessage`]) becomes a stored item (plain JSON, so a replay after a restart
//! needs no library state), the item becomes an [`Inbound`], the account's keys an
//! [`Access`] ([`super::settings`]), and answers go out as WhatsApp markup in chunks of
//! `textChunkLimit` (4000) while "composing…" shows.
//!
//! Who a sender is: their phone number (`+15551234567`) when WhatsApp tells it (the
//! sender JID, or its phone-number twin when the chat is addressed by LID), else the JID
//! itself; allowlists and pairing approvals name numbers.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use whatsapp_rust::Jid;
use whatsapp_rust::features::ChatStateType;
use whatsapp_rust::types::events::InboundMessage;
use whatsapp_rust::wacore::proto_helpers::{MessageBuilderExt, MessageExt, build_reaction_message};
use whatsapp_rust::wacore_binary::JidExt;
use whatsapp_rust::waproto::whatsapp as wa;

use super::format::to_whatsapp;
use super::send::WaSend;
use super::settings::{Settings, e164};
use crate::channels::access::{self, Decision};
use crate::channels::accounts::{self, Account};
use crate::channels::conversation::{self, Adapter, Inbound, Outcome, SendFailure, Sender};
use crate::channels::pairing::Store;
use crate::channels::worker::Reporter;
use crate::sessions::keys::PeerKind;
use crate::util::now_ms;

/// Who the linked device is (for mentions, replies to it, the self chat).
#[derive(Debug, Clone, Default)]
pub struct Me {
    pub pn: Option<Jid>,
    pub lid: Option<Jid>,
}

impl Me {
    /// Whether `jid` (any device) is this account.
    pub fn is(&self, jid: &str) -> bool {
        let user = |j: &Jid| j.user.to_string();
        let Ok(j) = jid.parse::<Jid>() else {
            return false;
        };
        [self.pn.as_ref(), self.lid.as_ref()]
            .into_iter()
            .flatten()
            .any(|m| m.server == j.server && user(m) == user(&j))
    }
}

/// The inbox key of a message: WhatsApp ids are unique per chat and sender only.
pub fn key_of(chat: &str, sender: &str, id: &str) -> i64 {
    let h = Sha256::digest(format!("{chat}\n{sender}\n{id}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

pub fn item_key(item: &Value) -> Option<i64> {
    item["key"].as_i64()
}

/// The text of a message (plain, extended, or a media caption); None for what the
/// bot does not read (reactions, receipts, protocol messages).
fn text_of(m: &wa::Message) -> Option<String> {
    let base = m.get_base_message();
    base.text_content()
        .or_else(|| base.get_caption())
        .map(str::to_string)
        .filter(|t| !t.trim().is_empty())
}

fn context_of(m: &wa::Message) -> Option<&wa::ContextInfo> {
    let base = m.get_base_message();
    base.extended_text_message
        .as_option()
        .and_then(|e| e.context_info.as_option())
        .or_else(|| {
            base.image_message
                .as_option()
                .and_then(|i| i.context_info.as_option())
        })
}

/// The stored form of a message worth answering, or None (no text, a status post, a
/// newsletter, our own message unless the self chat is how the owner talks).
pub fn decode(msg: &InboundMessage, me: &Me, settings: &Settings) -> Option<Value> {
    let info = &msg.info;
    let src = &info.source;
    let chat = src.chat.to_string();
    if src.chat.is_status_broadcast() || src.chat.is_newsletter() || src.chat.is_broadcast_list() {
        return None;
    }
    let self_chat = !src.is_group && me.is(&src.chat.to_non_ad_string());
    if src.is_from_me && !(settings.self_chat_mode && self_chat) {
        return None;
    }
    let text = text_of(&msg.message)?;
    let sender = src.sender.to_non_ad_string();
    let number = e164(&sender).or_else(|| {
        src.sender_alt
            .as_ref()
            .and_then(|a| e164(&a.to_non_ad_string()))
    });
    let ctx = context_of(&msg.message);
    let mentions: Vec<String> = ctx
        .map(|c| c.mentioned_jid.iter().map(|j| j.to_string()).collect())
        .unwrap_or_default();
    let quoted = ctx.and_then(|c| c.participant.clone());
    Some(json!({
        "key": key_of(&chat, &sender, &info.id),
        "id": info.id,
        "chat": chat,
        "sender": sender,
        "number": number,
        "group": src.is_group,
        "fromMe": src.is_from_me,
        "selfChat": self_chat,
        "pushName": info.push_name,
        "text": text,
        "mentions": mentions,
        "quotedParticipant": quoted,
        "ts": info.timestamp.timestamp(),
    }))
}

/// One account's adapter over a send implementation.
pub struct Wa<S: WaSend> {
    pub rep: Reporter,
    pub account: Account,
    pub send: S,
    pub me: std::sync::RwLock<Me>,
}

impl<S: WaSend> Wa<S> {
    fn me(&self) -> Me {
        self.me.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn settings(&self) -> Settings {
        let cfg = self.rep.ch.host.config();
        let sec = accounts::current_section(&cfg.resolved, self.account.kind, &self.account.id)
            .unwrap_or_else(|| self.account.section.clone());
        Settings::from_section(&sec)
    }

    /// Answers one stored item (or drops it, or answers with a pairing code).
    pub async fn handle(&self, item: &Value) -> Outcome {
        let settings = self.settings();
        let me = self.me();
        let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
        let group = item["group"].as_bool() == Some(true);
        let chat = s("chat");
        let number = item["number"].as_str().map(String::from);
        let sender_id = number.clone().unwrap_or_else(|| s("sender"));
        let text = s("text");
        let mentioned = group && mentions_me(item, &me, &text);
        let peer_kind = if group { PeerKind::Group } else { PeerKind::Dm };
        let mut access = settings.access(peer_kind, &chat);
        if item["selfChat"].as_bool() == Some(true) && settings.self_chat_mode {
            // The owner in their own "Message yourself" chat.
            access.dm_allow.push(sender_id.clone());
        }
        let msg = Inbound {
            peer_kind,
            peer_id: if group {
                chat.clone()
            } else {
                sender_id.clone()
            },
            guild_id: None,
            sender: Sender {
                id: sender_id,
                username: None,
                display: Some(s("pushName")).filter(|n| !n.is_empty()),
            },
            text,
            mentioned,
            replied_to_bot: item["quotedParticipant"].as_str().is_some_and(|p| me.is(p)),
            reply_to: Some(s("id")),
            to: chat.clone(),
            title: None,
            idempotency_key: format!(
                "whatsapp:{}:{}",
                self.account.id,
                item["key"].as_i64().unwrap_or_default()
            ),
        };
        let store = Store::new(&self.rep.ch.host.paths.state_dir);
        let approved = if group {
            vec![]
        } else {
            store.allow_from("whatsapp").unwrap_or_default()
        };
        if access::admit(self.account.kind, &access, &msg, &approved) == Decision::Answer {
            self.acknowledge(item, &settings, peer_kind, mentioned)
                .await;
        }
        conversation::handle(&self.rep.ch, self, &access, msg).await
    }

    /// Read receipt and ack reaction for a message that will be answered.
    async fn acknowledge(&self, item: &Value, st: &Settings, kind: PeerKind, mentioned: bool) {
        let Ok(chat) = item["chat"].as_str().unwrap_or_default().parse::<Jid>() else {
            return;
        };
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let sender = item["sender"].as_str().and_then(|s| s.parse::<Jid>().ok());
        if st.send_read_receipts && item["fromMe"].as_bool() != Some(true) {
            let by = if kind == PeerKind::Dm {
                None
            } else {
                sender.clone()
            };
            self.send.mark_as_read(chat.clone(), by, id.clone()).await;
        }
        if let Some(emoji) = st.ack_for(kind, mentioned) {
            let key = wa::MessageKey {
                remote_jid: Some(chat.to_string()),
                from_me: Some(item["fromMe"].as_bool() == Some(true)),
                id: Some(id),
                participant: (kind != PeerKind::Dm)
                    .then(|| sender.map(|s| s.to_string()))
                    .flatten(),
            };
            let reaction = build_reaction_message(key, emoji, now_ms());
            if let Err(e) = self.send.send_message(chat, reaction).await {
                tracing::debug!(target: "channels", "[whatsapp] ack reaction: {e}");
            }
        }
    }

    async fn send_text(&self, to: &str, text: String) -> Result<String, SendFailure> {
        let jid = to
            .parse::<Jid>()
            .map_err(|e| SendFailure::permanent(format!("not a WhatsApp chat: {to}: {e}")))?;
        let r = self.send.send_message(jid, wa::Message::text(text)).await;
        match r {
            Ok(id) => {
                self.rep.update(|s| s.last_outbound_at = Some(now_ms()));
                Ok(id)
            }
            Err(e) => Err(SendFailure {
                message: e,
                transient: true,
            }),
        }
    }
}

/// A group message mentions the bot: its JID in the mention list, or `@<number>` in
/// the text.
fn mentions_me(item: &Value, me: &Me, text: &str) -> bool {
    let listed = item["mentions"]
        .as_array()
        .is_some_and(|a| a.iter().filter_map(Value::as_str).any(|j| me.is(j)));
    let typed = [me.pn.as_ref(), me.lid.as_ref()]
        .into_iter()
        .flatten()
        .any(|j| text.contains(&format!("@{}", j.user)));
    listed || typed
}

impl<S: WaSend> Adapter for Wa<S> {
    fn account(&self) -> &Account {
        &self.account
    }

    async fn send_chunk(
        &self,
        to: &str,
        _reply_to: Option<&str>,
        markdown: &str,
    ) -> Result<String, SendFailure> {
        self.send_text(to, to_whatsapp(markdown)).await
    }

    async fn send_plain(&self, to: &str, text: &str) -> Result<String, SendFailure> {
        self.send_text(to, text.to_string()).await
    }

    async fn typing(&self, to: &str) {
        if let Ok(jid) = to.parse::<Jid>() {
            self.send.chat_state(jid, ChatStateType::Composing).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_positive_and_distinct() {
        let a = key_of("c@s.whatsapp.net", "s@s.whatsapp.net", "ID1");
        assert_eq!(a, key_of("c@s.whatsapp.net", "s@s.whatsapp.net", "ID1"));
        assert!(a >= 0);
        assert_ne!(a, key_of("c@s.whatsapp.net", "t@s.whatsapp.net", "ID1"));
        let me = Me {
            pn: "15550001111@s.whatsapp.net".parse().ok(),
            lid: "987654321@lid".parse().ok(),
        };
        assert!(me.is("15550001111:7@s.whatsapp.net"));
        assert!(me.is("987654321@lid"));
        assert!(!me.is("15550001112@s.whatsapp.net"));
        assert!(!me.is("15550001111@g.us"));
        assert!(!me.is("garbage"));
    }
}
