use super::*;

fn write(dir: &Path, folder: &str, text: &str) {
    std::fs::create_dir_all(dir.join(folder)).unwrap();
    std::fs::write(dir.join(folder).join("SKILL.md"), text).unwrap();
}

fn ctx<'a>(root: &Path, resolved: &'a Value, nix: &'a NixMode) -> Context<'a> {
    Context {
        workspace: root.join("ws"),
        managed_dir: root.join("state/skills"),
        extra_dirs: vec![root.join("extra")],
        facts: Facts {
            resolved,
            path_var: "/usr/bin:/bin".into(),
            exec_env: BTreeMap::new(),
            platform: "linux",
            nix,
        },
    }
}

#[test]
fn precedence_workspace_over_managed_over_extra() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        &root.join("extra"),
        "a",
        "---\nname: a\ndescription: extra a\n---\n",
    );
    write(
        &root.join("extra"),
        "only-extra",
        "---\ndescription: e\n---\n",
    );
    write(
        &root.join("state/skills"),
        "a",
        "---\nname: a\ndescription: managed a\n---\n",
    );
    write(
        &root.join("state/skills"),
        "b",
        "---\nname: b\ndescription: managed b\n---\n",
    );
    write(
        &root.join("ws/skills"),
        "b2",
        "---\nname: b\ndescription: workspace b\n---\n",
    );
    write(
        &root.join("ws/skills"),
        "nodesc",
        "---\nname: nodesc\n---\n",
    );
    write(
        &root.join("ws/skills"),
        ".hidden",
        "---\nname: h\ndescription: h\n---\n",
    );
    std::fs::create_dir_all(root.join("ws/skills/empty")).unwrap();
    let cfg = json!({});
    let nix = NixMode::off();
    let skills = ctx(root, &cfg, &nix).load();
    let got: Vec<(&str, &str, &str)> = skills
        .iter()
        .map(|s| (s.name.as_str(), s.description.as_str(), s.source.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "managed a", "clawdbot-managed"),
            ("only-extra", "e", "clawdbot-extra"),
            ("b", "workspace b", "clawdbot-workspace"),
        ]
    );
    assert_eq!(skills[2].file_path, root.join("ws/skills/b2/SKILL.md"));
    assert_eq!(skills[2].base_dir, root.join("ws/skills/b2"));
}

#[test]
fn oversized_and_non_utf8_files() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut big = String::from("---\nname: big\ndescription: big\n---\n");
    big.push_str(&"x".repeat(frontmatter::MAX_BYTES));
    write(dir, "big", &big);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(
        dir.join("bin/SKILL.md"),
        b"---\nname: bin\xff\ndescription: d\xfe\n---\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("dir-not-file/SKILL.md")).unwrap();
    let got = load_dir(dir, "clawdbot-workspace");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].name, "bin\u{fffd}");
}

#[test]
fn prompt_lists_eligible_escaped_and_notes_outside_files() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        &root.join("ws/skills"),
        "ok",
        "---\nname: ok\ndescription: Use <b> & \"c\"\nmetadata: {\"clawdbot\":{\"requires\":{\"bins\":[\"sh\"]}}}\n---\n",
    );
    write(
        &root.join("ws/skills"),
        "gone",
        "---\nname: gone\ndescription: g\nmetadata: {\"clawdbot\":{\"requires\":{\"bins\":[\"no-such-bin-xyz\"]}}}\n---\n",
    );
    write(
        &root.join("ws/skills"),
        "hidden",
        "---\nname: hidden\ndescription: h\ndisable-model-invocation: true\n---\n",
    );
    let cfg = json!({});
    let nix = NixMode::off();
    let c = ctx(root, &cfg, &nix);
    let p = c.prompt_section();
    assert!(p.starts_with("## Skills (mandatory)\n"), "{p}");
    assert!(p.contains(
        "    <name>ok</name>\n    <description>Use &lt;b&gt; &amp; &quot;c&quot;</description>\n"
    ));
    assert!(p.contains(&format!(
        "<location>{}</location>",
        root.join("ws/skills/ok/SKILL.md").display()
    )));
    assert!(!p.contains("gone") && !p.contains("hidden"));
    assert!(!p.contains("only opens files inside the workspace"));
    write(
        &root.join("state/skills"),
        "m",
        "---\nname: m\ndescription: managed\n---\n",
    );
    let p = c.prompt_section();
    assert!(p.contains("<name>m</name>") && p.contains("only opens files inside the workspace"));
    let status = c.status();
    let gone = status["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "gone")
        .unwrap();
    assert_eq!(gone["eligible"], false);
    assert_eq!(gone["missing"]["bins"], json!(["no-such-bin-xyz"]));
    let hidden = status["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "hidden")
        .unwrap();
    assert_eq!(hidden["eligible"], true);
    assert_eq!(prompt_section(&[], &root.join("ws")), "");
}

#[test]
fn tool_env_comes_from_eligible_entries_only() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write(
        &root.join("ws/skills"),
        "k",
        "---\nname: k\ndescription: d\nmetadata: {\"clawdbot\":{\"primaryEnv\":\"K_API_KEY\"}}\n---\n",
    );
    write(
        &root.join("ws/skills"),
        "off",
        "---\nname: off\ndescription: d\n---\n",
    );
    let cfg = json!({"skills": {"entries": {
        "k": {"apiKey": "sk-1", "env": {"K_REGION": "eu", "EMPTY": ""}},
        "off": {"enabled": false, "env": {"OFF_SECRET": "x"}},
        "absent": {"env": {"ABSENT": "x"}}
    }}});
    let nix = NixMode::off();
    let env = ctx(root, &cfg, &nix).tool_env();
    assert_eq!(
        env,
        BTreeMap::from([
            ("K_API_KEY".to_string(), "sk-1".to_string()),
            ("K_REGION".to_string(), "eu".to_string()),
        ])
    );
}
