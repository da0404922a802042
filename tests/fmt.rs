//! `luciac fmt`: idempotent, keeps every comment, and never changes what a declaration
//! compiles to. Checked on every KDL file the repository has (the declaration, its profiles,
//! the diagnostics corpus, the reference's examples) and on random relayouts of the
//! declaration; plus the command line's `--check`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use luciac::compile;
use luciac::fmt::{FmtError, format};
use luciac::resolve::Strictness;
use luciac::syntax::{Kind, lex};
use proptest::prelude::*;

use common::{corpus_parts, luciac, project, repo, run};

/// Every diagnostic (code and message; spans move when the layout does) and, when it compiles,
/// every emitted file.
fn compiled(base: &str, profile: Option<(&str, &str)>) -> String {
    let mut diags = Vec::new();
    let (_, model) = compile::compile_str(base, profile, Strictness::default(), &mut diags);
    let mut out = String::new();
    if let Some(m) = &model {
        let base_model = profile.and_then(|_| {
            compile::compile_str(base, None, Strictness::default(), &mut Vec::new()).1
        });
        let models = luciac::targets::Models {
            base: base_model.as_ref().unwrap_or(m),
            profile: m,
            shared: None,
        };
        for a in luciac::targets::lower(models, &mut diags) {
            for (path, file) in &a.tree {
                out.push_str(&format!("{}/{path}: {:?}\n", a.path, file));
            }
        }
    }
    for d in &diags {
        out.push_str(&format!("{} {}\n", d.code.id, d.message));
    }
    out
}

fn comments(src: &str) -> Vec<String> {
    lex(src)
        .iter()
        .filter(|t| matches!(t.kind, Kind::LineComment | Kind::BlockComment))
        .map(|t| t.text(src).trim_end().to_string())
        .collect()
}

/// Format, and check idempotence and comments. `None` when the text does not parse.
fn formatted(src: &str) -> Option<String> {
    match format(src, 0) {
        Ok(out) => {
            assert_eq!(
                format(&out, 0).ok().as_deref(),
                Some(out.as_str()),
                "not idempotent:\n{src}"
            );
            assert_eq!(comments(&out), comments(src), "comments changed:\n{src}");
            Some(out)
        }
        Err(FmtError::Syntax(_)) => None,
        Err(FmtError::Unstable) => panic!("formatting changed the document:\n{src}"),
    }
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_repository_is_formatted() {
    for rel in ["lucia.kdl", "profiles/dev.kdl", "profiles/prod.kdl"] {
        let text = read(rel);
        assert_eq!(
            formatted(&text).as_deref(),
            Some(text.as_str()),
            "{rel} is not formatted"
        );
    }
}

/// A name, a base, and optionally a profile's name and text.
type Case = (String, String, Option<(String, String)>);

#[test]
fn corpus_and_examples_keep_their_meaning() {
    let mut cases: Vec<Case> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(repo().join("tests/corpus"))
        .expect("corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let (base, profile) = corpus_parts(&std::fs::read_to_string(&p).expect("read"));
        let profile = profile.and_then(|(name, body)| Some((name, body?)));
        cases.push((p.display().to_string(), base, profile));
    }
    let lucia = read("lucia.kdl");
    for rel in ["profiles/dev.kdl", "profiles/prod.kdl"] {
        let name = rel.trim_start_matches("profiles/").trim_end_matches(".kdl");
        cases.push((rel.into(), lucia.clone(), Some((name.into(), read(rel)))));
    }
    // The reference's examples, each as a profile over lucia.kdl and alone.
    let md = read("docs/language.md");
    for (i, block) in md.split("```kdl\n").skip(1).enumerate() {
        let body = block.split("```").next().unwrap_or("");
        cases.push((format!("docs/language.md #{i}"), body.into(), None));
        cases.push((
            format!("docs/language.md #{i} as a profile"),
            lucia.clone(),
            Some(("p".into(), body.into())),
        ));
    }
    let mut parsed = 0;
    for (name, base, profile) in &cases {
        let fb = formatted(base);
        let fp = profile.as_ref().map(|(_, p)| formatted(p));
        let (Some(fb), Some(fp)) = (fb, fp.unwrap_or(Some(String::new()))) else {
            continue;
        };
        parsed += 1;
        let before = compiled(
            base,
            profile.as_ref().map(|(n, p)| (n.as_str(), p.as_str())),
        );
        let after = compiled(
            &fb,
            profile.as_ref().map(|(n, _)| (n.as_str(), fp.as_str())),
        );
        assert_eq!(
            before, after,
            "{name}: formatting changed the compiled output"
        );
    }
    assert!(parsed > 40, "only {parsed} cases parsed");
}

/// Spaces within lines and indentation are noise: any relayout of them formats back to
/// exactly the repository's (formatted) declaration.
fn relayout(src: &str, spaces: &[u8], comments_at: &[bool]) -> String {
    let mut out = String::new();
    let mut at_line_start = true;
    for (i, t) in lex(src).iter().enumerate() {
        let pick = spaces.get(i % spaces.len().max(1)).copied().unwrap_or(1);
        match t.kind {
            Kind::Space => {
                out.push_str([" ", "  ", "\t", "   ", " \t "][usize::from(pick) % 5]);
            }
            Kind::Newline => {
                if comments_at
                    .get(i % comments_at.len().max(1))
                    .copied()
                    .unwrap_or(false)
                {
                    out.push_str(" /* x */");
                }
                out.push_str(" \n");
                at_line_start = true;
                continue;
            }
            _ => {
                if at_line_start && pick % 2 == 0 {
                    out.push_str("  ");
                }
                out.push_str(t.text(src));
            }
        }
        at_line_start = false;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_spacing_formats_to_the_declaration(spaces in proptest::collection::vec(0u8..10, 1..40)) {
        let lucia = read("lucia.kdl");
        let messy = relayout(&lucia, &spaces, &[false]);
        prop_assert_eq!(formatted(&messy), Some(lucia));
    }

    #[test]
    fn added_comments_are_kept_and_meaning_is_unchanged(
        spaces in proptest::collection::vec(0u8..10, 1..40),
        comments_at in proptest::collection::vec(any::<bool>(), 1..20),
    ) {
        let lucia = read("lucia.kdl");
        let messy = relayout(&lucia, &spaces, &comments_at);
        let out = formatted(&messy).expect("parses");
        prop_assert_eq!(compiled(&out, None), compiled(&lucia, None));
    }
}

#[test]
fn check_exits_1_with_a_diff_and_fmt_writes() {
    let dir = project();
    let path = dir.path().join("profiles/prod.kdl");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("log-max-files 5", "log-max-files   5 ;"),
    )
    .expect("write");
    let out = run(luciac().current_dir(dir.path()).args(["fmt", "--check"]));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("-    log-max-files   5 ;") && stdout.contains("+    log-max-files 5"),
        "{stdout}"
    );
    let out = run(luciac().current_dir(dir.path()).arg("fmt"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    let out = run(luciac().current_dir(dir.path()).args(["fmt", "--check"]));
    assert_eq!(out.status.code(), Some(0));
    // A file that does not parse: the syntax error, exit 1, nothing written.
    std::fs::write(&path, "param \"x").expect("write");
    let out = run(luciac()
        .current_dir(dir.path())
        .args(["fmt", "profiles/prod.kdl"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0001"));
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "param \"x");
}
