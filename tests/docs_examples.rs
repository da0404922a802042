//! Every example in the repository's Markdown works as written: each fenced `kdl` block compiles
//! (as a whole declaration, or as a profile over the repository's `lucia.kdl`), a block marked
//! `// expect-error: E0035` fails with exactly that code, and each fenced `sh` / `bash` block
//! passes shellcheck. Also: the operator docs name only secrets, params and app keys that exist.
//!
//! Markers, on the leading comment lines of a `kdl` block:
//! - `// profile` or `// profile NAME` (or `// profiles/NAME.kdl`, naming the file): a profile.
//! - `// expect-error: CODE`: compiling must report CODE as an error, and no other error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use luciac::compile;
use luciac::diag::Diag;
use luciac::resolve::Strictness;

use common::{assert_clean, repo, repo_model, run, tool};

/// A fenced code block: where it is, its language and its text.
#[derive(Debug)]
struct Block {
    file: PathBuf,
    line: usize,
    lang: String,
    text: String,
}

impl Block {
    fn place(&self) -> String {
        let rel = self.file.strip_prefix(repo()).unwrap_or(&self.file);
        format!("{}:{}", rel.display(), self.line)
    }
}

/// Directories whose Markdown is not documentation of this repository.
const SKIP_DIRS: &[&str] = &["target", ".git", "node_modules"];

fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                let snapshots = p.ends_with("tests/snapshots");
                if !SKIP_DIRS.contains(&name.as_str()) && !snapshots {
                    walk(&p, out);
                }
            } else if name.ends_with(".md") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo(), &mut out);
    out
}

/// The fenced blocks of a Markdown text (``` or ~~~ fences, at most 3 spaces of indent).
fn blocks_of(file: &Path, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some((fence, lang, start, body)) = &mut open {
            if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence.as_str() {
                out.push(Block {
                    file: file.to_path_buf(),
                    line: *start,
                    lang: lang.clone(),
                    text: body.iter().map(|l| format!("{l}\n")).collect(),
                });
                open = None;
            } else {
                body.push(line);
            }
            continue;
        }
        if indent > 3 {
            continue;
        }
        for marker in ['`', '~'] {
            let n = trimmed.chars().take_while(|c| *c == marker).count();
            if n >= 3 {
                let fence: String = std::iter::repeat_n(marker, n).collect();
                let info = trimmed[n..].trim();
                let lang = info
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '{')
                    .next()
                    .unwrap_or("")
                    .to_string();
                open = Some((fence, lang, i + 1, Vec::new()));
                break;
            }
        }
    }
    assert!(
        open.is_none(),
        "{}: a fenced block is never closed",
        file.display()
    );
    out
}

fn all_blocks() -> Vec<Block> {
    let mut out = Vec::new();
    for f in markdown_files() {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        out.extend(blocks_of(&f, &text));
    }
    out
}

/// What the leading comment lines of a `kdl` block ask for.
#[derive(Debug, Default, PartialEq)]
struct Markers {
    profile: Option<String>,
    expect_error: Option<String>,
}

fn markers(text: &str) -> Markers {
    let mut m = Markers::default();
    for line in text.lines() {
        let line = line.trim();
        let Some(comment) = line.strip_prefix("//") else {
            break;
        };
        let comment = comment.trim();
        if let Some(code) = comment.strip_prefix("expect-error:") {
            m.expect_error = Some(code.trim().to_string());
        } else if comment == "profile" {
            m.profile = Some("example".to_string());
        } else if let Some(name) = comment.strip_prefix("profile ") {
            m.profile = Some(name.trim().to_string());
        } else if let Some(rest) = comment.strip_prefix("profiles/") {
            let name = rest.split(".kdl").next().unwrap_or("example");
            m.profile = Some(name.to_string());
        }
    }
    m
}

fn compile_block(text: &str, m: &Markers) -> (bool, Vec<Diag>) {
    let mut diags = Vec::new();
    let base = std::fs::read_to_string(repo().join("lucia.kdl")).unwrap_or_else(|e| panic!("{e}"));
    let (_, model) = match &m.profile {
        Some(name) => compile::compile_str(
            &base,
            Some((name.as_str(), text)),
            Strictness::default(),
            &mut diags,
        ),
        None => compile::compile_str(text, None, Strictness::default(), &mut diags),
    };
    // A declaration that compiles must also lower into every target's bundle.
    if let Some(model) = &model
        && !diags.iter().any(Diag::is_error)
    {
        let artifacts = luciac::targets::lower_all(model, &mut diags);
        assert!(!artifacts.is_empty(), "no artifacts");
    }
    (model.is_some(), diags)
}

fn codes(diags: &[Diag]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{} {}", d.code.id, d.message))
        .collect()
}

#[test]
fn the_block_extractor_and_markers_work() {
    let md = "# t\n\n```kdl\n// profile dev\nparam \"a\" default=1\n```\n\n  ```sh title\necho hi\n  ```\n````md\n```kdl\nnot a block\n```\n````\n";
    let b = blocks_of(Path::new("t.md"), md);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!((b[0].lang.as_str(), b[0].line), ("kdl", 3));
    assert_eq!(b[0].text, "// profile dev\nparam \"a\" default=1\n");
    assert_eq!(b[1].lang, "sh");
    assert_eq!(b[2].lang, "md");
    assert_eq!(
        markers("// profile\nx"),
        Markers {
            profile: Some("example".into()),
            expect_error: None
        }
    );
    assert_eq!(
        markers("// profiles/prod.kdl\n// expect-error: E0038\nx"),
        Markers {
            profile: Some("prod".into()),
            expect_error: Some("E0038".into())
        }
    );
    assert_eq!(markers("// lucia.kdl\nx // profile"), Markers::default());
}

#[test]
fn every_kdl_example_in_the_docs_compiles_or_fails_as_marked() {
    let blocks: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.lang == "kdl")
        .collect();
    // The docs this suite guards hold examples; an empty list means the extractor broke.
    assert!(blocks.len() >= 10, "only {} kdl blocks found", blocks.len());
    let mut failures = Vec::new();
    for b in &blocks {
        let m = markers(&b.text);
        let (built, diags) = compile_block(&b.text, &m);
        let errors = codes(&diags);
        match &m.expect_error {
            None => {
                if !built || !errors.is_empty() {
                    failures.push(format!(
                        "{} ({}): expected to compile, got errors:\n  {}",
                        b.place(),
                        if m.profile.is_some() {
                            "profile"
                        } else {
                            "declaration"
                        },
                        errors.join("\n  ")
                    ));
                }
            }
            Some(code) => {
                if errors.is_empty() || errors.iter().any(|e| !e.starts_with(&format!("{code} "))) {
                    failures.push(format!(
                        "{}: expected exactly error {code}, got:\n  {}",
                        b.place(),
                        if errors.is_empty() {
                            "no error".to_string()
                        } else {
                            errors.join("\n  ")
                        }
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_shell_example_in_the_docs_passes_shellcheck() {
    let shellcheck = tool("shellcheck");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, b) in all_blocks().iter().enumerate() {
        let shell = match b.lang.as_str() {
            "sh" => "sh",
            "bash" => "bash",
            _ => continue,
        };
        let f = dir.path().join(format!("block-{i}.{shell}"));
        std::fs::write(&f, &b.text).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(&shellcheck);
        cmd.args(["-s", shell]);
        // The bundles' README templates (`src/targets/`): their quick starts are typed at a
        // prompt, where a `cd` into the bundle just unpacked needs no `|| exit`.
        if b.file.starts_with(repo().join("src/targets")) {
            cmd.args(["-e", "SC2164"]);
        }
        let out = run(cmd.arg(&f));
        checked += 1;
        if !out.status.success() || !out.stderr.is_empty() {
            failures.push(format!(
                "{} (```{}):\n{}{}",
                b.place(),
                b.lang,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(checked >= 10, "only {checked} shell blocks found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The scripts the docs point at exist: the repository's validator, and the generated ones
    // of Lucia's prod bundle.
    for s in [
        "infra/scripts/validate-deployment.sh",
        "bundles/prod/scripts/health-check.sh",
        "bundles/prod/scripts/backup-config.sh",
    ] {
        assert_clean(
            s,
            &run(Command::new(&shellcheck)
                .args(["-s", "sh"])
                .arg(repo().join(s))),
        );
    }
}

/// The operator docs (infra/, README.md).
fn operator_docs() -> Vec<(PathBuf, String)> {
    markdown_files()
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(repo()).unwrap_or(f);
            (rel.starts_with("infra") && !rel.ends_with("configuration-reference.md"))
                || rel == Path::new("README.md")
        })
        .map(|f| {
            let t = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
            (f, t)
        })
        .collect()
}

/// Names following `prefix` in `text`: `[a-z0-9-]` runs.
fn names_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| !n.is_empty())
        .collect()
}

#[test]
fn the_operator_docs_name_only_secrets_params_and_keys_that_exist() {
    let model = repo_model(Some("prod"));
    let secrets: Vec<String> = model.secrets.iter().map(|s| s.name.clone()).collect();
    // Keys that appear in Lucia's own infrastructure but that nothing in the app reads.
    const DEAD_KEYS: &[&str] = &[
        "HomeAssistant__ApiEndpoint",
        "HomeAssistant__ApiToken",
        "Redis__Host",
        "Redis__Port",
        "Redis__ConnectionString",
        "OpenAI__ApiKey",
        "OpenAI__BaseUrl",
        "OpenAI__ModelId",
        "ConnectionStrings__embedding-model",
        "LUCIA_PORT",
        "HOMEASSISTANT_URL",
        "REDIS_CONNECTION_STRING",
        "/health/ready",
        "/health/live",
        "azureinference",
    ];
    let mut problems = Vec::new();
    let docs = operator_docs();
    assert!(docs.len() >= 5, "only {} operator docs found", docs.len());
    for (file, text) in &docs {
        let rel = file
            .strip_prefix(repo())
            .unwrap_or(file)
            .display()
            .to_string();
        for prefix in ["/etc/lucia/credentials/", "secrets/", "--from-literal="] {
            for name in names_after(text, prefix) {
                if !secrets.iter().any(|s| s == name) && name != "readme" {
                    problems.push(format!("{rel}: `{prefix}{name}` is not a declared secret"));
                }
            }
        }
        for key in DEAD_KEYS {
            if text.contains(key) {
                problems.push(format!("{rel}: names `{key}`, which Lucia does not read"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The lines of a YAML mapping file as (indent, key, rest of the line).
fn yaml_keys(text: &str) -> Vec<(usize, String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let t = l.trim_start();
            let (key, rest) = t.split_once(':')?;
            if key.starts_with('-') || key.contains(' ') {
                return None;
            }
            Some((l.len() - t.len(), key.to_string(), rest.trim().to_string()))
        })
        .collect()
}

/// Whether `path` (Helm `--set` syntax: `.` separates, `\.` is a literal dot) names a value of
/// the chart: every segment exists, or the walk reaches a free-form map (`{}`).
fn values_have(lines: &[(usize, String, String)], path: &str) -> bool {
    let mut segments = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                cur.push('.');
                chars.next();
            }
            '.' => segments.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    segments.push(cur);
    let (mut lo, mut hi, mut indent) = (0, lines.len(), 0);
    for seg in &segments {
        let Some(i) = (lo..hi).find(|&i| lines[i].0 == indent && lines[i].1 == *seg) else {
            return false;
        };
        if lines[i].2 == "{}" {
            return true;
        }
        lo = i + 1;
        hi = (lo..hi).find(|&j| lines[j].0 <= indent).unwrap_or(hi);
        match lines.get(lo) {
            Some(next) if lo < hi => indent = next.0,
            _ => return seg == segments.last().unwrap_or(seg),
        }
    }
    true
}

#[test]
fn every_helm_value_the_operator_docs_set_exists_in_the_chart() {
    let tgz = std::fs::read(repo().join("bundles/prod/lucia-1.2.3.tgz"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, tree) = luciac::pack::untar_gz(&tgz).unwrap_or_else(|e| panic!("{e}"));
    let values = tree
        .iter()
        .find(|(p, _)| p.as_str() == "values.yaml" || p.ends_with("/values.yaml"))
        .map(|(_, f)| String::from_utf8_lossy(&f.bytes).into_owned())
        .unwrap_or_else(|| panic!("no values.yaml in the chart"));
    let lines = yaml_keys(&values);
    assert!(values_have(&lines, "secrets.existingSecret"));
    assert!(values_have(
        &lines,
        "ingress.annotations.cert-manager\\.io/cluster-issuer"
    ));
    assert!(!values_have(&lines, "secrets.existing"));
    assert!(!values_have(&lines, "mongo.persistence.data.size.extra"));
    let mut problems = Vec::new();
    let mut seen = 0;
    for (file, text) in operator_docs() {
        let rel = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        for flag in ["--set ", "--set-string ", "--set=", "--set-string="] {
            for (i, _) in text.match_indices(flag) {
                let rest = text[i + flag.len()..].trim_start_matches('\'');
                let Some(end) = rest.find('=') else { continue };
                let key = &rest[..end];
                if key.is_empty() || key.contains(char::is_whitespace) || key.contains('…') {
                    continue;
                }
                seen += 1;
                if !values_have(&lines, key) {
                    problems.push(format!("{rel}: `{flag}{key}=` is not a value of the chart"));
                }
            }
        }
    }
    assert!(seen >= 5, "only {seen} --set flags found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_bundle_file_the_operator_docs_name_exists() {
    let mut problems = Vec::new();
    let mut seen = 0;
    // The guides under infra/ (README.md also names bundles/base/, which only a build makes).
    for (file, text) in operator_docs() {
        let rel = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        if !rel.starts_with("infra") {
            continue;
        }
        for (i, _) in text.match_indices("bundles/") {
            // `/path/to/bundles/…` is a placeholder, `xbundles/` another word.
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c == '/' || c.is_alphanumeric()) {
                continue;
            }
            let rest = &text[i..];
            let end = rest
                .find(|c: char| c.is_whitespace() || "`'\")],;".contains(c))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches(['.', ':']);
            if path.contains('<') || path == "bundles/" {
                continue;
            }
            seen += 1;
            if !repo().join(path).exists() {
                problems.push(format!("{rel}: `{path}` does not exist"));
            }
        }
    }
    assert!(seen >= 10, "only {seen} bundle paths found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut in_fence = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_operator_docs_resolves() {
    assert_eq!(
        anchors("# T\n```sh\n# not a heading\n```\n## Quick start: `Helm` (k3s)\n"),
        ["t", "quick-start-helm-k3s"]
    );
    let mut problems = Vec::new();
    let mut seen = 0;
    for (file, text) in operator_docs() {
        let rel = file
            .strip_prefix(repo())
            .unwrap_or(&file)
            .display()
            .to_string();
        let dir = file.parent().unwrap_or(Path::new("."));
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            seen += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let dest = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !dest.exists() {
                problems.push(format!("{rel}: link `{target}`: no such file"));
                continue;
            }
            if !anchor.is_empty() {
                let t = std::fs::read_to_string(&dest).unwrap_or_default();
                if !anchors(&t).iter().any(|a| a == anchor) {
                    problems.push(format!("{rel}: link `{target}`: no such heading"));
                }
            }
        }
    }
    assert!(seen >= 10, "only {seen} relative links found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
