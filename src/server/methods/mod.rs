//! RPC dispatch. Scope checks already ran (`protocol::authorize_method`); each handler
//! validates its own params strictly, as the original's TypeBox schemas do.

mod agent;
mod approvals;
mod chat;
mod config;
mod cron;
mod devices;
mod info;
mod sessions;
mod skills;
mod system;
mod web;

use std::sync::Arc;

use serde_json::{Map, Value};

use super::state::Gateway;
use crate::protocol::RpcError;

/// What a handler may look at.
pub struct Ctx<'a> {
    pub gw: &'a Arc<Gateway>,
    /// The request's id, for a handler that answers twice (`agent`: ack, then result).
    pub req_id: &'a str,
    /// The connection's outbound queue (None outside a WebSocket connection).
    pub out: Option<&'a tokio::sync::mpsc::UnboundedSender<String>>,
    /// The client id from `connect` (recorded as who resolved an approval).
    pub client: &'a str,
}

impl Ctx<'_> {
    /// Sends an early `res` for this request; the handler's return value follows it.
    pub fn interim(&self, payload: Value) {
        if let Some(out) = self.out {
            let _ = out.send(crate::protocol::res_ok(self.req_id, payload));
        }
    }
}

/// The `res` frame for a request. `agent` is the one method whose failure still carries
/// a payload (`{runId, status:"error", summary}`) next to the error.
pub async fn respond(ctx: &Ctx<'_>, method: &str, params: Option<Value>) -> String {
    use crate::protocol::{res_err, res_ok};
    if method == "agent" {
        return match Params::new(method, params) {
            Err(e) => res_err(ctx.req_id, &e),
            Ok(p) => match agent::agent(ctx, p).await {
                Ok(agent::Answer::Ok(v)) => res_ok(ctx.req_id, v),
                Ok(agent::Answer::Err(payload, e)) => serde_json::json!({
                    "type": "res", "id": ctx.req_id, "ok": false, "payload": payload, "error": e,
                })
                .to_string(),
                Err(e) => res_err(ctx.req_id, &e),
            },
        };
    }
    if method == "health"
        && let Some(frame) = system::health_frame_from_cache(ctx, params.as_ref())
    {
        return frame;
    }
    match dispatch(ctx, method, params).await {
        Ok(v) => res_ok(ctx.req_id, v),
        Err(e) => res_err(ctx.req_id, &e),
    }
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
        "node.list" => system::node_list(ctx, p),
        "last-heartbeat" => system::last_heartbeat(ctx, p),
        "set-heartbeats" => system::set_heartbeats(ctx, p),
        "wake" => system::wake(ctx, p),
        "agent.identity.get" => info::identity(ctx, p),
        "logs.tail" => system::logs_tail(ctx, p).await,
        "channels.status" => info::channels_status(ctx, p),
        "models.list" => info::models_list(ctx, p),
        "agents.list" => info::agents_list(ctx, p),
        "skills.status" => skills::status(ctx, p),
        "skills.install" => skills::install(ctx, p),
        "sessions.list" => info::sessions_list(ctx, p),
        "sessions.preview" => sessions::preview(ctx, p),
        "sessions.patch" => sessions::patch(ctx, p),
        "sessions.reset" => sessions::reset(ctx, p),
        "sessions.delete" => sessions::delete(ctx, p).await,
        "chat.send" => chat::send(ctx, p),
        "chat.history" => chat::history(ctx, p),
        "chat.abort" => chat::abort(ctx, p),
        "agent.wait" => agent::wait(ctx, p).await,
        "send" => agent::send(ctx, p).await,
        "pairing.list" => approvals::pairing_list(ctx, p),
        "pairing.approve" => approvals::pairing_approve(ctx, p),
        "exec.approval.resolve" => approvals::approval_resolve(ctx, p),
        "exec.approval.list" => approvals::approval_list(ctx, p),
        "config.get" => config::get(ctx, p),
        "config.schema" => config::schema(p),
        "config.set" => config::set(ctx, p, config::Kind::Set),
        "config.apply" => config::set(ctx, p, config::Kind::Apply),
        "config.patch" => config::set(ctx, p, config::Kind::Patch),
        "device.pair.list" => devices::list(ctx, p),
        "device.pair.approve" => devices::approve(ctx, p),
        "device.pair.reject" => devices::reject(ctx, p),
        "device.pair.remove" => devices::remove(ctx, p),
        "device.token.revoke" => devices::revoke(ctx, p),
        "cron.list" => cron::list(ctx, p).await,
        "cron.status" => cron::status(ctx, p).await,
        "cron.add" => cron::add(ctx, p).await,
        "cron.update" => cron::update(ctx, p).await,
        "cron.remove" => cron::remove(ctx, p).await,
        "cron.run" => cron::run(ctx, p).await,
        "cron.runs" => cron::runs(ctx, p),
        "web.login.start" => web::start(ctx, p).await,
        "web.login.wait" => web::wait(ctx, p).await,
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

    pub fn array(&self, key: &str) -> Result<Vec<Value>, RpcError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(self.err(format!("at /{key}: must be array"))),
        }
    }

    /// A string array (`keys` of `sessions.preview`).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, RpcError> {
        self.array(key)?
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(self.err(format!("at /{key}: must be array of strings"))),
            })
            .collect()
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub fn required_str(&self, key: &str) -> Result<&str, RpcError> {
        self.str(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err(format!("at root: must have required property '{key}'")))
    }
}

#[cfg(test)]
mod tests {
    /// The methods advertised in `hello-ok` (`protocol::METHODS`) are exactly the ones
    /// this module dispatches: a new arm without an entry there (or the reverse) fails
    /// here, so clients never see a method list that lies.
    #[test]
    fn advertised_methods_are_exactly_the_dispatched_ones() {
        let src = include_str!("mod.rs");
        let body = &src[src.find("match method {").expect("dispatch match")..];
        let body = &body[..body.find("_ => Err(").expect("fallback arm")];
        let mut arms: Vec<&str> = body
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" =>"))
            .map(|(m, _)| m)
            .collect();
        // `agent` answers twice (accepted, then the result) and is handled in `respond`.
        assert!(src.contains("if method == \"agent\" {"));
        arms.push("agent");
        arms.sort_unstable();
        let mut advertised = crate::protocol::METHODS.to_vec();
        advertised.sort_unstable();
        assert_eq!(arms, advertised);
    }
}
