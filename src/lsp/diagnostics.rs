//! Diagnostics: the same pipeline as `luciac check`, on the editor's text, and the
//! did-you-mean quick fixes that come with them.
//!
//! The base is checked alone; each profile is checked overlaid on the base, and keeps only the
//! diagnostics whose primary span is in the profile (the base's own problems are shown on the
//! base). Labels elsewhere become related information, so "first defined here" in `lucia.kdl`
//! is one click away from an error in `profiles/prod.kdl`.

use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Diagnostic, DiagnosticRelatedInformation,
    DiagnosticSeverity, Location, NumberOrString, Range, TextEdit, Uri, WorkspaceEdit,
};
use serde::{Deserialize, Serialize};

use super::world::{File, Project};
use crate::compile::{self, Input};
use crate::diag::{Diag, Severity};
use crate::model::Model;
use crate::resolve::Strictness;
use crate::source::Sources;

/// Everything one check of a file found, for that file.
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    /// The compiled model, when there was no error (hover uses it).
    pub model: Option<Model>,
}

/// Compile `project.files[idx]` (the base alone, or a profile on the base) as `luciac check`
/// does, lowering included, so target-level errors show up too.
pub fn check(project: &Project, idx: usize) -> Checked {
    let Some(file) = project.files.get(idx) else {
        return Checked {
            diagnostics: vec![],
            model: None,
        };
    };
    let (diags, model) = compile_file(project, idx);
    let failed = diags.iter().any(Diag::is_error);
    // Sources hold the base as file 0 and the profile, if any, as file 1.
    let own_id = usize::from(idx > 0);
    let file_of = |id: usize| if id == 0 { 0 } else { idx };
    let mut diagnostics = Vec::new();
    if idx == 0 {
        for d in &diags {
            diagnostics.push(to_lsp(d, None, file, project, &file_of));
        }
    } else {
        // A profile shows what involves it: a diagnostic with a label in it (at that label,
        // e.g. a host port the base publishes too), or one that the base alone does not have
        // (e.g. the profile removed a param the base uses: at the top of the profile).
        let (base_diags, _) = compile_file(project, 0);
        for d in &diags {
            let own = d.labels.iter().position(|l| l.span.file == own_id);
            let base_has = base_diags
                .iter()
                .any(|b| b.code == d.code && b.message == d.message);
            if own.is_some() || !base_has {
                diagnostics.push(to_lsp(d, Some(own), file, project, &file_of));
            }
        }
    }
    Checked {
        diagnostics,
        model: if failed { None } else { model },
    }
}

/// Run the pipeline on the base and, for `idx > 0`, that profile.
fn compile_file(project: &Project, idx: usize) -> (Vec<Diag>, Option<Model>) {
    let mut sources = Sources::default();
    let base = project.base();
    let base_id = sources.add_shown(
        base.logical.clone(),
        base.path.display().to_string(),
        base.text.clone(),
    );
    let profile = project.files.get(idx).and_then(|f| {
        let name = f.profile.clone()?;
        let id = sources.add_shown(
            f.logical.clone(),
            f.path.display().to_string(),
            f.text.clone(),
        );
        Some((name, id))
    });
    let input = Input {
        sources,
        base: base_id,
        profile,
        // The editor sees the same pins as `build`; an unreadable lock pins nothing here.
        lock: crate::lock::file::read(&base.path).ok().flatten(),
    };
    let mut diags = Vec::new();
    let strict = Strictness::default();
    let model = compile::compile(&input, strict, &mut diags);
    // As `luciac build`: the base must be valid on its own, and the shared artifacts are
    // lowered from its model, never from the profile's.
    let base_model = compile::compile_base(&input, &mut diags);
    match (&model, &input.profile, &base_model) {
        (Some(m), None, _) => {
            crate::targets::lower_all(m, &mut diags);
        }
        (Some(m), Some(_), Some(b)) => {
            crate::targets::lower(
                crate::targets::Models {
                    base: b,
                    profile: m,
                    shared: None,
                },
                &mut diags,
            );
        }
        _ => {}
    }
    (diags, model)
}

/// What a quick fix needs, carried in the diagnostic's `data` so that `codeAction` needs no
/// second compilation.
#[derive(Debug, Serialize, Deserialize)]
struct Fix {
    title: String,
    range: Range,
    new_text: String,
}

/// `primary`: `None` to use the first label (a diagnostic of the file itself); `Some(i)` for
/// a profile's view, where label `i` is the profile's and `Some(None)` means none is (the
/// diagnostic then sits at the top of the file and every label is related information).
fn to_lsp(
    d: &Diag,
    primary: Option<Option<usize>>,
    file: &File,
    project: &Project,
    file_of: &dyn Fn(usize) -> usize,
) -> Diagnostic {
    let primary_index = primary.unwrap_or(Some(0));
    let primary = primary_index.and_then(|i| d.labels.get(i));
    let range = primary.map_or_else(Range::default, |l| {
        file.range(l.span.offset, l.span.offset + l.span.len)
    });
    let mut message = d.message.clone();
    if let Some(l) = primary
        && !l.text.is_empty()
    {
        message = format!("{message}: {}", l.text);
    }
    if let Some(h) = &d.help {
        message = format!("{message}\nhelp: {h}");
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != primary_index)
        .filter_map(|(_, l)| {
            let f = project.files.get(file_of(l.span.file))?;
            Some(DiagnosticRelatedInformation {
                location: Location::new(
                    f.uri()?,
                    f.range(l.span.offset, l.span.offset + l.span.len),
                ),
                message: if l.text.is_empty() {
                    "here".into()
                } else {
                    l.text.clone()
                },
            })
        })
        .collect();
    let fix = primary.and_then(|l| did_you_mean_fix(d, file, l.span.offset, l.span.len));
    Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.id.to_string())),
        source: Some("luciac".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        data: fix.and_then(|f| serde_json::to_value(f).ok()),
        ..Diagnostic::default()
    }
}

/// `did you mean `x`?` in the help, applied to the misspelt name inside the primary span. The
/// misspelt name is the message's first backticked word that occurs as a whole word in the
/// span ("`app` has no property `versoin`" has its span on `versoin=…`).
fn did_you_mean_fix(d: &Diag, file: &File, offset: usize, len: usize) -> Option<Fix> {
    let help = d.help.as_deref()?;
    let suggestion = help.split("did you mean `").nth(1)?.split('`').next()?;
    let span_text = file.text.get(offset..offset + len)?;
    let candidates = d.message.split('`').skip(1).step_by(2);
    for word in candidates {
        if word.is_empty() || word == suggestion {
            continue;
        }
        let is_name = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
        let found = span_text.match_indices(word).find(|(i, _)| {
            let before = span_text[..*i].chars().next_back();
            let after = span_text[i + word.len()..].chars().next();
            !before.is_some_and(is_name) && !after.is_some_and(is_name)
        });
        if let Some((i, _)) = found {
            let start = offset + i;
            return Some(Fix {
                title: format!("Replace `{word}` with `{suggestion}`"),
                range: file.range(start, start + word.len()),
                new_text: suggestion.to_string(),
            });
        }
    }
    None
}

/// Quick fixes for the diagnostics the client sends back with `textDocument/codeAction`.
// `WorkspaceEdit::changes` is keyed by `Uri`, whose cached parse trips this lint; the
// key is never mutated.
#[allow(clippy::mutable_key_type)]
pub fn code_actions(uri: &Uri, diagnostics: &[Diagnostic]) -> Vec<CodeActionOrCommand> {
    diagnostics
        .iter()
        .filter_map(|d| {
            let fix: Fix = serde_json::from_value(d.data.clone()?).ok()?;
            let edit = WorkspaceEdit {
                changes: Some(
                    [(uri.clone(), vec![TextEdit::new(fix.range, fix.new_text)])]
                        .into_iter()
                        .collect(),
                ),
                ..WorkspaceEdit::default()
            };
            Some(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(edit),
                is_preferred: Some(true),
                ..CodeAction::default()
            }))
        })
        .collect()
}
