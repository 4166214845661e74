//! The config in force, shared by everything that reads it while the gateway runs.
//! A reload swaps the whole snapshot; a reader takes an `Arc` of it (cheap) and sees
//! one consistent config for as long as it holds it, never a half-applied one.

use std::sync::{Arc, RwLock};

use super::Loaded;

#[derive(Debug)]
pub struct LiveConfig(RwLock<Arc<Loaded>>);

impl LiveConfig {
    pub fn new(loaded: Arc<Loaded>) -> LiveConfig {
        LiveConfig(RwLock::new(loaded))
    }

    /// The snapshot in force.
    pub fn get(&self) -> Arc<Loaded> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Puts a new snapshot in force (readers holding the old one keep it).
    pub fn set(&self, loaded: Arc<Loaded>) {
        match self.0.write() {
            Ok(mut g) => *g = loaded,
            Err(p) => *p.into_inner() = loaded,
        }
    }
}
