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

type Parsed<T> = Result<T, SyntaxError>;

/// Parse a whole document.
pub fn parse(text: &str) -> Parsed<Document> {
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    if text.starts_with('\u{FEFF}') {
        p.pos = '\u{FEFF}'.len_utf8();
    }
    p.disallowed_code_points()?;
    let nodes = p.nodes(None)?;
    Ok(Document { nodes })
}

/// `newline`: CRLF counts as one.
fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{85}' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}'
    )
}

/// `unicode-space`.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// `disallowed-literal-code-points` (a byte-order mark is allowed only as the first character).
fn is_disallowed(c: char) -> bool {
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
fn is_ident_char(c: char) -> bool {
    !is_space(c)
        && !is_newline(c)
        && !matches!(
            c,
            '\\' | '/' | '(' | ')' | '{' | '}' | ';' | '[' | ']' | '"' | '#' | '='
        )
        && !is_disallowed(c)
}

/// Whether `s` can be written without quotes: an `identifier-string`.
pub fn is_bare_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let first = chars.next();
    let after_sign = if matches!(first, Some('+' | '-')) {
        chars.next()
    } else {
        first
    };
    let after_dot = if after_sign == Some('.') {
        chars.next()
    } else {
        after_sign
    };
    !s.is_empty()
        && s.chars().all(is_ident_char)
        && !first.is_some_and(|c| c.is_ascii_digit())
        && !after_dot.is_some_and(|c| c.is_ascii_digit())
        && !RESERVED.contains(&s)
}

/// Bare words KDL v2 refuses as identifiers (they were keywords in v1).
const RESERVED: &[&str] = &["true", "false", "null", "inf", "-inf", "nan"];

fn span(start: usize, end: usize) -> SourceSpan {
    SourceSpan::new(start.into(), end.saturating_sub(start))
}

/// A value and where it was written: a string may still turn out to be a property's key.
struct Token {
    value: Value,
    start: usize,
    end: usize,
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..)?.chars().next()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.text.get(self.pos..)?.chars().nth(ahead)
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, start: usize, end: usize, message: impl Into<String>) -> SyntaxError {
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
    fn error_here(&self, message: impl Into<String>) -> SyntaxError {
        let len = self.peek().map_or(0, char::len_utf8);
        self.error(self.pos, self.pos + len, message)
    }

    /// A description of the character under the cursor, for "found …" messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".to_string(),
            Some(c) if is_newline(c) => "a line break".to_string(),
            Some(c) if c.is_control() || is_space(c) => format!("U+{:04X}", u32::from(c)),
            Some(c) => format!("`{c}`"),
        }
    }

    fn disallowed_code_points(&self) -> Parsed<()> {
        let from = self.pos;
        match self.text[from..]
            .char_indices()
            .find(|&(_, c)| is_disallowed(c))
        {
            Some((i, c)) => Err(self.error(
                from + i,
                from + i + c.len_utf8(),
                format!("U+{:04X} may not appear in a KDL document", u32::from(c)),
            )),
            None => Ok(()),
        }
    }

    // ---- Whitespace and comments -------------------------------------------------------

    /// One `newline`, if there is one.
    fn newline(&mut self) -> bool {
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

    // ---- Values --------------------------------------------------------------------------

    /// `string | number | keyword`.
    fn value(&mut self, what: &str) -> Parsed<Token> {
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => Value::String(self.quoted()?),
            Some('#') => {
                let hashes = self.rest().bytes().take_while(|&b| b == b'#').count();
                if self.rest().as_bytes().get(hashes) == Some(&b'"') {
                    Value::String(self.raw(hashes)?)
                } else {
                    self.keyword()?
                }
            }
            Some(c) if c.is_ascii_digit() => self.number()?,
            Some('+' | '-') if self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                self.number()?
            }
            Some(c) if is_ident_char(c) => Value::String(self.identifier()?),
            _ => {
                return Err(SyntaxError {
                    help: Some("strings with spaces or special characters need double quotes; see docs/language.md".to_string()),
                    ..self.error_here(format!("expected {what}, found {}", self.found()))
                });
            }
        };
        Ok(Token {
            value,
            start,
            end: self.pos,
        })
    }

    /// The run of `identifier-char`s under the cursor.
    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// `identifier-string`.
    fn identifier(&mut self) -> Parsed<String> {
        let start = self.pos;
        let word = self.word().to_string();
        let mut chars = word.chars();
        let first = chars.next();
        let after_sign = if matches!(first, Some('+' | '-')) {
            chars.next()
        } else {
            first
        };
        let after_dot = if after_sign == Some('.') {
            chars.next()
        } else {
            None
        };
        if after_dot.is_some_and(|c| c.is_ascii_digit()) {
            return Err(SyntaxError {
                help: Some(format!(
                    "write a digit before the point (\"{}\"), or quote it if it is text",
                    word.replacen('.', "0.", 1)
                )),
                ..self.error(
                    start,
                    self.pos,
                    format!("`{word}` is neither a number nor a bare string"),
                )
            });
        }
        if RESERVED.contains(&word.as_str()) {
            return Err(SyntaxError {
                help: Some(format!(
                    "KDL v2 writes keywords with a `#`: use `#{word}` (or quote it: \"{word}\")"
                )),
                label: "a keyword of KDL v1".to_string(),
                ..self.error(
                    start,
                    self.pos,
                    format!("`{word}` is not a value in KDL v2"),
                )
            });
        }
        Ok(word)
    }

    /// `keyword` and `keyword-number`: `#true`, `#false`, `#null`, `#inf`, `#-inf`, `#nan`.
    fn keyword(&mut self) -> Parsed<Value> {
        let start = self.pos;
        self.pos += 1;
        let value = match self.word() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            "inf" => Value::Float(f64::INFINITY),
            "-inf" => Value::Float(f64::NEG_INFINITY),
            "nan" => Value::Float(f64::NAN),
            _ => {
                return Err(SyntaxError {
                    help: Some("the keywords are #true, #false, #null, #inf, #-inf and #nan; a string that starts with `#` needs quotes".to_string()),
                    ..self.error(start, self.pos.max(start + 1), "unknown keyword")
                });
            }
        };
        Ok(value)
    }

    /// `number`: decimal (integer or with fraction/exponent), hex, octal or binary, with `_`
    /// between digits.
    fn number(&mut self) -> Parsed<Value> {
        let start = self.pos;
        let word = self.word().to_string();
        let bad = |p: &Self, why: &str| {
            SyntaxError {
            help: Some("numbers are written like 42, -1.5, 1e3, 0x1F, 0o17 or 0b101 (with `_` between digits if you like); quote text that starts with a digit".to_string()),
            ..p.error(start, p.pos, format!("`{word}` is not a number: {why}"))
        }
        };
        let (negative, body) = match word.as_bytes().first() {
            Some(b'-') => (true, &word[1..]),
            Some(b'+') => (false, &word[1..]),
            _ => (false, word.as_str()),
        };
        let radix = match body.get(..2) {
            Some("0x") => Some((16, "hexadecimal")),
            Some("0o") => Some((8, "octal")),
            Some("0b") => Some((2, "binary")),
            _ => None,
        };
        if let Some((radix, name)) = radix {
            let digits = &body[2..];
            let valid = digits.chars().next().is_some_and(|c| c.is_digit(radix))
                && digits.chars().all(|c| c == '_' || c.is_digit(radix));
            if !valid {
                return Err(bad(self, &format!("not a {name} number")));
            }
            let clean: String = digits.chars().filter(|&c| c != '_').collect();
            let magnitude =
                i128::from_str_radix(&clean, radix).map_err(|_| bad(self, "too large"))?;
            return Ok(Value::Integer(if negative {
                -magnitude
            } else {
                magnitude
            }));
        }
        // decimal := integer ('.' integer)? exponent?, integer := digit (digit | '_')*
        let b = body.as_bytes();
        let integer = |i: usize| -> Option<usize> {
            if !b.get(i)?.is_ascii_digit() {
                return None;
            }
            let mut j = i + 1;
            while b.get(j).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
                j += 1;
            }
            Some(j)
        };
        let Some(mut i) = integer(0) else {
            return Err(bad(self, "it does not start with a digit"));
        };
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            i = integer(i + 1).ok_or_else(|| bad(self, "a digit must follow the point"))?;
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            i = integer(j).ok_or_else(|| bad(self, "a digit must follow the exponent's `e`"))?;
            float = true;
        }
        if i != b.len() {
            return Err(bad(self, "it has characters after the digits"));
        }
        let clean: String = word.chars().filter(|&c| c != '_').collect();
        if float {
            clean
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| bad(self, "not a decimal number"))
        } else {
            clean
                .parse::<i128>()
                .map(Value::Integer)
                .map_err(|_| bad(self, "too large"))
        }
    }

    /// `quoted-string`: `"…"` on one line, or `"""` multi-line `"""`.
    fn quoted(&mut self) -> Parsed<String> {
        let start = self.pos;
        if self.rest().starts_with("\"\"\"") {
            self.pos += 3;
            let body = self.multi_line_body(start, 0)?;
            let body = resolve_whitespace_escapes(&body);
            let text = self.dedent(start, &body)?;
            return self.unescape(start, &text, None);
        }
        self.pos += 1;
        let body_start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.unclosed_string(start)),
                Some('"') => break,
                Some('\\') => {
                    self.pos += 1;
                    // A whitespace escape may run over line breaks; any other escape is
                    // one character (checked by `unescape`).
                    if self.peek().is_some_and(|c| is_space(c) || is_newline(c)) {
                        while self.peek().is_some_and(|c| is_space(c) || is_newline(c)) {
                            self.bump();
                        }
                    } else {
                        self.bump();
                    }
                }
                Some(c) if is_newline(c) => return Err(self.unclosed_string(start)),
                Some(_) => {
                    self.bump();
                }
            }
        }
        let body = &self.text[body_start..self.pos];
        self.pos += 1;
        self.unescape(start, body, Some(body_start))
    }

    /// The string opened at `start` runs into the end of its line (the cursor).
    fn unclosed_string(&self, start: usize) -> SyntaxError {
        SyntaxError {
            label: "this string is not closed on its line".to_string(),
            help: Some("add the closing `\"`; for text over several lines, write `\"\"\"`, a line break, the lines, and `\"\"\"` on a line of its own".to_string()),
            ..self.error(start, self.pos, "unclosed string")
        }
    }

    /// `raw-string`: `#"…"#` or `#"""` multi-line `"""#`, with `hashes` `#`s; no escapes.
    fn raw(&mut self, hashes: usize) -> Parsed<String> {
        let start = self.pos;
        self.pos += hashes;
        if self.rest().starts_with("\"\"\"") {
            self.pos += 3;
            let body = self.multi_line_body(start, hashes)?;
            return self.dedent(start, &body);
        }
        self.pos += 1;
        let body_start = self.pos;
        let close: String = std::iter::once('"')
            .chain(std::iter::repeat_n('#', hashes))
            .collect();
        loop {
            if self.rest().starts_with(&close) {
                let body = self.text[body_start..self.pos].to_string();
                self.pos += close.len();
                return Ok(body);
            }
            match self.peek() {
                Some(c) if !is_newline(c) => {
                    self.bump();
                }
                _ => {
                    return Err(SyntaxError {
                        label: "this string is not closed on its line".to_string(),
                        help: Some(format!(
                            "end it with `{close}`; for text over several lines, use `{0}\"\"\"` … `\"\"\"{0}`",
                            "#".repeat(hashes)
                        )),
                        ..self.error(start, body_start, "unclosed raw string")
                    });
                }
            }
        }
    }

    /// The text of a multi-line string after its opening quotes, up to (not including) the
    /// closing `"""` followed by `hashes` `#`s, which it consumes. Escapes are left in place
    /// (a quoted string's `\"""` does not close it).
    fn multi_line_body(&mut self, start: usize, hashes: usize) -> Parsed<String> {
        if !self.newline() {
            return Err(SyntaxError {
                help: Some("a `\"\"\"` string starts with a line break right after the quotes; for one line, use `\"…\"`".to_string()),
                ..self.error(start, self.pos, "expected a line break after `\"\"\"`")
            });
        }
        let body_start = self.pos;
        let close: String = "\"\"\""
            .chars()
            .chain(std::iter::repeat_n('#', hashes))
            .collect();
        loop {
            if self.rest().starts_with(&close) {
                let body = self.text[body_start..self.pos].to_string();
                self.pos += close.len();
                return Ok(body);
            }
            match self.bump() {
                None => {
                    return Err(SyntaxError {
                        label: "this string is never closed".to_string(),
                        help: Some(format!("end it with `{close}` on a line of its own")),
                        ..self.error(start, body_start, "unclosed multi-line string")
                    });
                }
                Some('\\') if hashes == 0 => {
                    self.bump();
                }
                Some(_) => {}
            }
        }
    }

    /// Multi-line string dedent: the last line (before the closing quotes) must be only
    /// whitespace; that whitespace is removed from the start of every other line, each of
    /// which must begin with it, and lines of only whitespace become empty.
    fn dedent(&self, start: usize, body: &str) -> Parsed<String> {
        let lines = split_lines(body);
        let Some((last, lines)) = lines.split_last() else {
            return Ok(String::new());
        };
        let bad = |message: &str| {
            SyntaxError {
            help: Some("every line of a `\"\"\"` string starts with the indentation of its closing `\"\"\"`, which stands on a line of its own".to_string()),
            ..self.error(start, self.pos, message)
        }
        };
        if !last.chars().all(is_space) {
            return Err(bad("the closing `\"\"\"` must be on a line of its own"));
        }
        let mut out = String::with_capacity(body.len());
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if line.chars().all(is_space) {
                continue;
            }
            match line.strip_prefix(last) {
                Some(rest) => out.push_str(rest),
                None => return Err(bad("a line is indented less than the closing `\"\"\"`")),
            }
        }
        Ok(out)
    }

    /// Resolve the escapes of a quoted string's body. `start` is the string's opening quote;
    /// `body_at` is where `body` stands in the text when it is a slice of it (a single-line
    /// string), so that an error can point at the escape itself rather than the string.
    fn unescape(&self, start: usize, body: &str, body_at: Option<usize>) -> Parsed<String> {
        if !body.contains('\\') {
            return Ok(body.to_string());
        }
        let mut out = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let bad = |message: String, upto: Option<usize>| {
                let (from, to) = match (body_at, upto) {
                    (Some(at), Some(upto)) => (at + i, at + upto),
                    _ => (start, self.pos),
                };
                SyntaxError {
                    label: "not an escape".to_string(),
                    help: Some("the escapes are \\n \\r \\t \\\\ \\\" \\b \\f \\s and \\u{…}; for backslashes as they are, use a raw string: #\"C:\\dir\"#".to_string()),
                    ..self.error(from, to, message)
                }
            };
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 't')) => out.push('\t'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'b')) => out.push('\u{8}'),
                Some((_, 'f')) => out.push('\u{C}'),
                Some((_, 's')) => out.push(' '),
                Some((_, 'u')) => {
                    let mut hex = String::new();
                    let mut closed = chars.next().is_some_and(|(_, c)| c == '{');
                    let mut end = i + 2;
                    while closed {
                        match chars.next() {
                            Some((j, '}')) => {
                                end = j + 1;
                                break;
                            }
                            Some((j, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => {
                                hex.push(h);
                                end = j + 1;
                            }
                            _ => closed = false,
                        }
                    }
                    if !closed || hex.is_empty() {
                        return Err(bad(
                            "`\\u{…}` takes one to six hexadecimal digits".to_string(),
                            Some(end),
                        ));
                    }
                    let scalar = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| {
                            bad(
                                format!("`\\u{{{hex}}}` is not a Unicode scalar value"),
                                Some(end),
                            )
                        })?;
                    out.push(scalar);
                }
                Some((_, w)) if is_space(w) || is_newline(w) => {
                    while chars
                        .peek()
                        .is_some_and(|&(_, c)| is_space(c) || is_newline(c))
                    {
                        chars.next();
                    }
                }
                Some((j, other)) => {
                    return Err(bad(
                        format!("unknown escape `\\{other}`"),
                        Some(j + other.len_utf8()),
                    ));
                }
                None => return Err(bad("a string ends in a lone `\\`".to_string(), None)),
            }
        }
        Ok(out)
    }
}

/// Remove a quoted string's whitespace escapes (`\` and the spaces and line breaks after
/// it), leaving every other escape as written: a multi-line string is dedented between the
/// two steps.
fn resolve_whitespace_escapes(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some(&w) if is_space(w) || is_newline(w) => {
                while chars.peek().is_some_and(|&c| is_space(c) || is_newline(c)) {
                    chars.next();
                }
            }
            Some(&other) => {
                out.push('\\');
                out.push(other);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Split at every `newline` (CRLF as one).
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_newline(c) {
            lines.push(&text[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                chars.next();
                end += 1;
            }
            start = end;
        }
    }
    lines.push(&text[start..]);
    lines
}
