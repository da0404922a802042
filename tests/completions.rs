//! `luciac completions SHELL` and `luciac man` come from the clap definitions: every
//! subcommand is in them, and bash accepts its script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{luciac, run};

#[test]
fn completion_scripts_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(luciac().args(["completions", shell]));
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for cmd in ["build", "check", "fmt", "lsp", "completions", "man"] {
            assert!(text.contains(cmd), "{shell} script lacks {cmd}");
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let path = dir.path().join("luciac.bash");
            std::fs::write(&path, out.stdout).unwrap_or_else(|e| panic!("{e}"));
            let syntax = run(std::process::Command::new("bash").arg("-n").arg(&path));
            assert!(
                syntax.status.success(),
                "{}",
                String::from_utf8_lossy(&syntax.stderr)
            );
        }
    }
    let out = run(luciac().arg("man"));
    assert!(out.status.success());
    let roff = String::from_utf8_lossy(&out.stdout);
    assert!(roff.contains(".TH luciac 1"), "{roff}");
    assert!(roff.contains("fmt") && roff.contains("lsp"));
}
