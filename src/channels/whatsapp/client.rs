//! Building the library's client for one account: its SQLite session in the account's
//! credentials directory, the WebSocket to `apiRoot` (WhatsApp Web's by default; a test
//! points it at 127.0.0.1), HTTP through our reqwest (no second HTTP/TLS stack), and
//! every event forwarded, in order, to one channel the runner or the login flow reads.

use std::sync::Arc;

use tokio::sync::mpsc;
use whatsapp_rust::bot::Bot;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::{Event, InboundMessage};
use whatsapp_rust::{Client, InboundDurabilityHook};

use super::creds::Creds;

/// The library's HTTP (version check, media) over the gateway's reqwest client.
pub struct Http(pub reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for Http {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut r = self
            .0
            .request(method, &request.url)
            .timeout(std::time::Duration::from_secs(60));
        for (k, v) in &request.headers {
            r = r.header(k, v);
        }
        if let Some(b) = request.body {
            r = r.body(b.to_vec());
        }
        let resp = r.send().await?;
        let status_code = resp.status().as_u16();
        let body = resp.bytes().await?.to_vec();
        Ok(HttpResponse { status_code, body })
    }
}

/// Stores a batch durably; an error withholds the acknowledgement.
pub type CommitFn = dyn Fn(&[InboundMessage]) -> Result<(), String> + Send + Sync;

/// Stores each batch before the library acknowledges it (see `session`).
pub struct Hook(pub Arc<CommitFn>);

#[async_trait::async_trait]
impl InboundDurabilityHook for Hook {
    async fn on_messages(
        &self,
        _client: Arc<Client>,
        batch: &[InboundMessage],
    ) -> anyhow::Result<()> {
        (self.0)(batch).map_err(anyhow::Error::msg)
    }
}

/// What a client is built with.
pub struct Options {
    pub url: String,
    pub http: reqwest::Client,
    pub events: mpsc::UnboundedSender<Arc<Event>>,
    pub hook: Option<Hook>,
    /// Link with an 8-character code typed on the phone instead of the QR (E.164
    /// digits of the phone's number).
    pub pair_phone: Option<String>,
}

/// Opens (creating when needed, 0600) the account's session and builds its client.
pub async fn build(creds: &Creds, o: Options) -> Result<Bot, String> {
    let db = creds.prepare()?;
    let store = SqliteStore::new(&db.to_string_lossy())
        .await
        .map_err(|e| format!("cannot open the WhatsApp session {}: {e}", db.display()))?;
    let tx = o.events;
    let mut b = Bot::builder()
        .with_backend(store)
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(o.url))
        .with_http_client(Http(o.http))
        .skip_history_sync()
        .on_event(move |ev, _client| {
            // Sent here, not in the future: the bus calls handlers in event order.
            let _ = tx.send(ev);
            async {}
        });
    if let Some(h) = o.hook {
        b = b.with_inbound_durability_hook(h);
    }
    if let Some(phone) = o.pair_phone {
        b = b.with_pair_code(whatsapp_rust::pair_code::PairCodeOptions {
            phone_number: phone,
            ..Default::default()
        });
    }
    b.build()
        .await
        .map_err(|e| format!("cannot start the WhatsApp client: {e}"))
}
