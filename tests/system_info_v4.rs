//! The Systems page of openclaw 2026.9's Control UI asks `system.info` (the gateway
//! host's facts) and `node.list` (connected nodes). Both over a real socket: the facts
//! are checked against the kernel's own numbers read here, and a node shows up while
//! it is connected and is gone once it is not.

mod common;

use std::time::{Duration, Instant};

use clawdbot::device::DeviceIdentity;
use clawdbot::util::now_ms;
use common::*;
use serde_json::{Value, json};

/// `openclaw health`'s connect (v4, no device, read scope).
fn v4_cli() -> Value {
    json!({"minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "2026.9.6", "platform": "linux", "deviceFamily": "Linux",
                   "mode": "cli", "instanceId": "be696637-7d2d-4135-8e0b-be22b393cb62"},
        "caps": [], "auth": {"token": TOKEN}, "role": "operator", "scopes": ["operator.read"]})
}

fn meminfo_kb(name: &str) -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = info.lines().find(|l| l.starts_with(name)).unwrap();
    line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn system_info_reports_this_machine_to_v4_clients_only() {
    let gw = TestGateway::start().await;
    let (mut ws, _) = open(&gw.url).await;
    let hello = connect(&mut ws, v4_cli()).await;
    assert_eq!(hello["ok"], true, "{hello}");
    let methods = hello["payload"]["features"]["methods"].as_array().unwrap();
    // The UI calls system.info only when the gateway advertises it.
    assert!(methods.iter().any(|m| m == "system.info"), "{methods:?}");
    assert!(methods.iter().any(|m| m == "node.list"), "{methods:?}");

    let r = call(&mut ws, "si", "system.info", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    let v = &r["payload"];
    assert_eq!(v["pid"], std::process::id(), "{v}");
    assert_eq!(v["port"], gw.port, "{v}");
    assert_eq!(v["diskPath"], gw.state_dir().display().to_string(), "{v}");
    assert_eq!(v["processInstanceId"], hello["payload"]["server"]["bootId"]);
    if cfg!(target_os = "linux") {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(v["hostname"], host.trim());
        assert_eq!(v["platform"], "linux");
        assert_eq!(v["memoryTotalBytes"], meminfo_kb("MemTotal:") * 1024, "{v}");
        assert_eq!(v["disks"][0]["path"], v["diskPath"]);
        let (total, avail) = (
            v["diskTotalBytes"].as_u64().unwrap(),
            v["diskAvailableBytes"].as_u64().unwrap(),
        );
        assert!(total > 0 && avail <= total, "{v}");
        // This test process is the gateway: its RSS is ours, between 1 MB and all RAM.
        let rss = v["processMemory"]["rssBytes"].as_u64().unwrap();
        assert!(rss > 1 << 20 && rss < meminfo_kb("MemTotal:") * 1024, "{v}");
        assert_eq!(v["loadAverage"].as_array().unwrap().len(), 3, "{v}");
    }
    // Strict params, as every method.
    let r = call(&mut ws, "bad", "system.info", json!({"probe": true})).await;
    assert_eq!(r["ok"], false, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unexpected property 'probe'"),
        "{r}"
    );

    // A v3 client (the Clawdbot-era UI) never sees it: unknown there, as before.
    let mut v3 = operator(&gw.url).await;
    let r = call(&mut v3, "si3", "system.info", json!({})).await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["message"], "unknown method: system.info");
}

async fn node_ids(ws: &mut Ws, id: &str) -> Vec<Value> {
    let r = call(ws, id, "node.list", json!({})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["payload"]["ts"].as_i64().unwrap() > 0, "{r}");
    r["payload"]["nodes"].as_array().unwrap().clone()
}

#[tokio::test]
async fn node_list_shows_the_nodes_connected_now() {
    let gw = TestGateway::start().await;
    let mut op = operator(&gw.url).await;
    assert!(node_ids(&mut op, "n0").await.is_empty());

    // A node connects (v3, signed device, as the original's node host does).
    let (mut node, nonce) = open(&gw.url).await;
    let mut p = base_params(Some(TOKEN));
    p["client"] = json!({"id": "node-host", "version": "2026.1.24", "platform": "linux",
        "mode": "node", "displayName": "build-box", "instanceId": "node-i-1"});
    p["role"] = json!("node");
    p["scopes"] = json!([]);
    let device = DeviceIdentity::generate();
    sign(&mut p, &device, Some(&nonce), now_ms());
    let r = connect(&mut node, p).await;
    assert_eq!(r["ok"], true, "{r}");

    let nodes = node_ids(&mut op, "n1").await;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["nodeId"], device.device_id());
    assert_eq!(nodes[0]["displayName"], "build-box");
    assert_eq!(nodes[0]["platform"], "linux");
    assert_eq!(nodes[0]["connected"], true);
    assert_eq!(nodes[0]["paired"], true);
    // A node may not list nodes itself (operator methods are not a node's).
    let r = call(&mut node, "nn", "node.list", json!({})).await;
    assert_eq!(r["ok"], false, "{r}");

    // Gone once its socket is: the server handles the close on its own time, so ask
    // until it has (bounded).
    drop(node);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut i = 0;
    loop {
        i += 1;
        if node_ids(&mut op, &format!("p{i}")).await.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the node is still listed");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
