//! Rules of ARCHITECTURE.md that a test can check, in the spirit of rust-analyzer's tidy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Emitters return file trees: they never touch the disk, never see KDL or the undecoded
/// declaration; only the model.
#[test]
fn targets_see_only_the_model() {
    let mut rs = Vec::new();
    files(&repo().join("src/targets"), "rs", &mut rs);
    assert!(!rs.is_empty());
    let forbidden = [
        "std::fs",
        "crate::decl",
        "crate::decode",
        "crate::parse",
        "crate::compile",
    ];
    let mut found = Vec::new();
    for p in &rs {
        for (n, line) in read(p).lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for f in forbidden {
                if code.contains(f) {
                    found.push(format!(
                        "{}:{}: {f}",
                        p.strip_prefix(repo()).unwrap_or(p).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "targets reach past the model:\n{}",
        found.join("\n")
    );
}

/// The Kubernetes objects both targets deploy are built once, in `k8s/objects.rs`: no other
/// source names their kinds, as data or as template text.
#[test]
fn kubernetes_objects_are_built_in_one_place() {
    let mut rs = Vec::new();
    files(&repo().join("src"), "rs", &mut rs);
    files(&repo().join("src"), "yaml", &mut rs);
    let builder = repo().join("src/targets/k8s/objects.rs");
    let kinds = [
        "Deployment",
        "Service",
        "ConfigMap",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Ingress",
    ];
    let mut found = Vec::new();
    for p in rs.iter().filter(|p| **p != builder) {
        let text = read(p);
        for k in kinds {
            for pattern in [
                format!("kind: {k}\\n"),
                format!(", \"{k}\","),
                format!("\"{k}\")"),
            ] {
                if text.contains(&pattern)
                    && !(k == "ConfigMap" && p.ends_with("kustomize/docs.rs"))
                {
                    found.push(format!("{}: {pattern}", p.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "objects built outside k8s/objects.rs:\n{}",
        found.join("\n")
    );
    assert!(read(&builder).contains("\"Deployment\""));
}

/// Every test file and test directory is named in ARCHITECTURE.md, so a newcomer finds it.
#[test]
fn every_test_file_is_in_the_architecture() {
    let arch = read(&repo().join("ARCHITECTURE.md"));
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repo().join("tests")).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let named = if path.is_dir() {
            // Support directories: snapshots, the corpus, shared helpers.
            matches!(name.as_str(), "snapshots" | "common") || arch.contains(&format!("`{name}/`"))
        } else {
            !name.ends_with(".rs") || arch.contains(&format!("`{name}`"))
        };
        if !named {
            missing.push(name);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "not named in ARCHITECTURE.md: {missing:?}"
    );
}

/// A repository path cited in backticks in the docs, or in a `//!`/`///` comment, exists.
#[test]
fn every_cited_path_exists() {
    // Not bundles/: the docs name output paths (bundles/base/) that exist only after a build.
    let roots = [
        "src/",
        "tests/",
        "scripts/",
        "docs/",
        "infra/",
        "benches/",
        "profiles/",
    ];
    let mut sources = vec![
        repo().join("ARCHITECTURE.md"),
        repo().join("README.md"),
        repo().join("BENCHMARKS.md"),
    ];
    files(&repo().join("docs"), "md", &mut sources);
    let mut rs = Vec::new();
    files(&repo().join("src"), "rs", &mut rs);
    files(&repo().join("tests"), "rs", &mut rs);
    let mut broken = Vec::new();
    for p in sources.iter().chain(&rs) {
        let text = read(p);
        let is_rs = p.extension().is_some_and(|e| e == "rs");
        for (n, line) in text.lines().enumerate() {
            if is_rs && !line.trim_start().starts_with("//") {
                continue;
            }
            for (i, cited) in line.split('`').enumerate() {
                if i % 2 == 0 || cited.contains(['*', '<', '{', ' ', '$', '…']) {
                    continue;
                }
                let cited = cited.trim_end_matches([':', ',']);
                // A placeholder (profiles/NAME.kdl) is not a path.
                let placeholder = cited
                    .split(['/', '.', '-'])
                    .any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase()));
                if !roots.iter().any(|r| cited.starts_with(r)) || placeholder {
                    continue;
                }
                if !repo().join(cited).exists() {
                    broken.push(format!(
                        "{}:{}: {cited}",
                        p.strip_prefix(repo()).unwrap_or(p).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "cited paths that do not exist:\n{}",
        broken.join("\n")
    );
}

/// The longest a function in `src/` may be, in lines from `fn` to its closing brace: about
/// three screens. Every stage and target splits at its comment headers well before that; a
/// function past it mixes concerns (the reviewer flagged 300-line functions for that reason).
const MAX_FN_LINES: usize = 150;

/// Functions and their length: from a line starting (after indentation and `pub`) with `fn`
/// to the first later line that is a `}` at the same indentation.
fn function_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let rest = line.trim_start();
        let rest = rest
            .strip_prefix("pub(super) ")
            .or_else(|| rest.strip_prefix("pub(crate) "))
            .or_else(|| rest.strip_prefix("pub "))
            .unwrap_or(rest);
        let rest = rest.strip_prefix("const ").unwrap_or(rest);
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        if line.trim_end().ends_with(';') {
            continue;
        }
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = " ".repeat(indent) + "}";
        let end = lines[i + 1..]
            .iter()
            .position(|l| l.starts_with(&close) && l.len() - l.trim_start().len() == indent)
            .map_or(lines.len(), |p| i + 1 + p);
        out.push((name, i + 1, end - i + 1));
    }
    out
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let mut rs = Vec::new();
    files(&repo().join("src"), "rs", &mut rs);
    let mut long = Vec::new();
    for p in rs {
        for (name, line, len) in function_lengths(&read(&p)) {
            if len > MAX_FN_LINES {
                let rel = p.strip_prefix(repo()).unwrap_or(&p).display().to_string();
                long.push(format!("{rel}:{line} `{name}` is {len} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {MAX_FN_LINES} lines (split them at their headers):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_rule_measures_what_it_says() {
    let text =
        "fn a() {\n    x\n}\n    pub(super) fn b(\n        y: u8,\n    ) {\n    }\nfn c();\n";
    assert_eq!(
        function_lengths(text),
        vec![("a".to_string(), 1, 3), ("b".to_string(), 4, 4)]
    );
}

/// Lines (1-based) of a source file that import with a glob, up to its `#[cfg(test)]` line:
/// a test module sits at the end of each file and may `use super::*`, as Rust's convention has
/// it; everything before it names what it imports. Also the `#[cfg(test)]` lines that do not
/// open `mod tests`, where stopping the scan would skip code.
fn glob_imports(text: &str) -> (Vec<usize>, Vec<usize>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut globs = Vec::new();
    let mut not_tests = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim() == "#[cfg(test)]" {
            if lines.get(n + 1).map(|l| l.trim()) != Some("mod tests {") {
                not_tests.push(n + 1);
            }
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        let is_use = code.split_whitespace().any(|w| w == "use");
        if code.contains("use super::*") || (is_use && code.contains("::*")) {
            globs.push(n + 1);
        }
    }
    (globs, not_tests)
}

/// Outside tests, a module names each item it imports (`use crate::model::{Model, Part}`), from
/// its real home rather than through a parent's imports, so a reader sees where a name comes
/// from and an unused import is reported.
#[test]
fn no_glob_imports_outside_tests() {
    let mut rs = Vec::new();
    files(&repo().join("src"), "rs", &mut rs);
    assert!(!rs.is_empty());
    let mut found = Vec::new();
    for p in &rs {
        let text = read(p);
        let rel = p.strip_prefix(repo()).unwrap_or(p).display().to_string();
        let (globs, not_tests) = glob_imports(&text);
        for n in globs {
            let line = text.lines().nth(n - 1).unwrap_or_default().trim();
            found.push(format!("{rel}:{n}: {line}"));
        }
        for n in not_tests {
            found.push(format!(
                "{rel}:{n}: #[cfg(test)] that does not open `mod tests` (the scan stops there)"
            ));
        }
    }
    assert!(
        found.is_empty(),
        "glob imports outside tests (name the items):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_glob_rule_sees_what_it_says() {
    let text = "use super::*;\nuse crate::model::{Model, Part};\npub use a::b::*;\n\
                // use x::*;\nlet y = 2 * 3; // a::*;\n#[cfg(test)]\nmod tests {\n    \
                use super::*;\n}\n";
    assert_eq!(glob_imports(text), (vec![1, 3], vec![]));
    assert_eq!(
        glob_imports("fn a() {}\n#[cfg(test)]\nfn helper() {}\nuse b::*;\n"),
        (vec![], vec![2])
    );
}
