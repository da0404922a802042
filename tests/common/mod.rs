//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use luciac::compile;
use luciac::diag::Diag;
use luciac::model::Model;
use luciac::resolve::Strictness;
use luciac::targets::{self, Artifact};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A validator the test suite needs. Missing is a failure, never a skip: the README's test
/// command (scripts/test.sh) installs every one of them.
pub fn tool(name: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "validator `{name}` is not on PATH: run ./scripts/test.sh (it installs every validator) or put the cache's bin/ on PATH"
    );
}

/// Run a command and capture its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Assert success and an empty stderr (several validators exit 0 and only warn on stderr).
pub fn assert_clean(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.trim().is_empty(),
        "{what} printed on stderr:\n{stderr}"
    );
}

/// Compile the repository's own declaration with a profile (or the base alone).
pub fn repo_model(profile: Option<&str>) -> Model {
    let mut diags: Vec<Diag> = Vec::new();
    let input = compile::load(&repo().join("lucia.kdl"), profile, &mut diags)
        .unwrap_or_else(|| panic!("load failed: {diags:?}"));
    let model = compile::compile(&input, Strictness::default(), &mut diags);
    assert!(!diags.iter().any(Diag::is_error), "{diags:?}");
    model.unwrap_or_else(|| panic!("no model"))
}

/// Compile a declaration held in a string (and an optional profile).
pub fn model_from(base: &str, profile: Option<(&str, &str)>) -> (Model, Vec<Diag>) {
    let mut diags = Vec::new();
    let (_, model) = compile::compile_str(base, profile, Strictness::default(), &mut diags);
    let model = model.unwrap_or_else(|| panic!("declaration has errors: {diags:#?}"));
    (model, diags)
}

/// Lower a model and return the artifact of one target.
pub fn artifact(model: &Model, target: &str) -> Artifact {
    let mut diags = Vec::new();
    let all = targets::lower_all(model, &mut diags);
    assert!(!diags.iter().any(Diag::is_error), "{diags:?}");
    all.into_iter()
        .find(|a| a.target == target)
        .unwrap_or_else(|| panic!("no {target} artifact"))
}

/// Write an artifact's file tree into a fresh directory and return it.
pub fn materialize(a: &Artifact) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write_tree(dir.path(), &a.tree);
    dir
}

pub fn write_tree(dir: &Path, tree: &luciac::pack::FileTree) {
    for (path, f) in tree {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(&p, &f.bytes).unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = if f.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The luciac binary built for this test run.
pub fn luciac() -> Command {
    Command::new(env!("CARGO_BIN_EXE_luciac"))
}

/// A copy of the repository's declaration and profiles in a fresh directory.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (rel, text) in luciac::defaults::FILES {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(p, text).unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// A KDL string literal's body for `v` (quotes, backslashes and control characters escaped).
/// With `template`, braces are doubled too, as strings that may hold references need.
fn kdl_escape(v: &str, template: bool) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '{' if template => out.push_str("{{"),
            '}' if template => out.push_str("}}"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{200e}' | '\u{200f}'
                )
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// For env values, which may hold references: `{` and `}` are doubled.
pub fn kdl_literal(v: &str) -> String {
    kdl_escape(v, true)
}

/// For plain strings (param defaults): only KDL escaping.
pub fn kdl_plain(v: &str) -> String {
    kdl_escape(v, false)
}

/// Strings for the escaping property tests: mostly the characters generators get wrong
/// (quotes, backslashes, `$`, `%`, braces, `#`, YAML and shell specials, line breaks,
/// controls, bidi and other invisible characters, non-ASCII), some plain letters.
pub fn hostile_string() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let specials: Vec<char> =
        "$%{}'\"\\#:-&*!|>?@`~ =;,[]\t\n\r\u{1}\u{7f}\u{85}\u{a0}\u{2028}\u{202e}\u{feff}é日🚀"
            .chars()
            .collect();
    let one = prop_oneof![
        3 => proptest::sample::select(specials),
        2 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
    ];
    proptest::collection::vec(one, 0..12).prop_map(|v| v.into_iter().collect())
}

/// Compile and lower a declaration held in a string. `Err` with the errors when luciac
/// refuses it; every such error must point at the declaration.
pub fn lower_or_refuse(base: &str) -> Result<(Model, Vec<Artifact>), Vec<Diag>> {
    let mut diags = Vec::new();
    let (_, model) = compile::compile_str(base, None, Strictness::default(), &mut diags);
    let arts = model
        .as_ref()
        .map(|m| targets::lower_all(m, &mut diags))
        .unwrap_or_default();
    let errors: Vec<Diag> = diags.into_iter().filter(Diag::is_error).collect();
    if errors.is_empty()
        && let Some(m) = model
    {
        return Ok((m, arts));
    }
    for e in &errors {
        assert!(
            !e.labels.is_empty(),
            "a refusal without a location: {e:?}\n{base}"
        );
    }
    Err(errors)
}

/// The LSP position (line, UTF-16 column) of the first `needle` in `text`, `delta` bytes in.
pub fn lsp_position(text: &str, needle: &str, delta: usize) -> (usize, usize) {
    let off = text.find(needle).unwrap_or_else(|| panic!("no {needle:?}")) + delta;
    let line = text[..off].matches('\n').count();
    let col = text[..off]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.encode_utf16().count());
    (line, col)
}

/// A file of `tests/corpus/`: the base and, after a line `// === profile NAME ===`, the
/// profile's name and text (`None` when the line says `(does not exist)`).
pub fn corpus_parts(text: &str) -> (String, Option<(String, Option<String>)>) {
    let Some(i) = text.find("// === profile ") else {
        return (text.to_string(), None);
    };
    let (base, rest) = text.split_at(i);
    let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let name = header
        .trim_start_matches("// === profile ")
        .split_whitespace()
        .next()
        .unwrap_or("x")
        .to_string();
    let body = (!header.contains("(does not exist)")).then(|| body.to_string());
    (base.to_string(), Some((name, body)))
}

/// Run a validator with `input` on its stdin.
pub fn pipe(bin: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(tool(bin))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
}

/// kubernetes-validate --strict against the chart's minimum (`kubeVersion >=1.25`) and a
/// current Kubernetes: no error, nothing on stderr, no `WARN` (unknown kinds, removed APIs).
pub fn kube_validate(rendered: &str, what: &str) {
    for version in ["1.25", "1.30"] {
        let out = pipe(
            "kubernetes-validate",
            &["--strict", "-k", version, "-"],
            rendered,
        );
        assert_clean(
            &format!("kubernetes-validate --strict -k {version} ({what})"),
            &out,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("WARN"),
            "kubernetes-validate -k {version} ({what}):\n{stdout}"
        );
        assert!(
            stdout.matches("passed for resource").count() >= 3,
            "{stdout}"
        );
    }
}

/// checkov --framework FRAMEWORK over `dir` with `skips` skipped: (resources, passed),
/// asserting it scanned something, found nothing and exited 0.
pub fn checkov(framework: &str, dir: &Path, skips: &[&str], what: &str) -> (u64, u64) {
    let out = run(Command::new(tool("checkov")).arg("-d").arg(dir).args([
        "--framework",
        framework,
        "--skip-download",
        "-o",
        "json",
        "--skip-check",
        &skips.join(","),
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov output is not JSON ({e}):\n{stderr}"));
    let reports = match report {
        serde_json::Value::Array(v) => v,
        v => vec![v],
    };
    let mut resources = 0;
    let mut passed = 0;
    let mut failed = Vec::new();
    for r in &reports {
        resources += r["summary"]["resource_count"].as_u64().unwrap_or(0);
        passed += r["summary"]["passed"].as_u64().unwrap_or(0);
        for f in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            failed.push(format!(
                "{} {} {} {}",
                f["check_id"], f["resource"], f["file_path"], f["check_name"]
            ));
        }
    }
    eprintln!(
        "checkov ({what}): {resources} resources, {passed} passed, {} failed",
        failed.len()
    );
    assert!(
        resources > 0,
        "checkov scanned nothing ({what}); is helm or kubectl on PATH?\n{stderr}"
    );
    assert!(
        failed.is_empty(),
        "checkov failures ({what}):\n{}",
        failed.join("\n")
    );
    assert!(out.status.success(), "checkov rc {} ({what})", out.status);
    (resources, passed)
}

/// Words that belong to Lucia's stack, not to the compiler: no other stack's bundle may hold
/// them (the compiler's own name, `luciac`, aside).
pub const LUCIA_WORDS: &[&str] = &[
    "lucia",
    "Lucia",
    "ASP.NET",
    ".NET",
    "dotnet",
    "DataProtection",
    "7233",
];
