//! Discord: REST client and Gateway session (stub module; the channel itself comes later).

pub mod rest;
pub mod shard;
