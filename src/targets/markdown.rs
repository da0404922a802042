//! Markdown for the bundle READMEs: one table writer and the tables several targets share, so
//! a declared description can never break a table (a `|` or a line break in it) and the same
//! facts read the same in every README.

use crate::model::{Model, ParamInfo, ParamKind, SecretInfo};

/// A table: the header and its separator, then one line per row.
pub struct Table {
    out: String,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        let mut out = format!("| {} |\n|", headers.join(" | "));
        for _ in headers {
            out.push_str("---|");
        }
        out.push('\n');
        Table { out }
    }

    /// One row of cells written as Markdown (code spans, links): declared text goes through
    /// [`cell`] first.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let cells: Vec<&str> = cells.iter().map(AsRef::as_ref).collect();
        self.out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Declared text in a cell: `|` escaped, line breaks as spaces.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `` `a`, `b` ``: names as code, comma-separated.
pub fn code_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|i| format!("`{}`", i.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The constraints of a secret, or `-`.
pub fn constraints(s: &SecretInfo) -> String {
    let cons = secret_constraints(s);
    if cons.is_empty() {
        "-".into()
    } else {
        cons.join(", ")
    }
}

/// `| Secret key | Env key | Required |`: how each secret reaches the app on Kubernetes (the
/// Helm chart's and the Kustomize overlay's READMEs).
pub fn secret_keys(model: &Model) -> String {
    let mut t = Table::new(&["Secret key", "Env key", "Required"]);
    for s in &model.secrets {
        t.row(&[
            format!("`{}`", s.name),
            code_list(&s.keys),
            (if s.optional { "no" } else { "yes" }).to_string(),
        ]);
    }
    t.finish()
}

/// A param's type as the READMEs show it (`enum: a, b`).
pub fn param_type(p: &ParamInfo) -> String {
    let mut kind = kind_text(p);
    if !p.one_of.is_empty() {
        kind.push_str(&format!(": {}", p.one_of.join(", ")));
    }
    kind
}

/// A secret's constraints for a README table: "at least 32 characters, starts with `lk_`".
pub fn secret_constraints(s: &SecretInfo) -> Vec<String> {
    let mut cons = Vec::new();
    if let Some(m) = s.min_length {
        cons.push(format!("at least {m} characters"));
    }
    if let Some(p) = &s.prefix {
        cons.push(format!("starts with `{p}`"));
    }
    cons
}

/// A param's type and its choices, for the comment above it in an env file:
/// "enum; one of: debug, info".
pub fn kind_and_choices(p: &ParamInfo) -> String {
    let mut kind = kind_text(p);
    if !p.one_of.is_empty() {
        kind.push_str(&format!("; one of: {}", p.one_of.join(", ")));
    }
    kind
}

/// A param's type for READMEs and references: "integer 1..10", "URL", "port"…
pub fn kind_text(p: &ParamInfo) -> String {
    match p.kind {
        ParamKind::String => "string".into(),
        ParamKind::Url => "URL".into(),
        ParamKind::Int { min, max } => match (min, max) {
            (Some(a), Some(b)) => format!("integer {a}..{b}"),
            (Some(a), None) => format!("integer >= {a}"),
            (None, Some(b)) => format!("integer <= {b}"),
            (None, None) => "integer".into(),
        },
        ParamKind::Port => "port".into(),
        ParamKind::Bool => "true or false".into(),
        ParamKind::Enum => "enum".into(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_pipe_or_line_break_stays_in_its_cell() {
        let mut t = Table::new(&["A", "B"]);
        t.row(&[cell("x|y"), cell("one\ntwo")]);
        assert_eq!(t.finish(), "| A | B |\n|---|---|\n| x\\|y | one two |\n");
    }
}
