//! A KDL v2 parser (<https://kdl.dev/spec/>): text → [`Document`], or the first syntax error.
//!
//! Written for luciac rather than taken from the `kdl` crate, which it replaced: that crate
//! keeps every byte of formatting (luciac reads none of it), parses through winnow's error
//! machinery, and recurses once per nesting level, per `/*` and per `/-`, so its input had to
//! be bounded and parsed on a thread with a large stack. This one is a single pass over the
//! text. Only `{ … }` blocks recurse, bounded by [`MAX_DEPTH`]; comments and `/-` loop.
//!
//! It stops at the first error: the error says what was expected where, with a help line for
//! the mistakes people make (KDL v1 keywords, a string running into a line break). A test
//! runs it over the KDL specification's test suite and compares every document with what the
//! `kdl` crate parses.
//!
//! Grammar names in comments (`node-space`, `escline`, …) are the specification's.

use miette::SourceSpan;

use super::document::{Document, Entry, Ident, Node, Value};

/// The deepest `{ … }` nesting a declaration may have. The language itself needs three levels
/// (`service` → `health` → `exec`); the limit bounds the parser's recursion far above that.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub kind: ErrorKind,
    pub message: String,
    pub offset: usize,
    pub len: usize,
    pub label: String,
    pub help: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not KDL v2.
    Syntax,
    /// Blocks nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

pub(super) type Parsed<T> = Result<T, SyntaxError>;

/// Parse a whole document.
/// Parse a whole document whose characters [`check_code_points`] (or the stricter check of
/// `parse::parse`) has passed.
pub fn parse(text: &str) -> Parsed<Document> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    if text.starts_with('\u{FEFF}') {
        p.pos = '\u{FEFF}'.len_utf8();
    }
    let nodes = p.nodes(None)?;
    Ok(Document { nodes })
}

/// The first `disallowed-literal-code-point` of a document, as an error (a byte-order mark
/// is allowed as the first character).
pub fn check_code_points(text: &str) -> Parsed<()> {
    let from = if text.starts_with('\u{FEFF}') {
        '\u{FEFF}'.len_utf8()
    } else {
        0
    };
    let bad = text
        .get(from..)
        .and_then(|t| t.char_indices().find(|&(_, c)| is_disallowed(c)));
    match bad {
        Some((i, c)) => {
            let at = from + i;
            Err(SyntaxError {
                kind: ErrorKind::Syntax,
                message: format!("U+{:04X} may not appear in a KDL document", u32::from(c)),
                offset: at,
                len: c.len_utf8(),
                label: "here".to_string(),
                help: None,
            })
        }
        None => Ok(()),
    }
}

/// The string one whole string token stands for (quoted, raw or multi-line, escapes
/// decoded, dedented); `None` when the text is not exactly one valid string.
pub fn decode_string(token: &str) -> Option<String> {
    let mut p = Parser {
        text: token,
        pos: 0,
        depth: 0,
    };
    match p.value("a string") {
        Ok(Token {
            value: Value::String(s),
            ..
        }) if p.pos == token.len() => Some(s),
        _ => None,
    }
}

/// `newline`: CRLF counts as one.
pub(super) fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{85}' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}'
    )
}

/// `unicode-space`.
pub(super) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// `disallowed-literal-code-points` (a byte-order mark is allowed only as the first character).
pub(super) fn is_disallowed(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{8}'
            | '\u{E}'..='\u{1F}'
            | '\u{7F}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// `identifier-char`.
pub(super) fn is_ident_char(c: char) -> bool {
    !is_space(c)
        && !is_newline(c)
        && !matches!(
            c,
            '\\' | '/' | '(' | ')' | '{' | '}' | ';' | '[' | ']' | '"' | '#' | '='
        )
        && !is_disallowed(c)
}

/// What a whitespace escape (`\` and what follows it) removes: spaces and line breaks.
pub(super) fn is_blank(c: char) -> bool {
    is_space(c) || is_newline(c)
}

/// Whether a word starts like a number (`1`, `-1`, `.5`, `+.5`): no such word is an
/// identifier.
pub(super) fn starts_like_a_number(word: &str) -> bool {
    let rest = word.strip_prefix(['+', '-']).unwrap_or(word);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    rest.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `s` can be written without quotes: an `identifier-string`.
pub fn is_bare_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(is_ident_char)
        && !starts_like_a_number(s)
        && !RESERVED.contains(&s)
}

/// Bare words KDL v2 refuses as identifiers (they were keywords in v1).
pub(super) const RESERVED: &[&str] = &["true", "false", "null", "inf", "-inf", "nan"];

fn span(start: usize, end: usize) -> SourceSpan {
    SourceSpan::new(start.into(), end.saturating_sub(start))
}

/// A value and where it was written: a string may still turn out to be a property's key.
pub(super) struct Token {
    pub(super) value: Value,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) struct Parser<'t> {
    pub(super) text: &'t str,
    pub(super) pos: usize,
    depth: usize,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<char> {
        self.text.get(self.pos..)?.chars().next()
    }

    pub(super) fn peek_at(&self, ahead: usize) -> Option<char> {
        self.text.get(self.pos..)?.chars().nth(ahead)
    }

    pub(super) fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(super) fn error(
        &self,
        start: usize,
        end: usize,
        message: impl Into<String>,
    ) -> SyntaxError {
        SyntaxError {
            kind: ErrorKind::Syntax,
            message: message.into(),
            offset: start,
            len: end.saturating_sub(start),
            label: "here".to_string(),
            help: None,
        }
    }

    /// An error at the character under the cursor (or the end of the text).
    pub(super) fn error_here(&self, message: impl Into<String>) -> SyntaxError {
        let len = self.peek().map_or(0, char::len_utf8);
        self.error(self.pos, self.pos + len, message)
    }

    /// A description of the character under the cursor, for "found …" messages.
    pub(super) fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".to_string(),
            Some(c) if is_newline(c) => "a line break".to_string(),
            Some(c) if c.is_control() || is_space(c) => format!("U+{:04X}", u32::from(c)),
            Some(c) => format!("`{c}`"),
        }
    }

    // ---- Whitespace and comments -------------------------------------------------------

    /// One `newline`, if there is one.
    pub(super) fn newline(&mut self) -> bool {
        if self.rest().starts_with("\r\n") {
            self.pos += 2;
            true
        } else if self.peek().is_some_and(is_newline) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// `single-line-comment`, with the line break that ends it.
    fn line_comment(&mut self) {
        while let Some(c) = self.peek() {
            if is_newline(c) {
                self.newline();
                return;
            }
            self.bump();
        }
    }

    /// `multi-line-comment`: nested `/* … */`, counted rather than recursed into.
    fn block_comment(&mut self) -> Parsed<()> {
        let start = self.pos;
        self.pos += 2;
        let mut open = 1usize;
        while open > 0 {
            let rest = self.rest();
            if rest.starts_with("/*") {
                open += 1;
                self.pos += 2;
            } else if rest.starts_with("*/") {
                open -= 1;
                self.pos += 2;
            } else if self.bump().is_none() {
                return Err(SyntaxError {
                    label: "this comment is never closed".to_string(),
                    help: Some(
                        "add the `*/` that ends it (comments nest: each `/*` needs its own `*/`)"
                            .to_string(),
                    ),
                    ..self.error(start, start + 2, "unclosed `/*` comment")
                });
            }
        }
        Ok(())
    }

    /// `ws*`: spaces and block comments. Whether anything was consumed.
    fn ws(&mut self) -> Parsed<bool> {
        let from = self.pos;
        loop {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('*') => self.block_comment()?,
                _ => return Ok(self.pos > from),
            }
        }
    }

    /// `escline`: a `\` that continues a node on the next line.
    fn escline(&mut self) -> Parsed<()> {
        let start = self.pos;
        self.pos += 1;
        self.ws()?;
        if self.rest().starts_with("//") {
            self.line_comment();
        } else if !self.newline() && self.peek().is_some() {
            return Err(SyntaxError {
                help: Some("a `\\` outside a string continues the node on the next line, so only a comment may follow it on its line".to_string()),
                ..self.error(start, start + 1, format!("expected a line break after `\\`, found {}", self.found()))
            });
        }
        Ok(())
    }

    /// `node-space*`: spaces, block comments and line continuations. Whether anything was
    /// consumed.
    fn node_space(&mut self) -> Parsed<bool> {
        let from = self.pos;
        loop {
            self.ws()?;
            if self.peek() == Some('\\') {
                self.escline()?;
            } else {
                return Ok(self.pos > from);
            }
        }
    }

    /// `line-space*`: `node-space`, line breaks and line comments.
    fn line_space(&mut self) -> Parsed<()> {
        loop {
            self.node_space()?;
            if self.rest().starts_with("//") {
                self.line_comment();
            } else if !self.newline() {
                return Ok(());
            }
        }
    }

    // ---- Nodes ---------------------------------------------------------------------------

    /// `nodes`, at the top (`open` is `None`) or inside the block whose `{` is at `open`.
    /// Inside a block, stops before its `}`.
    fn nodes(&mut self, open: Option<usize>) -> Parsed<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.line_space()?;
            match (self.peek(), open) {
                (None, None) | (Some('}'), Some(_)) => return Ok(nodes),
                (None, Some(at)) => {
                    return Err(SyntaxError {
                        label: "this block is never closed".to_string(),
                        help: Some("add the `}` that closes this block; everything after it was read as part of it".to_string()),
                        ..self.error(at, at + 1, "unclosed `{`")
                    });
                }
                (Some('}'), None) => {
                    return Err(SyntaxError {
                        help: Some("delete it, or add the `{` it should close".to_string()),
                        ..self.error_here("unexpected `}`: there is no block to close")
                    });
                }
                _ => {}
            }
            let slashdash = self.slashdash()?;
            if slashdash && (self.peek().is_none() || self.peek() == Some('}')) {
                return Err(SyntaxError {
                    help: Some("`/-` comments out the node, argument, property or block after it; delete it or add what it comments out".to_string()),
                    ..self.error_here(format!("expected a node after `/-`, found {}", self.found()))
                });
            }
            let node = self.node()?;
            self.terminator(open.is_some())?;
            if !slashdash {
                nodes.push(node);
            }
        }
    }

    /// `slashdash`: `/-` and the `line-space*` after it. Whether there was one.
    fn slashdash(&mut self) -> Parsed<bool> {
        if self.rest().starts_with("/-") {
            self.pos += 2;
            self.line_space()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// `node-terminator` (`;`, a line break, a line comment or the end of the text); inside a
    /// block, the closing `}` also ends the last node.
    fn terminator(&mut self, in_block: bool) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(';') => {
                self.pos += 1;
                Ok(())
            }
            Some('}') if in_block => Ok(()),
            Some('/') if self.peek_at(1) == Some('/') => {
                self.line_comment();
                Ok(())
            }
            Some(c) if is_newline(c) => {
                self.newline();
                Ok(())
            }
            Some(_) => Err(SyntaxError {
                help: Some("arguments and properties are separated by spaces, and a node ends at a line break or `;`".to_string()),
                ..self.error_here(format!("expected a space, `;` or a line break, found {}", self.found()))
            }),
        }
    }

    /// `base-node`, with its trailing `node-space*`.
    fn node(&mut self) -> Parsed<Node> {
        let start = self.pos;
        if self.peek() == Some('{') {
            return Err(SyntaxError {
                help: Some("a `{ … }` block belongs to the node before it on the same line; write the node's name before the `{`".to_string()),
                ..self.error_here("expected a node name, found a block")
            });
        }
        let ty = self.annotation()?;
        self.node_space()?;
        let name = self.string("a node name")?;
        let mut end = name.span.offset() + name.span.len();
        let mut entries = Vec::new();
        let mut children = None;
        // A block, live or commented out, ends the arguments and properties.
        let mut block_seen = false;
        loop {
            let spaced = self.node_space()?;
            match self.peek() {
                None | Some(';' | '}') => break,
                Some('/') if self.peek_at(1) == Some('/') => break,
                Some(c) if is_newline(c) => break,
                Some('{') => {}
                Some(_) if !spaced && block_seen => {
                    return Err(SyntaxError {
                        help: Some(
                            "a node ends at a line break or `;`, and its `{ … }` block comes last"
                                .to_string(),
                        ),
                        ..self.error_here(format!(
                            "expected `;` or a line break after the block, found {}",
                            self.found()
                        ))
                    });
                }
                Some(_) if !spaced => {
                    return Err(SyntaxError {
                        help: Some(
                            "put a space between a node's name, arguments and properties"
                                .to_string(),
                        ),
                        ..self.error_here(format!("expected a space, found {}", self.found()))
                    });
                }
                Some(_) => {}
            }
            let slashdash = self.slashdash()?;
            if self.peek() == Some('{') {
                let block = self.block()?;
                if !slashdash {
                    if children.is_some() {
                        return Err(self.late(end, "a second `{ … }` block"));
                    }
                    children = Some(block);
                    end = self.pos;
                }
                block_seen = true;
                continue;
            }
            if block_seen {
                return Err(self.late(end, "an argument or property after the `{ … }` block"));
            }
            let entry = self.entry()?;
            if !slashdash {
                end = entry.span.offset() + entry.span.len();
                entries.push(entry);
            }
        }
        Ok(Node {
            ty,
            name,
            entries,
            children,
            span: span(start, end),
        })
    }

    fn late(&self, node_end: usize, what: &str) -> SyntaxError {
        SyntaxError {
            help: Some("a node's arguments and properties come first, then at most one `{ … }` block (more only as `/-` comments)".to_string()),
            ..self.error(node_end, self.pos.max(node_end + 1), format!("unexpected {what}"))
        }
    }

    /// `node-children`: `{ nodes }`.
    fn block(&mut self) -> Parsed<Document> {
        let open = self.pos;
        if self.depth >= MAX_DEPTH {
            return Err(SyntaxError {
                kind: ErrorKind::TooDeep,
                label: format!("level {} starts here", self.depth + 1),
                help: Some("a declaration needs at most three levels (service → health → exec); check for a `{` that should be a `}`".to_string()),
                ..self.error(open, open + 1, format!("blocks are nested more than {MAX_DEPTH} levels deep"))
            });
        }
        self.depth += 1;
        self.pos += 1;
        let nodes = self.nodes(Some(open))?;
        // `nodes` returned before the `}`.
        self.pos += 1;
        self.depth -= 1;
        Ok(Document { nodes })
    }

    /// `node-prop-or-arg`.
    fn entry(&mut self) -> Parsed<Entry> {
        let start = self.pos;
        if let Some(ty) = self.annotation()? {
            self.node_space()?;
            let value = self.value("a value after the type annotation")?;
            return Ok(Entry {
                name: None,
                ty: Some(ty),
                value: value.value,
                span: span(start, value.end),
            });
        }
        let first = self.value("an argument or property")?;
        let before_eq = self.pos;
        self.node_space()?;
        if self.peek() != Some('=') {
            self.pos = before_eq;
        } else if let Value::String(key) = first.value {
            self.pos += 1;
            self.node_space()?;
            let ty = self.annotation()?;
            if ty.is_some() {
                self.node_space()?;
            }
            let value = self.value("a value after `=`")?;
            return Ok(Entry {
                name: Some(Ident {
                    value: key,
                    span: span(first.start, first.end),
                }),
                ty,
                value: value.value,
                span: span(start, value.end),
            });
        } else {
            return Err(SyntaxError {
                help: Some(format!(
                    "quote the name: \"{}\"=…",
                    self.text.get(first.start..first.end).unwrap_or("")
                )),
                ..self.error(
                    first.start,
                    first.end,
                    "a property's name must be a string, not a number or keyword",
                )
            });
        }
        Ok(Entry {
            name: None,
            ty: None,
            value: first.value,
            span: span(start, first.end),
        })
    }

    /// `type`: `( string )`, if there is one.
    fn annotation(&mut self) -> Parsed<Option<Ident>> {
        if self.peek() != Some('(') {
            return Ok(None);
        }
        let open = self.pos;
        self.pos += 1;
        self.node_space()?;
        let name = self.string("a type name")?;
        self.node_space()?;
        if self.peek() != Some(')') {
            return Err(SyntaxError {
                label: "this `(` is never closed".to_string(),
                ..self.error(
                    open,
                    open + 1,
                    format!("expected `)` after the type name, found {}", self.found()),
                )
            });
        }
        self.pos += 1;
        Ok(Some(name))
    }

    /// A string in any form, where only a string may stand (a node name, a type).
    fn string(&mut self, what: &str) -> Parsed<Ident> {
        let token = self.value(what)?;
        match token.value {
            Value::String(value) => Ok(Ident {
                value,
                span: span(token.start, token.end),
            }),
            _ => Err(SyntaxError {
                help: Some(format!(
                    "quote it: \"{}\"",
                    self.text.get(token.start..token.end).unwrap_or("")
                )),
                ..self.error(token.start, token.end, format!("{what} must be a string"))
            }),
        }
    }
}
