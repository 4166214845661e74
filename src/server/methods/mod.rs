//! RPC dispatch. Scope checks already ran (`protocol::authorize_method`); each handler
//! validates its own params strictly, as the original's TypeBox schemas do.

mod config;
mod devices;
mod info;
mod system;

use std::sync::Arc;

use serde_json::{Map, Value};

use super::state::Gateway;
use crate::protocol::RpcError;

/// What a handler may look at.
pub struct Ctx<'a> {
    pub gw: &'a Arc<Gateway>,
}

pub async fn dispatch(
    ctx: &Ctx<'_>,
    method: &str,
    params: Option<Value>,
) -> Result<Value, RpcError> {
    let p = Params::new(method, params)?;
    match method {
        "health" => system::health(ctx, p).await,
        "status" => system::status(ctx, p),
        "system-presence" => system::presence(ctx, p),
        "last-heartbeat" => p.none().map(|_| Value::Null),
        "logs.tail" => system::logs_tail(ctx, p).await,
        "channels.status" => info::channels_status(ctx, p),
        "models.list" => info::models_list(ctx, p),
        "agents.list" => info::agents_list(ctx, p),
        "sessions.list" => info::sessions_list(ctx, p),
        "config.get" => config::get(ctx, p),
        "config.schema" => config::schema(p),
        "config.set" => config::set(ctx, p, config::Kind::Set),
        "config.apply" => config::set(ctx, p, config::Kind::Apply),
        "config.patch" => config::set(ctx, p, config::Kind::Patch),
        "device.pair.list" => devices::list(ctx, p),
        "device.pair.approve" => devices::approve(ctx, p),
        "device.pair.reject" => devices::reject(ctx, p),
        _ => Err(RpcError::invalid(format!("unknown method: {method}"))),
    }
}

/// Strict params access: every key a handler does not claim is an error, with the
/// original's `invalid <method> params: at root: unexpected property 'x'` text.
pub struct Params {
    method: String,
    map: Map<String, Value>,
}

impl Params {
    fn new(method: &str, params: Option<Value>) -> Result<Params, RpcError> {
        let map = match params {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                return Err(RpcError::invalid(format!(
                    "invalid {method} params: at root: must be object"
                )));
            }
        };
        Ok(Params {
            method: method.to_string(),
            map,
        })
    }

    fn err(&self, detail: String) -> RpcError {
        RpcError::invalid(format!("invalid {} params: {detail}", self.method))
    }

    /// Checks that only `allowed` keys are present.
    pub fn only(&self, allowed: &[&str]) -> Result<(), RpcError> {
        let extra: Vec<String> = self
            .map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("at root: unexpected property '{k}'"))
            .collect();
        if extra.is_empty() {
            Ok(())
        } else {
            Err(self.err(extra.join("; ")))
        }
    }

    pub fn none(&self) -> Result<(), RpcError> {
        self.only(&[])
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, RpcError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(format!("at /{key}: must be boolean"))),
        }
    }

    pub fn int(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, RpcError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                Some(_) => Err(self.err(format!("at /{key}: must be >= {min} and <= {max}"))),
                None => Err(self.err(format!("at /{key}: must be integer"))),
            },
        }
    }

    pub fn str(&self, key: &str) -> Result<Option<&str>, RpcError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(format!("at /{key}: must be string"))),
        }
    }

    pub fn required_str(&self, key: &str) -> Result<&str, RpcError> {
        self.str(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err(format!("at root: must have required property '{key}'")))
    }
}
