//! A commented values tree: one source for `values.yaml` (with a comment on every key), the
//! profile's values file and `values.schema.json`, so the three cannot drift.

use serde_json::{Map, Value, json};

use crate::yaml::{self, Yaml};

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub doc: String,
    pub val: Val,
    /// Extra JSON Schema keywords merged over the inferred type.
    pub schema: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum Val {
    Leaf(Yaml),
    Node(Vec<Entry>),
}

pub fn leaf(key: &str, doc: impl Into<String>, v: impl Into<Yaml>) -> Entry {
    Entry {
        key: key.to_string(),
        doc: doc.into(),
        val: Val::Leaf(v.into()),
        schema: None,
    }
}

pub fn node(key: &str, doc: impl Into<String>, children: Vec<Entry>) -> Entry {
    Entry {
        key: key.to_string(),
        doc: doc.into(),
        val: Val::Node(children),
        schema: None,
    }
}

impl Entry {
    pub fn schema(mut self, s: Value) -> Entry {
        self.schema = Some(s);
        self
    }
}

/// YAML for a one-key document with every string value quoted (the Helm convention: no
/// YAML typing surprises for whoever edits the file), on one line each.
fn quoted_yaml(doc: &Yaml) -> String {
    let opts = serde_saphyr::ser_options! {
        folded_wrap_chars: usize::MAX,
        min_fold_chars: usize::MAX,
        quote_all: true,
    };
    serde_saphyr::to_string_with_options(doc, opts).unwrap_or_else(|_| yaml::to_string(doc))
}

/// `key` as YAML spells it (quoted when YAML 1.1 would read it as something else).
fn key_text(key: &str) -> String {
    let text = yaml::to_string(&Yaml::map().with(key, Yaml::Int(0)));
    text.trim_end()
        .strip_suffix(": 0")
        .unwrap_or(key)
        .to_string()
}

/// Emit entries as YAML with a `# -- doc` comment above every key.
pub fn emit(entries: &[Entry], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for (i, e) in entries.iter().enumerate() {
        if indent == 0 && i > 0 {
            out.push('\n');
        }
        for (j, line) in e.doc.lines().enumerate() {
            let lead = if j == 0 { "# -- " } else { "# " };
            // YAML 1.1 also breaks lines at \r, NEL, LS and PS: a comment must not.
            let line: String = line
                .chars()
                .map(|c| {
                    if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            out.push_str(format!("{pad}{lead}{line}").trim_end());
            out.push('\n');
        }
        match &e.val {
            Val::Leaf(Yaml::Map(m)) if m.is_empty() => {
                out.push_str(&format!("{pad}{}: {{}}\n", key_text(&e.key)))
            }
            Val::Leaf(Yaml::Seq(s)) if s.is_empty() => {
                out.push_str(&format!("{pad}{}: []\n", key_text(&e.key)))
            }
            Val::Leaf(v) => {
                let text = quoted_yaml(&Yaml::map().with(&e.key, v.clone()));
                for line in text.lines() {
                    if line.is_empty() {
                        out.push('\n');
                    } else {
                        out.push_str(&format!("{pad}{line}\n"));
                    }
                }
            }
            Val::Node(children) if children.is_empty() => {
                out.push_str(&format!("{pad}{}: {{}}\n", key_text(&e.key)))
            }
            Val::Node(children) => {
                out.push_str(&format!("{pad}{}:\n", key_text(&e.key)));
                emit(children, indent + 2, out);
            }
        }
    }
}

fn infer(v: &Yaml) -> Value {
    match v {
        Yaml::Str(_) | Yaml::Expr(_) | Yaml::Splice(_) => json!({ "type": "string" }),
        Yaml::Int(_) => json!({ "type": "integer" }),
        Yaml::Bool(_) => json!({ "type": "boolean" }),
        Yaml::Seq(_) => json!({ "type": "array" }),
        Yaml::Map(_) => json!({ "type": "object" }),
    }
}

fn entry_schema(e: &Entry) -> Value {
    let mut s = match &e.val {
        Val::Leaf(v) => infer(v),
        Val::Node(children) => object_schema(children),
    };
    if let (Value::Object(base), Some(Value::Object(extra))) = (&mut s, &e.schema) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    if let Value::Object(base) = &mut s {
        base.insert("description".into(), Value::String(e.doc.clone()));
    }
    s
}

/// A closed object: every key documented, typos rejected at install time.
pub fn object_schema(children: &[Entry]) -> Value {
    let mut props = Map::new();
    for c in children {
        props.insert(c.key.clone(), entry_schema(c));
    }
    json!({ "type": "object", "additionalProperties": false, "properties": props })
}

/// The whole `values.schema.json` (draft-07, the widest Helm 3/4 compatibility).
pub fn schema_document(title: &str, entries: &[Entry]) -> String {
    let mut root = object_schema(entries);
    if let Value::Object(m) = &mut root {
        m.insert(
            "$schema".into(),
            json!("http://json-schema.org/draft-07/schema#"),
        );
        m.insert("title".into(), json!(title));
    }
    let mut text = serde_json::to_string_pretty(&root).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_comment_and_specials_are_quoted() {
        let tree = vec![
            leaf("global", "Helm's globals.", Yaml::map()),
            node(
                "a",
                "A group.",
                vec![
                    leaf("y", "A key YAML 1.1 reads as a boolean.", "yes"),
                    leaf("list", "Empty.", Yaml::Seq(vec![])),
                ],
            ),
        ];
        let mut out = String::new();
        emit(&tree, 0, &mut out);
        assert_eq!(
            out,
            "# -- Helm's globals.\nglobal: {}\n\n# -- A group.\na:\n  # -- A key YAML 1.1 reads as a boolean.\n  \"y\": 'yes'\n  # -- Empty.\n  list: []\n"
        );
    }
}
