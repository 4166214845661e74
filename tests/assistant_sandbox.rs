//! The tool sandbox through a real gateway and a fake model: which sessions are
//! sandboxed, what their exec and file tools can reach, and that no tool process outlives
//! its call or the gateway. (tests/sandbox.rs drives the mechanism directly.)

mod common;

use common::fakes::Reply;
use common::world::World;
use common::{call, chat_events, operator};
use serde_json::json;

/// Through a real gateway: a non-main session's exec runs in the sandbox (default
/// `agents.defaults.sandbox.mode = "non-main"`), the main session's does not.
#[tokio::test]
async fn a_non_main_session_exec_is_sandboxed() {
    let abi = clawdbot::sandbox::landlock_abi();
    if abi < 4 {
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_SANDBOX=1 but Landlock ABI is {abi} (4 needed)"
        );
        eprintln!("skipped: Landlock ABI 4 not available (kernel has ABI {abi})");
        return;
    }
    let w = World::new().await;
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "full"}},
                   "agents": {"defaults": {"sandbox": {"workspaceAccess": "rw"}}}}),
        )
        .await;
    let secret = gw.state_dir().join("secret-for-sandbox-test");
    std::fs::write(&secret, "STATE-SECRET").unwrap();
    let escape = gw.state_dir().join("escaped");
    let command = format!(
        "cat '{}'; echo x > '{}'; echo inside > made-here && echo wrote-workspace",
        secret.display(),
        escape.display()
    );
    let mut ws = operator(&gw.url).await;
    // A background process the sandboxed command leaves behind dies with the call.
    let marker = format!("{}", 900_000 + std::process::id());
    for (i, key) in ["agent:main:sandboxed", "main"].iter().enumerate() {
        let command = if i == 0 {
            format!("{command}; sleep {marker} >/dev/null 2>&1 &")
        } else {
            command.clone()
        };
        w.anthropic.script([
            Reply::Tool {
                name: "exec".into(),
                input: json!({"command": command}),
            },
            Reply::Text("done".into()),
        ]);
        let run = format!("sb-{i}");
        call(
            &mut ws,
            &format!("{i}"),
            "chat.send",
            json!({"sessionKey": key, "message": "try", "idempotencyKey": run}),
        )
        .await;
        let events = chat_events(&mut ws, &run).await;
        assert_eq!(events.last().unwrap()["state"], "final", "{events:?}");
        let reqs = w.anthropic.requests();
        let result = reqs.last().unwrap()["messages"].to_string();
        assert!(result.contains("wrote-workspace"), "{key}: {result}");
        if i == 0 {
            assert!(
                !result.contains("STATE-SECRET") && result.contains("Permission denied"),
                "sandboxed: {result}"
            );
            assert!(
                !escape.exists(),
                "the sandboxed exec wrote into the state dir"
            );
            let left: Vec<_> = std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
                .filter(|c| c == format!("sleep\0{marker}\0").as_bytes())
                .collect();
            assert!(
                left.is_empty(),
                "a background process outlived the sandboxed call"
            );
        } else {
            assert!(
                result.contains("STATE-SECRET"),
                "main (unsandboxed): {result}"
            );
            assert!(escape.exists());
        }
    }
    gw.shutdown().await;
}

/// A sandboxed tool process still running when the gateway stops does not survive it.
#[tokio::test]
async fn a_running_sandboxed_exec_dies_with_the_gateway() {
    if clawdbot::sandbox::landlock_abi() < 4 {
        assert!(
            std::env::var("CLAWDBOT_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "CLAWDBOT_REQUIRE_SANDBOX=1 but Landlock ABI 4 is missing"
        );
        eprintln!("skipped: Landlock ABI 4 not available");
        return;
    }
    let w = World::new().await;
    let marker = format!("1000{}", std::process::id());
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": format!("sleep {marker} & sleep {marker}")}),
        },
        Reply::Text("done".into()),
    ]);
    let mut gw = w
        .gateway(
            json!({"enabled": false}),
            json!({"tools": {"exec": {"security": "full"}}}),
        )
        .await;
    let mut ws = operator(&gw.url).await;
    call(
        &mut ws,
        "1",
        "chat.send",
        json!({"sessionKey": "agent:main:other", "message": "go", "idempotencyKey": "stuck"}),
    )
    .await;
    let with_marker = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).split('\0').any(|a| a == marker))
            })
            .count()
    };
    let mut started = false;
    for _ in 0..500 {
        if with_marker() == 2 {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(started, "the markers never started");
    gw.shutdown().await;
    for _ in 0..250 {
        if with_marker() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{} sandboxed processes outlived the gateway", with_marker());
}

/// The file tools follow the sandbox's view of the workspace: a sandboxed session reads
/// but cannot write with `workspaceAccess: "ro"`, cannot even read with `"none"` (the
/// default), and the main session is not sandboxed.
#[tokio::test]
async fn file_tools_follow_the_sandbox_workspace_access() {
    let w = World::new().await;
    std::fs::write(w.workspace.path().join("hello.txt"), "hello-file").unwrap();
    for (access, key, read_ok, write_ok) in [
        (Some("ro"), "agent:main:group-ro", true, false),
        (None, "agent:main:group-none", false, false),
        (None, "main", true, true),
    ] {
        let sandbox = match access {
            Some(a) => json!({"workspaceAccess": a}),
            None => json!({}),
        };
        let mut gw = w
            .gateway(
                json!({"enabled": false}),
                json!({"agents": {"defaults": {"sandbox": sandbox}}}),
            )
            .await;
        let mut ws = operator(&gw.url).await;
        let run = format!("files-{key}");
        w.anthropic.script([
            Reply::Tool {
                name: "write".into(),
                input: json!({"path": "new.txt", "content": "from-the-model"}),
            },
            Reply::Tool {
                name: "read".into(),
                input: json!({"path": "hello.txt"}),
            },
            Reply::Text("done".into()),
        ]);
        let events = common::chat_send(&mut ws, key, "files", &run).await;
        assert_eq!(events.last().unwrap()["state"], "final", "{events:?}");
        let reqs = w.anthropic.requests();
        let after_write = reqs[reqs.len() - 2]["messages"].to_string();
        let after_read = reqs[reqs.len() - 1]["messages"].to_string();
        let wrote = w.workspace.path().join("new.txt").exists();
        assert_eq!(wrote, write_ok, "{key}: {after_write}");
        if !write_ok {
            assert!(
                after_write.contains("write refused: this session is sandboxed"),
                "{key}: {after_write}"
            );
            assert!(
                after_write.contains("agents.defaults.sandbox.workspaceAccess"),
                "{after_write}"
            );
        }
        assert_eq!(
            after_read.contains("hello-file"),
            read_ok,
            "{key}: {after_read}"
        );
        gw.shutdown().await;
    }
}
