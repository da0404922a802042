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
