//! Skills end to end: SKILL.md folders in a real workspace and state dir, gated by the
//! real exec PATH, reach the system prompt the fake model receives, `skills.status`, the
//! exec child's environment and `clawdbot skills list|info|check`.

mod common;

use std::path::Path;

use common::fakes::Reply;
use common::world::World;
use common::{call, chat_send, operator, proc};
use serde_json::{Value, json};

fn skill(dir: &Path, folder: &str, name: &str, description: &str, metadata: &str) {
    let d = dir.join(folder);
    std::fs::create_dir_all(&d).unwrap();
    let meta = if metadata.is_empty() {
        String::new()
    } else {
        format!("metadata: {metadata}\n")
    };
    std::fs::write(
        d.join("SKILL.md"),
        format!("---\nname: {name}\ndescription: {description}\n{meta}---\n\n# {name}\nSteps.\n"),
    )
    .unwrap();
}

/// Four workspace skills: one needing `sh` (present), one needing a missing binary, one
/// disabled in the config, one whose env comes from `skills.entries`.
fn workspace_skills(ws: &Path) {
    let dir = ws.join("skills");
    skill(
        &dir,
        "shell-helper",
        "shell-helper",
        "Run shell snippets safely",
        r#"{"clawdbot":{"emoji":"🐚","requires":{"bins":["sh"]}}}"#,
    );
    skill(
        &dir,
        "ghost",
        "ghost",
        "Needs a tool nobody has",
        r#"{"clawdbot":{"requires":{"bins":["clawdbot-no-such-bin-7f3a"]}}}"#,
    );
    skill(&dir, "muted", "muted", "Switched off by the operator", "");
    skill(
        &dir,
        "keyed",
        "keyed",
        "Talks to an API",
        r#"{"clawdbot":{"requires":{"env":["KEYED_TOKEN"]},"primaryEnv":"KEYED_TOKEN"}}"#,
    );
}

fn entries() -> Value {
    json!({"skills": {"entries": {
        "muted": {"enabled": false},
        "keyed": {"apiKey": "skill-secret-123", "env": {"KEYED_REGION": "eu-1"}},
    }}, "tools": {"exec": {"security": "full"}}})
}

fn by_name<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["payload"]["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {status}"))
}

#[tokio::test]
async fn eligible_skills_reach_the_prompt_and_status_says_why_others_do_not() {
    let w = World::new().await;
    workspace_skills(w.workspace.path());
    w.anthropic.script([Reply::Text("ok".into())]);
    let mut gw = w.gateway(json!({}), entries()).await;
    // A managed skill, written after start: skills are read on every run.
    let managed = gw.state_dir().join("skills");
    skill(&managed, "shared", "shared", "A skill every agent sees", "");
    let mut ws = operator(&gw.url).await;
    chat_send(&mut ws, "main", "hi", "run-1").await;
    let system = w.anthropic.requests()[0]["system"].to_string();
    assert!(system.contains("## Skills (mandatory)"), "{system}");
    assert!(
        system.contains("<name>shell-helper</name>")
            && system.contains("<description>Run shell snippets safely</description>"),
        "{system}"
    );
    let loc = w.workspace.path().join("skills/shell-helper/SKILL.md");
    assert!(
        system.contains(&format!("<location>{}</location>", loc.display())),
        "{system}"
    );
    assert!(
        system.contains("<name>keyed</name>") && system.contains("<name>shared</name>"),
        "{system}"
    );
    assert!(
        !system.contains("ghost") && !system.contains("muted"),
        "{system}"
    );
    // The managed skill is outside the workspace `read` is confined to: the prompt says so.
    assert!(
        system.contains("only opens files inside the workspace"),
        "{system}"
    );

    let st = call(&mut ws, "st", "skills.status", json!({})).await;
    assert_eq!(st["ok"], true, "{st}");
    let p = &st["payload"];
    assert_eq!(p["workspaceDir"], w.workspace.path().display().to_string());
    assert_eq!(p["managedSkillsDir"], managed.display().to_string());
    let sh = by_name(&st, "shell-helper");
    assert_eq!(sh["eligible"], true);
    assert_eq!(sh["source"], "clawdbot-workspace");
    assert_eq!(sh["emoji"], "🐚");
    assert_eq!(sh["filePath"], loc.display().to_string());
    assert_eq!(sh["requirements"]["bins"], json!(["sh"]));
    assert_eq!(
        sh["missing"],
        json!({"bins": [], "anyBins": [], "env": [], "config": [], "os": []})
    );
    let ghost = by_name(&st, "ghost");
    assert_eq!(ghost["eligible"], false);
    assert_eq!(
        ghost["missing"]["bins"],
        json!(["clawdbot-no-such-bin-7f3a"])
    );
    let why = ghost["reasons"][0].as_str().unwrap();
    assert!(
        why.contains("clawdbot-no-such-bin-7f3a") && why.contains("exec PATH"),
        "{why}"
    );
    let muted = by_name(&st, "muted");
    assert_eq!(
        (muted["eligible"].clone(), muted["disabled"].clone()),
        (json!(false), json!(true))
    );
    assert!(
        muted["reasons"][0]
            .as_str()
            .unwrap()
            .contains("skills.entries.muted.enabled=false")
    );
    assert_eq!(by_name(&st, "keyed")["eligible"], true);
    assert_eq!(by_name(&st, "shared")["source"], "clawdbot-managed");
    let bad = call(&mut ws, "bad", "skills.status", json!({"agentId": "x"})).await;
    assert_eq!(bad["ok"], false, "{bad}");
    gw.shutdown().await;
}

#[tokio::test]
async fn nix_mode_names_extra_packages_for_a_missing_bin() {
    let w = World::new().await;
    workspace_skills(w.workspace.path());
    let mut gw = w.gateway_with(json!({}), entries(), true).await;
    let mut ws = operator(&gw.url).await;
    let st = call(&mut ws, "st", "skills.status", json!({})).await;
    let why = by_name(&st, "ghost")["reasons"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains("extraPackages") && why.contains("pkgs.clawdbot-no-such-bin-7f3a"),
        "{why}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn skill_entry_env_reaches_exec_children_not_disabled_ones() {
    let w = World::new().await;
    workspace_skills(w.workspace.path());
    let mut cfg = entries();
    cfg["skills"]["entries"]["muted"]["env"] = json!({"MUTED_SECRET": "must-not-leak"});
    w.anthropic.script([
        Reply::Tool {
            name: "exec".into(),
            input: json!({"command": "echo \"t=$KEYED_TOKEN r=$KEYED_REGION m=${MUTED_SECRET:-unset}\""}),
        },
        Reply::Text("done".into()),
    ]);
    let mut gw = w.gateway(json!({}), cfg).await;
    let mut ws = operator(&gw.url).await;
    let events = chat_send(&mut ws, "main", "go", "run-env").await;
    assert_eq!(events.last().unwrap()["state"], "final");
    let reqs = w.anthropic.requests();
    let last = reqs.last().unwrap()["messages"].to_string();
    assert!(last.contains("t=skill-secret-123 r=eu-1 m=unset"), "{last}");
    gw.shutdown().await;
}

#[test]
fn cli_lists_checks_and_explains_offline() {
    let root = tempfile::tempdir().unwrap();
    let ws = root.path().join("ws");
    workspace_skills(&ws);
    let state = proc::state(root.path());
    std::fs::create_dir_all(&state).unwrap();
    let mut cfg = entries();
    cfg["agents"] = json!({"defaults": {"workspace": ws}});
    std::fs::write(state.join("clawdbot.json"), cfg.to_string()).unwrap();
    let run = |args: &[&str]| {
        let mut c = proc::command(root.path());
        c.arg("skills").args(args);
        proc::run(c)
    };
    let (code, out, err) = run(&["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Skills (2/4 ready)"), "{out}");
    let line = |name: &str| out.lines().find(|l| l.contains(name)).unwrap().to_string();
    assert!(
        line("shell-helper").starts_with("✓ ready") && line("shell-helper").contains("🐚"),
        "{out}"
    );
    assert!(line("ghost").starts_with("✗ missing"), "{out}");
    assert!(line("muted").starts_with("⏸ disabled"), "{out}");

    let (code, out, _) = run(&["list", "--json", "--eligible"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v["skills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keyed", "shell-helper"]);
    assert_eq!(v["workspaceDir"], ws.display().to_string());

    let (code, out, _) = run(&["info", "ghost"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("✗ Missing requirements")
            && out.contains("Binaries: ✗ clawdbot-no-such-bin-7f3a"),
        "{out}"
    );
    let (code, out, _) = run(&["info", "nope", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"error": "not found", "skill": "nope"})
    );

    let (code, out, _) = run(&["check", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["summary"],
        json!({"total": 4, "eligible": 2, "disabled": 1, "blocked": 0, "missingRequirements": 1})
    );
    assert_eq!(v["missingRequirements"][0]["name"], "ghost");

    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Examples:") && out.contains("clawdbot skills info"),
        "{out}"
    );
}

/// Waits (at most 10 s) for a `skills.changed` event.
async fn skills_changed(ws: &mut common::Ws) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let fr = common::next(ws).await.expect("socket open");
            if fr["type"] == "event" && fr["event"] == "skills.changed" {
                return fr["payload"].clone();
            }
        }
    })
    .await
    .expect("skills.changed in time")
}

#[tokio::test]
async fn a_new_skill_is_announced_and_a_nix_linked_one_is_managed() {
    let w = World::new().await;
    let mut gw = w.gateway_with(json!({}), json!({}), true).await;
    let mut ws = operator(&gw.url).await;
    // As the Nix modules link a declared skill: <stateDir>/skills/<name> -> a store dir.
    let store = tempfile::tempdir().unwrap();
    skill(store.path(), "weather", "weather", "Tell the weather", "");
    let managed = gw.gw.host.paths.state_dir.join("skills");
    std::fs::create_dir_all(&managed).unwrap();
    std::os::unix::fs::symlink(store.path().join("weather"), managed.join("weather")).unwrap();
    let ev = skills_changed(&mut ws).await;
    assert_eq!(ev["reason"], "watch");
    assert!(
        ev["changedPath"]
            .as_str()
            .unwrap()
            .ends_with("skills/weather/SKILL.md"),
        "{ev}"
    );
    let st = call(&mut ws, "st", "skills.status", json!({})).await;
    let weather = by_name(&st, "weather");
    assert_eq!(weather["source"], "clawdbot-managed", "{weather}");
    assert_eq!(weather["eligible"], true);

    // A workspace skill written later is announced too (once the file has settled).
    skill(
        &w.workspace.path().join("skills"),
        "notes",
        "notes",
        "Take notes",
        "",
    );
    let ev = skills_changed(&mut ws).await;
    assert!(
        ev["changedPath"]
            .as_str()
            .unwrap()
            .ends_with("skills/notes/SKILL.md"),
        "{ev}"
    );

    // No installer: in Nix mode the answer names the options to set.
    let r = call(
        &mut ws,
        "i",
        "skills.install",
        json!({"name": "weather", "installId": "brew"}),
    )
    .await;
    assert_eq!(r["ok"], false, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("disabled in Nix mode")
            && msg.contains("services.clawdbot.skills")
            && msg.contains("services.clawdbot.extraPackages"),
        "{msg}"
    );
    let r = call(&mut ws, "j", "skills.install", json!({"name": "weather"})).await;
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("installId"),
        "strict params: {r}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn outside_nix_mode_skills_install_says_what_to_do_and_skills_are_read_each_call() {
    let w = World::new().await;
    let mut gw = w
        .gateway(json!({}), json!({"skills": {"load": {"watch": false}}}))
        .await;
    let mut ws = operator(&gw.url).await;
    let r = call(
        &mut ws,
        "i",
        "skills.install",
        json!({"name": "gog", "installId": "brew"}),
    )
    .await;
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("not supported by this gateway") && msg.contains("clawdbot skills info gog"),
        "{msg}"
    );
    // With the watch off, a new skill is still used: skills are read on each call.
    skill(
        &w.workspace.path().join("skills"),
        "quiet",
        "quiet",
        "Quiet one",
        "",
    );
    let st = call(&mut ws, "st", "skills.status", json!({})).await;
    assert_eq!(by_name(&st, "quiet")["eligible"], true);
    gw.shutdown().await;
}
