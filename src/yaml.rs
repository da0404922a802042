//! An ordered YAML value and its emitter.
//!
//! Targets build documents as [`Yaml`] trees (maps keep insertion order, so output order is
//! chosen by the target and never by a hash) and emit them with serde-saphyr, the one Rust
//! emitter whose output Go's YAML 1.1 readers (Helm, kubectl, Compose) read back unchanged:
//! it quotes `yes`, `on`, `0755`, `1e3`, `~` and the like. `tests/helm.rs` and `tests/compose.rs` prove the round trip.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Str(String),
    Int(i64),
    Bool(bool),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
    /// A Helm template expression (`{{ … }}`) written as the whole scalar. Only the Helm
    /// target builds these, and only its renderer (`targets::helm::render`) writes them.
    Expr(String),
    /// Helm template lines placed where this node is, at the indentation the emitter chose
    /// (`@INDENT@` in them becomes that column): as a map value (the lines go under the key),
    /// as a sequence item, or as a map entry of its own ([`Yaml::splice_entry`]).
    Splice(String),
}

impl Yaml {
    pub fn map() -> Yaml {
        Yaml::Map(Vec::new())
    }

    /// Builder: append a key (ignored on non-maps).
    pub fn with(mut self, key: &str, value: impl Into<Yaml>) -> Yaml {
        self.insert(key, value);
        self
    }

    /// Builder: append a key only when the value is present.
    pub fn with_opt(self, key: &str, value: Option<impl Into<Yaml>>) -> Yaml {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Set `key`: appended when new, replaced in place when the map already has it, so that a
    /// map never holds a key twice (Compose, Go YAML and kubectl all refuse that).
    pub fn insert(&mut self, key: &str, value: impl Into<Yaml>) {
        if let Yaml::Map(m) = self {
            let value = value.into();
            match m.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => m.push((key.to_string(), value)),
            }
        }
    }

    /// Builder: append template lines as an entry of their own (an `{{- if }}`, a comment, a
    /// `toYaml` of user values), never merged with another entry. Not as the first entry of a
    /// map that is a list item: the lines would have to follow the item's `- `.
    pub fn splice_entry(mut self, lines: impl Into<String>) -> Yaml {
        if let Yaml::Map(m) = &mut self {
            m.push((String::new(), Yaml::Splice(lines.into())));
        }
        self
    }

    /// Builder: append `key` even when the map has it already. Only for entries a template
    /// condition keeps apart (`{{- if }} key: a {{- else }} key: b {{- end }}`).
    pub fn with_alternative(mut self, key: &str, value: impl Into<Yaml>) -> Yaml {
        if let Yaml::Map(m) = &mut self {
            m.push((key.to_string(), value.into()));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Yaml::Map(m) => m.is_empty(),
            Yaml::Seq(s) => s.is_empty(),
            _ => false,
        }
    }
}

impl From<&str> for Yaml {
    fn from(s: &str) -> Yaml {
        Yaml::Str(s.to_string())
    }
}
impl From<String> for Yaml {
    fn from(s: String) -> Yaml {
        Yaml::Str(s)
    }
}
impl From<&String> for Yaml {
    fn from(s: &String) -> Yaml {
        Yaml::Str(s.clone())
    }
}
impl From<bool> for Yaml {
    fn from(b: bool) -> Yaml {
        Yaml::Bool(b)
    }
}
impl From<i64> for Yaml {
    fn from(i: i64) -> Yaml {
        Yaml::Int(i)
    }
}
impl From<u16> for Yaml {
    fn from(i: u16) -> Yaml {
        Yaml::Int(i64::from(i))
    }
}
impl From<u32> for Yaml {
    fn from(i: u32) -> Yaml {
        Yaml::Int(i64::from(i))
    }
}
impl<T: Into<Yaml>> From<Vec<T>> for Yaml {
    fn from(v: Vec<T>) -> Yaml {
        Yaml::Seq(v.into_iter().map(Into::into).collect())
    }
}

impl Serialize for Yaml {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Yaml::Str(v) | Yaml::Expr(v) | Yaml::Splice(v) => s.serialize_str(v),
            Yaml::Int(i) => s.serialize_i64(*i),
            Yaml::Bool(b) => s.serialize_bool(*b),
            Yaml::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            Yaml::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// Emit one document. Long strings stay on one line (no folding), multi-line strings become
/// literal blocks, and the text ends with a newline. Nothing is trimmed from its end: a literal
/// block there keeps its final line breaks (`|+`), and they are part of the value.
pub fn to_string(doc: &Yaml) -> String {
    emit(doc, true)
}

/// [`to_string`] with sequences indented under their key (`ports:\n  - name: …`), the style
/// of Helm's own chart templates.
pub fn to_string_indented_lists(doc: &Yaml) -> String {
    emit(doc, false)
}

fn emit(doc: &Yaml, compact_lists: bool) -> String {
    let opts = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
        min_fold_chars: usize::MAX,
        compact_list_indent: compact_lists,
    };
    let mut out = serde_saphyr::to_string_with_options(doc, opts)
        .unwrap_or_else(|e| format!("# luciac: YAML emit failed: {e}\n"));
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_yaml_11_specials_and_keeps_order() {
        let doc = Yaml::map()
            .with("zeta", "yes")
            .with("alpha", "0755")
            .with("n", Yaml::Int(3))
            .with("t", "~")
            .with("e", "1e3");
        let out = to_string(&doc);
        assert_eq!(
            out,
            "zeta: \"yes\"\nalpha: \"0755\"\n\"n\": 3\nt: \"~\"\ne: \"1e3\"\n"
        );
    }

    #[test]
    fn a_document_ending_in_a_kept_literal_block_keeps_its_line_breaks() {
        let text = to_string(&Yaml::map().with("a", "x\n\n"));
        assert_eq!(text, "a: |+\n  x\n\n");
    }

    #[test]
    fn long_strings_are_not_folded() {
        let long = "x ".repeat(80);
        let out = to_string(&Yaml::map().with("k", long.trim()));
        assert_eq!(out.lines().count(), 1, "{out}");
    }
}
