//! This repository's own GitHub workflows pass actionlint and zizmor (offline).

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
