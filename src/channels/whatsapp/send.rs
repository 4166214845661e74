//! What the adapter asks of the library, as one small trait over the library's own
//! types ([`Jid`], `wa::Message`, [`ChatStateType`]): the live implementation is the
//! library's [`Client`]; tests put a recorder in its place and see exactly the
//! protobuf messages that would go out (text, reactions, read receipts, "composing").

use std::future::Future;
use std::sync::Arc;

use whatsapp_rust::Jid;
use whatsapp_rust::client::Client;
use whatsapp_rust::features::ChatStateType;
use whatsapp_rust::waproto::whatsapp as wa;

/// The library's send interface, as far as a conversation needs it.
pub trait WaSend: Send + Sync + 'static {
    /// `Client::send_message`: the id of the message sent.
    fn send_message(
        &self,
        to: Jid,
        message: wa::Message,
    ) -> impl Future<Output = Result<String, String>> + Send;
    /// `Client::chatstate().send(to, state)`.
    fn chat_state(&self, to: Jid, state: ChatStateType) -> impl Future<Output = ()> + Send;
    /// `Client::mark_as_read(chat, sender, ids)`.
    fn mark_as_read(
        &self,
        chat: Jid,
        sender: Option<Jid>,
        id: String,
    ) -> impl Future<Output = ()> + Send;
}

/// The live client.
pub struct Live(pub Arc<Client>);

impl WaSend for Live {
    async fn send_message(&self, to: Jid, message: wa::Message) -> Result<String, String> {
        self.0
            .send_message(to, message)
            .await
            .map(|r| r.message_id)
            .map_err(|e| e.to_string())
    }

    async fn chat_state(&self, to: Jid, state: ChatStateType) {
        if let Err(e) = self.0.chatstate().send(&to, state).await {
            tracing::debug!(target: "channels", "[whatsapp] chat state to {to}: {e}");
        }
    }

    async fn mark_as_read(&self, chat: Jid, sender: Option<Jid>, id: String) {
        if let Err(e) = self.0.mark_as_read(&chat, sender.as_ref(), &[&id]).await {
            tracing::debug!(target: "channels", "[whatsapp] read receipt in {chat}: {e}");
        }
    }
}
