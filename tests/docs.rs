//! Generated documentation stays current, and covers every param and secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{luciac, repo, run};

#[test]
fn configuration_reference_is_current_and_complete() {
    let out = run(luciac().current_dir(repo()).args(["docs", "--check"]));
    assert!(
        out.status.success(),
        "infra/docs/configuration-reference.md is stale: run `cargo run -- docs`\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(repo().join("infra/docs/configuration-reference.md"))
        .unwrap_or_default();
    let model = common::repo_model(None);
    for p in &model.params {
        assert!(
            text.contains(&format!("### `{}`", p.name)),
            "param {} missing",
            p.name
        );
        assert!(text.contains(&format!("`{}=` in `.env`", p.env_name)));
    }
    for s in &model.secrets {
        assert!(
            text.contains(&format!("| `{}` |", s.name)),
            "secret {} missing",
            s.name
        );
    }
    // A stale file is reported with a diff.
    let dir = common::project();
    std::fs::create_dir_all(dir.path().join("infra/docs")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("infra/docs/configuration-reference.md"),
        "old\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(luciac().current_dir(dir.path()).args(["docs", "--check"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-old"));
}
