//! Stage 5: one pure function per target, model → artifacts (virtual file trees).
//!
//! A target never touches the disk and never sees KDL; a construct it cannot express is a
//! diagnostic that points at the model's source span.

pub mod compose;
pub mod helm;
pub mod k8s;
pub mod kustomize;
pub mod markdown;
pub mod privileges;
pub mod scripts;
pub mod systemd;
pub mod text;
pub mod workflow;

use crate::diag::Diag;
use crate::model::Model;
use crate::pack::{FileTree, Order};

/// How an artifact lands in the bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One reproducible `.tar.gz` whose entries sit under `top/`.
    TarGz { top: String, order: Order },
    /// Plain files under `path/` in the bundle directory (GitOps controllers read directories).
    Files,
}

/// One output of a target: a tarball or a set of plain files.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub target: &'static str,
    /// File name of the archive, or the directory the files go in ("" = the bundle root).
    pub path: String,
    pub layout: Layout,
    pub tree: FileTree,
}

/// Lower the model to every enabled target, with the model as its own base.
pub fn lower_all(model: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    lower_all_with_base(model, model, diags)
}

/// Lower a profile's model to every enabled target. `base` is the model of the declaration
/// without the profile (the same as `model` when building without one): targets whose
/// format separates a base from per-profile changes (Kustomize) use it.
pub fn lower_all_with_base(model: &Model, base: &Model, diags: &mut Vec<Diag>) -> Vec<Artifact> {
    let mut out = Vec::new();
    if model.targets.compose.enabled {
        out.extend(compose::lower(model, diags));
    }
    if model.targets.helm.enabled {
        out.extend(helm::lower_with_base(base, model, diags));
    }
    if model.targets.kustomize.enabled {
        out.extend(kustomize::lower_with_base(base, model, diags));
    }
    if model.targets.systemd.enabled {
        out.extend(systemd::lower(model, diags));
    }
    if !out.is_empty() {
        out.push(scripts::lower(model));
    }
    // Last: the GitOps workflow checks whatever the other targets produced.
    if let Some(w) = workflow::lower(model, &out) {
        out.push(w);
    }
    out
}

/// Shell-quote for POSIX sh: single quotes, with `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Human size: `512Mi` style, exact, for READMEs and Compose.
pub fn bytes_text(b: u64, units: [&str; 3]) -> String {
    if b.is_multiple_of(1 << 30) {
        format!("{}{}", b >> 30, units[2])
    } else if b.is_multiple_of(1 << 20) {
        format!("{}{}", b >> 20, units[1])
    } else if b.is_multiple_of(1 << 10) {
        format!("{}{}", b >> 10, units[0])
    } else {
        format!("{b}")
    }
}

/// Millicores as decimal cores: 250 → "0.25", 1000 → "1".
pub fn cores_text(millis: u64) -> String {
    let whole = millis / 1000;
    let frac = millis % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// A secret's constraints for a README table: "at least 32 characters, starts with `lk_`".
pub fn secret_constraints(s: &crate::model::SecretInfo) -> Vec<String> {
    let mut cons = Vec::new();
    if let Some(m) = s.min_length {
        cons.push(format!("at least {m} characters"));
    }
    if let Some(p) = &s.prefix {
        cons.push(format!("starts with `{p}`"));
    }
    cons
}

/// A param's type for READMEs and references: "integer 1..10", "URL", "port"…
pub fn kind_text(p: &crate::model::ParamInfo) -> String {
    match p.kind {
        crate::model::ParamKind::String => "string".into(),
        crate::model::ParamKind::Url => "URL".into(),
        crate::model::ParamKind::Int { min, max } => match (min, max) {
            (Some(a), Some(b)) => format!("integer {a}..{b}"),
            (Some(a), None) => format!("integer >= {a}"),
            (None, Some(b)) => format!("integer <= {b}"),
            (None, None) => "integer".into(),
        },
        crate::model::ParamKind::Port => "port".into(),
        crate::model::ParamKind::Bool => "true or false".into(),
        crate::model::ParamKind::Enum => "enum".into(),
    }
}

/// Text safe inside a Markdown table cell.
pub use markdown::cell as md_cell;

/// The services' `notes` for one target's README: a `## Notes` section with one heading per
/// service that has any, or nothing. The text is the declaration's Markdown, as written.
pub fn notes_section(model: &Model, target: &str) -> String {
    let mut out = String::new();
    for s in &model.services {
        let notes = s.notes_for(target);
        if notes.is_empty() {
            continue;
        }
        if out.is_empty() {
            out.push_str("## Notes\n\n");
        }
        out.push_str(&format!("### `{}`\n\n", s.name));
        for n in notes {
            out.push_str(n);
            out.push_str("\n\n");
        }
    }
    // One newline at the end, as every generated text file has.
    out.truncate(out.trim_end().len());
    if !out.is_empty() {
        out.push('\n');
    }
    out
}
