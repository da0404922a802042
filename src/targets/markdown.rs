//! Markdown for the bundle READMEs: one table writer and the tables several targets share, so
//! a declared description can never break a table (a `|` or a line break in it) and the same
//! facts read the same in every README.

use crate::model::{Model, ParamInfo, SecretInfo};

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
    let cons = crate::targets::secret_constraints(s);
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
    let mut kind = crate::targets::kind_text(p);
    if !p.one_of.is_empty() {
        kind.push_str(&format!(": {}", p.one_of.join(", ")));
    }
    kind
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
