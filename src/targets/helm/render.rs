//! Chart templates from [`Yaml`] trees: the YAML emitter chooses every indentation, and the
//! template parts ([`Yaml::Expr`], [`Yaml::Splice`]) are put in afterwards at the columns it
//! chose, so no `nindent` is ever counted by hand.
//!
//! The tree is emitted with a token standing in for each template part, then the tokens are
//! replaced in one pass over the text. A token is `<prefix><n>x` with a prefix that no string
//! of the tree contains, so declared text can never be taken for a token; replacements are
//! never scanned again. Declared text never becomes template text either: a string holding a
//! `{` or `}` (or anything but printable ASCII) is written as a quoted Go literal (see
//! [`super::go_str`]).

use super::{go_str, yaml_safe};
use crate::yaml::{self, Yaml};

/// What a token stands for.
enum Slot {
    /// A scalar (or key) replaced in place.
    Expr(String),
    /// Lines under the key whose value this was, indented two more than the key.
    Value(String),
    /// Lines in place of a sequence item, at the item's dash.
    Item(String),
    /// Lines in place of a map entry, at the entry's key.
    Entry(String),
}

/// The template text of one tree: YAML with its template parts at the emitter's indentation.
pub(super) fn render(doc: &Yaml) -> String {
    let prefix = (0..)
        .map(|k| format!("luciac{k}t"))
        .find(|p| !holds(doc, p))
        .unwrap_or_default();
    let mut tokens = Tokens {
        prefix,
        slots: Vec::new(),
    };
    let plain = tokens.lower(doc);
    tokens.substitute(&yaml::to_string_indented_lists(&plain))
}

/// Whether any string or key of the tree contains `needle`.
fn holds(doc: &Yaml, needle: &str) -> bool {
    match doc {
        Yaml::Str(s) => s.contains(needle),
        Yaml::Seq(items) => items.iter().any(|i| holds(i, needle)),
        Yaml::Map(entries) => entries
            .iter()
            .any(|(k, v)| k.contains(needle) || holds(v, needle)),
        Yaml::Int(_) | Yaml::Bool(_) | Yaml::Expr(_) | Yaml::Splice(_) => false,
    }
}

/// Text written as a quoted Go literal instead of a YAML scalar: whatever [`yaml_safe`] refuses
/// (as for [`super::yq`]). Braces could start a template action; a line break would make a
/// literal block, whose final line breaks the next `{{-` would trim; other characters are
/// escaped once, by Go, not by two quoting rules.
fn needs_go_literal(s: &str) -> bool {
    !yaml_safe(s)
}

fn quoted_literal(s: &str) -> String {
    format!("{{{{ {} | quote }}}}", go_str(s))
}

struct Tokens {
    prefix: String,
    slots: Vec<Slot>,
}

impl Tokens {
    fn token(&mut self, slot: Slot) -> String {
        self.slots.push(slot);
        format!("{}{}x", self.prefix, self.slots.len() - 1)
    }

    /// The tree with every template part (and every string [`needs_go_literal`] picks)
    /// replaced by a token.
    fn lower(&mut self, doc: &Yaml) -> Yaml {
        match doc {
            Yaml::Str(s) if needs_go_literal(s) => {
                Yaml::Str(self.token(Slot::Expr(quoted_literal(s))))
            }
            Yaml::Expr(e) => Yaml::Str(self.token(Slot::Expr(e.clone()))),
            Yaml::Splice(lines) => Yaml::Str(self.token(Slot::Item(lines.clone()))),
            Yaml::Seq(items) => Yaml::Seq(items.iter().map(|i| self.lower(i)).collect()),
            Yaml::Map(entries) => Yaml::Map(
                entries
                    .iter()
                    .map(|(k, v)| match v {
                        Yaml::Splice(lines) if k.is_empty() => {
                            (self.token(Slot::Entry(lines.clone())), Yaml::Int(0))
                        }
                        Yaml::Splice(lines) => {
                            let key = self.key(k);
                            (key, Yaml::Str(self.token(Slot::Value(lines.clone()))))
                        }
                        _ => (self.key(k), self.lower(v)),
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn key(&mut self, k: &str) -> String {
        if needs_go_literal(k) {
            self.token(Slot::Expr(quoted_literal(k)))
        } else {
            k.to_string()
        }
    }

    /// The slot a token at the start of `text` stands for, and the token's length.
    fn at<'a>(&'a self, text: &str) -> Option<(&'a Slot, usize)> {
        let rest = text.strip_prefix(&self.prefix)?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if rest.as_bytes().get(digits) != Some(&b'x') {
            return None;
        }
        let n: usize = rest[..digits].parse().ok()?;
        Some((self.slots.get(n)?, self.prefix.len() + digits + 1))
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() * 2);
        for line in text.lines() {
            if !self.splice_line(line, &mut out) {
                self.inline(line, &mut out);
                out.push('\n');
            }
        }
        out
    }

    /// A line that is a spliced entry, item or value, replaced by its lines.
    fn splice_line(&self, line: &str, out: &mut String) -> bool {
        let body = line.trim_start_matches([' ', '-']);
        let start = line.len() - body.len();
        let indent = line.len() - line.trim_start().len();
        // `key: <token>`: the lines go under the key.
        if let Some((key, value)) = body.split_once(": ")
            && let Some((Slot::Value(lines), n)) = self.at(value)
            && n == value.len()
        {
            out.push_str(&line[..start]);
            self.inline(key, out);
            out.push_str(":\n");
            push_lines(out, lines, start + 2);
            return true;
        }
        match self.at(body) {
            Some((Slot::Item(lines), _)) if line[indent..].starts_with("- ") => {
                push_lines(out, lines, indent);
                true
            }
            Some((Slot::Entry(lines), _)) => {
                push_lines(out, lines, start);
                true
            }
            _ => false,
        }
    }

    /// `text` with its expression tokens replaced.
    fn inline(&self, text: &str, out: &mut String) {
        let mut rest = text;
        while let Some(i) = rest.find(&self.prefix) {
            out.push_str(&rest[..i]);
            match self.at(&rest[i..]) {
                Some((Slot::Expr(e), n)) => {
                    out.push_str(e);
                    rest = &rest[i + n..];
                }
                _ => {
                    out.push_str(&self.prefix);
                    rest = &rest[i + self.prefix.len()..];
                }
            }
        }
        out.push_str(rest);
    }
}

/// Template lines at column `indent`, `@INDENT@` in them being that column.
fn push_lines(out: &mut String, lines: &str, indent: usize) {
    let pad = " ".repeat(indent);
    let column = indent.to_string();
    for l in lines.lines() {
        out.push_str(&pad);
        out.push_str(&l.replace("@INDENT@", &column));
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parts_land_at_the_emitters_columns() {
        let doc = Yaml::map()
            .with(
                "metadata",
                Yaml::map()
                    .with("name", Yaml::Expr("{{ include \"n.name\" . }}".into()))
                    .with(
                        "labels",
                        Yaml::Splice("{{- include \"n.labels\" . | nindent @INDENT@ }}".into()),
                    ),
            )
            .with(
                "spec",
                Yaml::map()
                    .splice_entry("{{- if .Values.on }}")
                    .with(
                        "ports",
                        Yaml::Seq(vec![
                            Yaml::Splice("# the web port".into()),
                            Yaml::map().with("port", 80u16),
                        ]),
                    )
                    .splice_entry("{{- end }}"),
            );
        assert_eq!(
            render(&doc),
            "metadata:\n  name: {{ include \"n.name\" . }}\n  labels:\n    {{- include \"n.labels\" . | nindent 4 }}\nspec:\n  {{- if .Values.on }}\n  ports:\n    # the web port\n    - port: 80\n  {{- end }}\n"
        );
    }

    #[test]
    fn declared_text_never_becomes_template_text_or_a_token() {
        let doc = Yaml::map()
            .with("a", "{{ .Release.Name }}")
            .with("b", "luciac0t0x")
            .with("c", Yaml::Expr("{{ .Values.c }}".into()));
        assert_eq!(
            render(&doc),
            "a: {{ \"\\u007b\\u007b .Release.Name \\u007d\\u007d\" | quote }}\nb: luciac0t0x\nc: {{ .Values.c }}\n"
        );
    }
}
