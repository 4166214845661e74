//! Telegram's formatting: HTML (`parse_mode: "HTML"`) from the model's Markdown
//! ([`super::html`]), in the shared fence-safe chunks ([`crate::channels::chunk`]).

pub use super::html::markdown_to_html;
pub use crate::channels::chunk::chunk_markdown;

/// Telegram's limit on one message's text.
pub const TELEGRAM_MAX: usize = 4096;
/// `textChunkLimit` default.
pub const DEFAULT_CHUNK: usize = 4000;
