//! Clawdbot gateway: a small, Nix-first Rust reimplementation of the Clawdbot gateway,
//! wire-compatible with protocol v3.
#![deny(unsafe_code)]

pub mod agent;
pub mod channels;
pub mod cli;
pub mod client;
pub mod config;
pub mod cron;
pub mod device;
pub mod events;
pub mod fsutil;
pub mod heartbeat;
pub mod llm;
pub mod lock;
pub mod logging;
pub mod nix;
pub mod ownership;
pub mod paths;
pub mod protocol;
pub mod sandbox;
pub mod sdnotify;
pub mod server;
pub mod sessions;
pub mod state_format;
pub mod util;

/// This build's version (Cargo.toml), reported in `hello-ok`, presence and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
