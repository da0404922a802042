//! The corpus of broken declarations under `tests/corpus/`: each file is compiled with the
//! real binary, its rendered report is snapshot-tested, and the code in its file name must be
//! reported. A line `// === profile NAME ===` splits a file into the base declaration and a
//! profile (`(does not exist)` in that line asks for a profile that is not there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{luciac, run};

struct Case {
    name: String,
    base: String,
    profile: Option<(String, Option<String>)>,
}

fn load(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    match text.find("// === profile ") {
        None => Case {
            name,
            base: text,
            profile: None,
        },
        Some(i) => {
            let (base, rest) = text.split_at(i);
            let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
            let pname = header
                .trim_start_matches("// === profile ")
                .split_whitespace()
                .next()
                .unwrap_or("x")
                .to_string();
            let body = if header.contains("(does not exist)") {
                None
            } else {
                Some(body.to_string())
            };
            Case {
                name,
                base: base.to_string(),
                profile: Some((pname, body)),
            }
        }
    }
}

fn check(case: &Case, json: bool) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("lucia.kdl"), &case.base).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = luciac();
    cmd.current_dir(dir.path())
        .arg("check")
        .arg("--color")
        .arg("never");
    if json {
        cmd.args(["--message-format", "json"]);
    }
    if let Some((name, body)) = &case.profile {
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap_or_else(|e| panic!("{e}"));
        match body {
            Some(b) => std::fs::write(dir.path().join(format!("profiles/{name}.kdl")), b)
                .unwrap_or_else(|e| panic!("{e}")),
            None => {
                for existing in ["dev", "prod"] {
                    std::fs::write(dir.path().join(format!("profiles/{existing}.kdl")), "")
                        .unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
        cmd.args(["--profile", name]);
    }
    run(&mut cmd)
}

#[test]
fn corpus() {
    let dir = common::repo().join("tests/corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 30,
        "the corpus must hold at least 30 broken declarations, found {}",
        paths.len()
    );
    for path in paths {
        let case = load(&path);
        let code = case.name.split('-').next().unwrap_or("").to_uppercase();
        let out = check(&case, false);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let expect_error = code.starts_with('E');
        assert_eq!(
            out.status.code(),
            Some(if expect_error { 1 } else { 0 }),
            "{}: wrong exit code\n{stderr}",
            case.name
        );
        // Unpinned images are one summary line (`warning[W0050]: …`), not one report each.
        assert!(
            stderr.contains(&format!("luciac::{code}"))
                || (code == "W0050" && stderr.contains(&format!("warning[{code}]"))),
            "{}: expected {code}\n{stderr}",
            case.name
        );
        assert!(
            !stderr.contains("panicked"),
            "{}: panic\n{stderr}",
            case.name
        );
        // A secret value written into the declaration by mistake is never echoed back.
        assert!(
            !stderr.contains("hunter2"),
            "{}: secret value echoed\n{stderr}",
            case.name
        );
        insta::assert_snapshot!(case.name.clone(), stderr);

        // The same diagnostics as JSON lines: one message per line (docs/message-format.md),
        // each diagnostic with file, line and column, and `build-finished` last.
        let out = check(&case, true);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut codes = Vec::new();
        let last = stdout.lines().last().unwrap_or("");
        assert_eq!(
            last,
            format!(
                r#"{{"reason":"build-finished","success":{}}}"#,
                !expect_error
            ),
            "{}",
            case.name
        );
        for line in stdout.lines().filter(|l| *l != last) {
            let m: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad JSON line {line}: {e}", case.name));
            assert_eq!(m["reason"], "diagnostic", "{}: {line}", case.name);
            let v = &m["diagnostic"];
            codes.push(v["code"].as_str().unwrap_or("").to_string());
            if v["file"].is_string() {
                assert!(
                    v["line"].as_u64().unwrap_or(0) >= 1,
                    "{}: {line}",
                    case.name
                );
            }
        }
        assert!(
            codes.contains(&format!("luciac::{code}")),
            "{}: JSON lacks {code}: {stdout}",
            case.name
        );
        assert!(
            !stdout.contains("hunter2"),
            "{}: secret value echoed in JSON\n{stdout}",
            case.name
        );
        // The temporary directory differs per run; the rest of the JSON is snapshot-tested.
        insta::assert_snapshot!(format!("{}.json", case.name), stdout);
    }
}

/// Human output never carries a raw control or bidirectional character, whatever the input.
#[test]
fn snippets_escape_control_and_bidi_characters() {
    let case = load(&common::repo().join("tests/corpus/e0005-bidi-override.kdl"));
    for json in [false, true] {
        let out = check(&case, json);
        let text =
            String::from_utf8_lossy(if json { &out.stdout } else { &out.stderr }).to_string();
        assert!(
            !text.contains('\u{202E}'),
            "raw U+202E in the report:\n{text}"
        );
        assert!(text.contains("202E"), "{text}");
    }
}

#[test]
fn all_errors_of_a_run_are_reported_together() {
    let case = load(&common::repo().join("tests/corpus/e0033-unused-param-and-many-errors.kdl"));
    let out = check(&case, true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for code in ["E0033", "E0020", "E0021", "E0034", "W0041"] {
        assert!(
            stdout.contains(&format!("luciac::{code}")),
            "missing {code} in {stdout}"
        );
    }
}

#[test]
fn every_code_is_explained() {
    for c in luciac::diag::ALL_CODES {
        let out = run(luciac().args(["explain", c.id]));
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(c.id) && text.len() > 40, "{text}");
    }
    let out = run(luciac().args(["explain", "E9999"]));
    assert_eq!(out.status.code(), Some(2));
    // E0041 was renamed W0041 (it always was a warning); the old spelling still explains.
    let out = run(luciac().args(["explain", "E0041"]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("W0041"));
}

#[test]
fn every_code_is_documented() {
    let doc = std::fs::read_to_string(common::repo().join("docs/language.md")).unwrap_or_default();
    for c in luciac::diag::ALL_CODES {
        assert!(
            doc.contains(&format!("| {} | {} |", c.id, c.title.replace('|', "\\|"))),
            "docs/language.md lacks {}",
            c.id
        );
    }
}

/// Inputs that crashed luciac or one of its libraries (stack overflows in the recursive kdl
/// parser, a miette panic on very wide lines) or took minutes to report. Each must give a
/// diagnostic with exit 1, promptly, in both formats.
#[test]
fn hostile_inputs_get_diagnostics_not_crashes() {
    let cases: Vec<(&str, String)> = vec![
        (
            "2,000 levels on one line",
            format!(
                "app \"x\" version=\"1\" {{{}{}}}\n",
                "a {".repeat(2000),
                "}".repeat(2000)
            ),
        ),
        (
            "a chain of 100,000 slashdashes",
            format!("{}a\n", "/- ".repeat(100_000)),
        ),
        (
            "a 300,000-star comment",
            format!("/*{}*/\napp \"x\" version=\"1\"\n", "*".repeat(300_000)),
        ),
        (
            "5,000 nested comments",
            format!("{}{}\n", "/*".repeat(5000), "*/".repeat(5000)),
        ),
        (
            "a 400,000-byte line of errors (miette panicked past column 65535)",
            format!("{}\n", "a /-".repeat(100_000)),
        ),
        ("5,000 syntax errors", format!("a{}\n", ";".repeat(5_000))),
    ];
    for (what, text) in cases {
        let case = Case {
            name: what.to_string(),
            base: text,
            profile: None,
        };
        for json in [false, true] {
            let start = std::time::Instant::now();
            let out = check(&case, json);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            let report = if json {
                String::from_utf8_lossy(&out.stdout).to_string()
            } else {
                err.to_string()
            };
            assert!(report.contains("luciac::E00"), "{what}: {report}");
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "{what}: took {:?}",
                start.elapsed()
            );
        }
    }
}
