//! This repository's own GitHub workflows pass actionlint and zizmor (offline).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{assert_clean, repo, run, tool};

#[test]
fn workflows_pass_actionlint_and_zizmor() {
    let dir = repo().join(".github/workflows");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    assert_clean(
        "actionlint",
        &run(Command::new(tool("actionlint")).args(&files)),
    );
    let out = run(Command::new(tool("zizmor")).arg("--offline").args(&files));
    assert!(
        out.status.success(),
        "zizmor: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No findings"));
}

/// The workflow luciac emits for a GitOps repository passes the same linters, for every
/// profile, and checks every artifact of its bundle.
#[test]
fn emitted_gitops_workflows_pass_actionlint_and_zizmor() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for profile in ["dev", "prod"] {
        let model = common::repo_model(Some(profile));
        let a = common::artifact(&model, "github");
        let name = format!("luciac-{profile}.yml");
        let text = String::from_utf8_lossy(&a.tree[&name].bytes).to_string();
        for needle in [
            "luciac build --profile \"$PROFILE\" --check --locked",
            "luciac verify \"$BUNDLE\"",
            "docker compose -f",
            "helm lint --strict",
            "systemd-analyze security --offline=yes --threshold=20",
            "persist-credentials: false",
        ] {
            assert!(text.contains(needle), "{profile}: missing `{needle}`");
        }
        insta::assert_snapshot!(format!("gitops-{profile}"), text);
        std::fs::write(dir.path().join(&name), &text).unwrap_or_else(|e| panic!("{e}"));
        // The scheduled pin-update workflow: the same in every profile's bundle.
        let update = String::from_utf8_lossy(&a.tree["luciac-update.yml"].bytes).to_string();
        for needle in [
            "schedule:",
            "permissions: {}",
            "contents: write",
            "pull-requests: write",
            "persist-credentials: false",
            "luciac lock --update --message-format json",
            "luciac build --all --locked",
            "| Image | Tag | Old digest | New digest |",
            "gh pr create",
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        ] {
            assert!(
                update.contains(needle),
                "update workflow: missing `{needle}`"
            );
        }
        insta::assert_snapshot!("gitops-update", update);
        std::fs::write(dir.path().join("luciac-update.yml"), &update)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let files: Vec<_> = ["luciac-dev.yml", "luciac-prod.yml", "luciac-update.yml"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    assert_clean(
        "actionlint",
        &run(Command::new(tool("actionlint")).args(&files)),
    );
    let out = run(Command::new(tool("zizmor")).arg("--offline").args(&files));
    assert!(
        out.status.success(),
        "zizmor: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No findings"));
    let out = run(Command::new(tool("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(&files));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A declaration read with `-f` under another name: every header names that file, and the
/// emitted workflows pass `-f` to each `luciac` command and render the chart as the app.
#[test]
fn another_declaration_file_is_carried_into_every_bundle() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let decl = dir.path().join("stack.kdl");
    std::fs::write(
        &decl,
        r#"app "forge" version="0.3.0" { description "A Git forge" }
image "forge" "docker.io/library/forge:1"
service "forge" {
    image "forge"
    command "/usr/bin/forge" "web"
    port "http" 3000 publish=3000
    health liveness="/healthz" readiness="/healthz"
}
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(dir.path().join("profiles")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("profiles/prod.kdl"), "").unwrap_or_else(|e| panic!("{e}"));
    let mut diags = Vec::new();
    let input = luciac::compile::load(&decl, Some("prod"), &mut diags)
        .unwrap_or_else(|| panic!("{diags:?}"));
    let model =
        luciac::compile::compile(&input, luciac::resolve::Strictness::default(), &mut diags)
            .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(model.source_file, "stack.kdl");
    let arts = luciac::targets::lower_all(&model, &mut diags);
    assert!(!diags.iter().any(|d| d.is_error()), "{diags:?}");
    let mut generated = 0;
    for a in &arts {
        for (path, f) in &a.tree {
            let text = String::from_utf8_lossy(&f.bytes);
            assert!(
                !text.contains("lucia.kdl"),
                "{}/{path} names lucia.kdl",
                a.path
            );
            generated += usize::from(text.contains("stack.kdl"));
        }
    }
    assert!(generated > 10, "only {generated} files name stack.kdl");
    let gh = arts
        .iter()
        .find(|a| a.target == "github")
        .unwrap_or_else(|| panic!("no workflow"));
    let pr = String::from_utf8_lossy(&gh.tree["luciac-prod.yml"].bytes).to_string();
    for needle in [
        "luciac fmt -f stack.kdl --check",
        "luciac build -f stack.kdl --profile \"$PROFILE\" --check --locked",
        "helm template forge \"$BUNDLE/forge-0.3.0.tgz\"",
    ] {
        assert!(pr.contains(needle), "missing `{needle}` in:\n{pr}");
    }
    assert!(!pr.contains("helm template lucia"), "{pr}");
    let update = String::from_utf8_lossy(&gh.tree["luciac-update.yml"].bytes).to_string();
    for needle in [
        "luciac lock -f stack.kdl --update --message-format json",
        "luciac build -f stack.kdl --all --locked",
    ] {
        assert!(update.contains(needle), "missing `{needle}` in:\n{update}");
    }
    let out = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let files: Vec<_> = [("luciac-prod.yml", &pr), ("luciac-update.yml", &update)]
        .iter()
        .map(|(n, t)| {
            let p = out.path().join(n);
            std::fs::write(&p, t).unwrap_or_else(|e| panic!("{e}"));
            p
        })
        .collect();
    assert_clean(
        "actionlint",
        &run(Command::new(tool("actionlint")).args(&files)),
    );
}
