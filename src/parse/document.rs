//! A parsed KDL v2 document: nodes, their entries and children, each with its byte span.
//!
//! Only what the decoder reads is kept: no formatting, no comments (the formatter and the
//! editor work on [`crate::syntax`]'s tokens instead). Spans are [`SourceSpan`]s so that
//! they turn into labels directly.

use miette::SourceSpan;

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The `(type)` annotation before the name.
    pub ty: Option<Ident>,
    pub name: Ident,
    /// Arguments and properties in the order written; a property given twice is kept twice
    /// (the decoder reports it).
    pub entries: Vec<Entry>,
    /// `Some` for `{ … }`, even an empty one; `None` when there is no block.
    pub children: Option<Document>,
    /// From the annotation (or the name) to the end of the last entry or the closing `}`.
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key of a property; `None` for an argument.
    pub name: Option<Ident>,
    /// The `(type)` annotation before the value.
    pub ty: Option<Ident>,
    pub value: Value,
    /// From the key (or the annotation, or the value) to the end of the value.
    pub span: SourceSpan,
}

/// A node name, property key or type annotation: a string in any of KDL's three forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub value: String,
    /// The whole token, quotes and `#`s included.
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i128),
    /// A number with a fraction or an exponent, and `#inf`, `#-inf`, `#nan`.
    Float(f64),
    Bool(bool),
    Null,
}

impl Document {
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Whether two documents say the same thing: the same nodes, entries and values, wherever
    /// they are written (spans are not compared; `#nan` equals `#nan`).
    pub fn same_as(&self, other: &Document) -> bool {
        self.nodes.len() == other.nodes.len()
            && self.nodes.iter().zip(&other.nodes).all(|(a, b)| {
                same_ident(a.ty.as_ref(), b.ty.as_ref())
                    && a.name.value == b.name.value
                    && a.entries.len() == b.entries.len()
                    && a.entries.iter().zip(&b.entries).all(|(x, y)| {
                        same_ident(x.name.as_ref(), y.name.as_ref())
                            && same_ident(x.ty.as_ref(), y.ty.as_ref())
                            && x.value.same_as(&y.value)
                    })
                    && match (&a.children, &b.children) {
                        (Some(x), Some(y)) => x.same_as(y),
                        (None, None) => true,
                        _ => false,
                    }
            })
    }
}

fn same_ident(a: Option<&Ident>, b: Option<&Ident>) -> bool {
    a.map(|i| &i.value) == b.map(|i| &i.value)
}

impl Node {
    pub fn name(&self) -> &Ident {
        &self.name
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn children(&self) -> Option<&Document> {
        self.children.as_ref()
    }

    /// The child nodes; none when there is no block.
    pub fn iter_children(&self) -> impl Iterator<Item = &Node> {
        self.children.iter().flat_map(|c| c.nodes.iter())
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }
}

impl Entry {
    pub fn name(&self) -> Option<&Ident> {
        self.name.as_ref()
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }
}

impl Ident {
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn span(&self) -> SourceSpan {
        self.span
    }
}

impl Value {
    fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Float(a), Value::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        }
    }
}

/// KDL text for a value: a string bare when it can be (`ha-token`), quoted otherwise.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::String(s) if super::parser::is_bare_identifier(s) => f.write_str(s),
            Value::String(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        '\u{8}' => f.write_str("\\b")?,
                        '\u{C}' => f.write_str("\\f")?,
                        c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("#nan"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "#inf" } else { "#-inf" })
            }
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Bool(b) => write!(f, "#{b}"),
            Value::Null => f.write_str("#null"),
        }
    }
}
