//! The exec policy against a real gateway driven by a fake model: each allowlist bypass
//! of issue 11 is refused and its payload never runs; a tool process sees none of the
//! gateway's secrets; "allow always" approves the exact argv shown, nothing wider.

mod common;

use common::fakes::Reply;
use common::world::World;
use common::{call, next, operator};
use serde_json::{Value, json};

/// The tool results of the model's last request, in order.
fn tool_results(req: &Value) -> Vec<(String, bool)> {
    let mut out = vec![];
    for m in req["messages"].as_array().unwrap() {
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" {
                let text = match &b["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => a.iter().filter_map(|x| x["text"].as_str()).collect(),
                    other => other.to_string(),
                };
                out.push((text, b["is_error"] == true));
            }
        }
    }
    out
}

async fn run_to_final(ws: &mut common::Ws, key: &str) {
    let events = common::chat_send(ws, "main", "go", key).await;
    let last = events.last().expect("a last event");
    assert_eq!(last["state"], "final", "{last}");
}

fn exec(command: &str) -> Reply {
    Reply::Tool {
        name: "exec".into(),
        input: json!({"command": command}),
    }
}

#[tokio::test]
async fn every_allowlist_bypass_is_refused_and_its_payload_never_runs() {
    let w = World::new().await;
    let ws = w.workspace.path();
    // A workspace program named `ls`, first on the exec PATH.
    let fake_ls = ws.join("ls");
    std::fs::write(&fake_ls, "#!/bin/sh\ncat /etc/passwd\n").unwrap();
    std::fs::create_dir_all(ws.join("bin")).unwrap();
    std::fs::copy(&fake_ls, ws.join("bin/ls")).unwrap();
    for p in [fake_ls.clone(), ws.join("bin/ls")] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bypasses = [
        "ls ; cat /etc/passwd",
        "ls && cat /etc/passwd",
        "ls || cat /etc/passwd",
        "ls | cat /etc/passwd",
        "ls & cat /etc/passwd",
        "ls $(cat /etc/passwd)",
        "echo `cat /etc/passwd`",
        "echo \"$(cat /etc/passwd)\"",
        "ls\ncat /etc/passwd",
        "./bin/ls",
        "bin/ls",
        "PATH=/x:$PATH ls",
        "ls /etc/pass*",
        "echo x > /tmp/exec-policy-redirect",
        "ls < /etc/passwd",
        "cat /etc/passwd",
        // Found first on PATH (pathPrepend = the workspace), but a workspace file.
        "ls",
    ];
    let mut script: Vec<Reply> = bypasses.iter().map(|c| exec(c)).collect();
    script.push(exec("echo 'a;b' \"c|d\""));
    script.push(Reply::Text("done".into()));
    w.anthropic.script(script);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {
                "security": "allowlist", "ask": "off", "safeBins": ["ls", "echo"],
                "pathPrepend": [ws],
            }}}),
        )
        .await;
    let mut sock = operator(&gw.url).await;
    run_to_final(&mut sock, "bypass-1").await;
    let reqs = w.anthropic.requests();
    let results = tool_results(reqs.last().unwrap());
    assert_eq!(results.len(), bypasses.len() + 1, "{results:?}");
    for (cmd, (text, is_error)) in bypasses.iter().zip(&results) {
        assert!(
            *is_error && text.contains("exec refused"),
            "{cmd:?} was not refused: {text}"
        );
        assert!(
            !text.contains("root:"),
            "{cmd:?} leaked /etc/passwd: {text}"
        );
    }
    assert!(!reqs.iter().any(|r| r.to_string().contains("root:x:0:0")));
    assert!(!std::path::Path::new("/tmp/exec-policy-redirect").exists());
    // Quoted metacharacters are literal arguments of a real `echo`.
    let (text, is_error) = results.last().unwrap();
    assert!(!is_error && text.trim() == "a;b c|d", "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn allow_always_approves_the_exact_argv_shown_and_nothing_wider() {
    let w = World::new().await;
    std::fs::write(w.workspace.path().join("marker-file"), "x").unwrap();
    w.anthropic.script([
        exec("ls -la"),
        exec("ls -la"),
        exec("ls /etc"),
        Reply::Text("done".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "allowlist", "ask": "on-miss"}}}),
        )
        .await;
    let mut sock = operator(&gw.url).await;
    call(
        &mut sock,
        "1",
        "chat.send",
        json!({"sessionKey": "main", "message": "go", "idempotencyKey": "always-1"}),
    )
    .await;
    let mut asked = vec![];
    loop {
        let f = next(&mut sock).await.unwrap();
        if f["event"] == "exec.approval.requested" {
            let p = f["payload"].clone();
            let id = p["id"].as_str().unwrap().to_string();
            // The request shows the command exactly as it will run, here and in the list.
            let list = call(&mut sock, "l", "exec.approval.list", json!({})).await;
            assert_eq!(
                list["payload"]["pending"][0]["request"]["argv"],
                p["request"]["argv"]
            );
            let decision = if asked.is_empty() {
                "allow-always"
            } else {
                "deny"
            };
            asked.push(p["request"].clone());
            let r = call(
                &mut sock,
                "r",
                "exec.approval.resolve",
                json!({"id": id, "decision": decision}),
            )
            .await;
            assert_eq!(r["ok"], true, "{r}");
        }
        if f["event"] == "chat"
            && f["payload"]["runId"] == "always-1"
            && f["payload"]["state"] == "final"
        {
            break;
        }
    }
    // Asked for the first `ls -la` and for `ls /etc`; the second `ls -la` ran unasked.
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0]["command"], "ls -la");
    assert_eq!(asked[1]["command"], "ls /etc");
    let path = asked[0]["resolvedPath"].as_str().unwrap();
    assert!(path.starts_with('/') && path.ends_with("/ls"), "{path}");
    assert_eq!(asked[0]["argv"], json!([path, "-la"]));
    assert_eq!(asked[0]["shell"], false);
    let results = tool_results(w.anthropic.requests().last().unwrap());
    assert_eq!(results.len(), 3);
    assert!(results[0].0.contains("marker-file") && results[1].0.contains("marker-file"));
    assert!(
        results[2].1 && results[2].0.contains("denied"),
        "{:?}",
        results[2]
    );
    // What was remembered is the exact program file and argv.
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(gw.state_dir().join("exec-allowlist.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(file["version"], 2);
    assert_eq!(file["commands"], json!([{"path": path, "args": ["-la"]}]));
    gw.shutdown().await;
}

/// The real binary, started with provider keys, the gateway token and a credentials
/// directory in its environment: `env` run by the agent shows none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_process_sees_only_the_allowed_environment() {
    use common::fakes::FakeModel;
    use common::proc::{Proc, command, free_port, state};
    let model = FakeModel::anthropic().await;
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(state(root.path())).unwrap();
    let cfg = json!({
        "agents": {"defaults": {"workspace": root.path().join("ws"), "model": {"primary": "anthropic/claude-test"}}},
        "models": {"providers": {"anthropic": {"baseUrl": model.url, "apiKey": "sk-ant-config-secret", "models": []}}},
        "tools": {"exec": {"security": "allowlist", "ask": "off", "safeBins": ["env"],
                            "env": {"GIT_AUTHOR_NAME": "Claw"}}},
    });
    std::fs::write(state(root.path()).join("clawdbot.json"), cfg.to_string()).unwrap();
    model.script([exec("env"), Reply::Text("done".into())]);
    let secrets = [
        ("ANTHROPIC_API_KEY", "sk-ant-env-secret"),
        ("OPENAI_API_KEY", "sk-openai-env-secret"),
        ("TELEGRAM_BOT_TOKEN", "123:telegram-secret"),
        ("CREDENTIALS_DIRECTORY", "/run/credentials/clawdbot-secret"),
        ("CLAWDBOT_GATEWAY_TOKEN", common::TOKEN),
    ];
    let port = free_port();
    let mut cmd = command(root.path());
    cmd.args([
        "gateway",
        "--port",
        &port.to_string(),
        "--token",
        common::TOKEN,
    ])
    .env("LANG", "C.UTF-8")
    .env("TZ", "UTC")
    .env("LD_PRELOAD", "");
    for (k, v) in secrets {
        cmd.env(k, v);
    }
    let mut gw = Proc::spawn(cmd);
    gw.wait_for("listening on");
    let mut sock = operator(&format!("ws://127.0.0.1:{port}")).await;
    run_to_final(&mut sock, "env-1").await;
    let reqs = model.requests();
    let results = tool_results(reqs.last().unwrap());
    let (text, is_error) = &results[0];
    assert!(!is_error, "{text}");
    let mut names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["GIT_AUTHOR_NAME", "HOME", "LANG", "PATH", "TZ"],
        "{text}"
    );
    assert!(
        text.contains(&format!("HOME={}", root.path().join("ws").display())),
        "{text}"
    );
    for (k, v) in secrets {
        assert!(!text.contains(v), "{k} leaked: {text}");
    }
    assert!(!text.contains("sk-ant-config-secret"));
}
