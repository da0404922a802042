//! A tolerant KDL v2 lexer and outline tree, for the formatter and the language server.
//!
//! The compiler proper parses with [`crate::parse`], which gives nothing back for a file that
//! does not parse. An editor needs the opposite: the file being typed is broken most of the
//! time (`env "URL" "{param.` has no closing quote yet), and hover, completion and the outline
//! must still work. This module never fails: every byte lands in some token, an unterminated
//! string ends at the end of its line, and an unclosed `{` ends at the end of the file. It
//! knows the *shape* of KDL (nodes, arguments, properties, children), never the meaning of
//! `lucia.kdl`; that stays in `decode` and `resolve`.

/// What a token is. Comments, whitespace and newlines are tokens too, so that the formatter
/// can keep every comment and the tokens always cover the whole text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Spaces and tabs (and a BOM).
    Space,
    Newline,
    LineComment,
    BlockComment,
    /// `/-`: comments out the next node, entry or children block.
    Slashdash,
    /// A quoted, raw or multi-line string.
    Str,
    /// An identifier, number or `#keyword`.
    Word,
    /// `(type)` annotation.
    Annotation,
    Open,
    Close,
    Semi,
    Equals,
    /// `\` line continuation.
    Continuation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        src.get(self.start..self.end).unwrap_or("")
    }

    pub fn is_trivia(&self) -> bool {
        matches!(
            self.kind,
            Kind::Space | Kind::LineComment | Kind::BlockComment | Kind::Continuation
        )
    }
}

fn is_newline(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{85}' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}'
    )
}

fn is_space(c: char) -> bool {
    !is_newline(c) && (c.is_whitespace() || c == '\u{FEFF}')
}

/// Characters that end a bare word.
fn ends_word(c: char) -> bool {
    is_space(c) || is_newline(c) || "{}()[]/\\\";=".contains(c)
}

/// Split `src` into tokens covering every byte, in order.
pub fn lex(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        let Some(c) = rest.chars().next() else { break };
        let (kind, len) = if rest.starts_with("\r\n") {
            (Kind::Newline, 2)
        } else if is_newline(c) {
            (Kind::Newline, c.len_utf8())
        } else if is_space(c) {
            let n = rest.find(|c: char| !is_space(c)).unwrap_or(rest.len());
            (Kind::Space, n)
        } else if rest.starts_with("//") {
            let n = rest.find(is_newline).unwrap_or(rest.len());
            (Kind::LineComment, n)
        } else if rest.starts_with("/*") {
            (Kind::BlockComment, block_comment_len(rest))
        } else if rest.starts_with("/-") {
            (Kind::Slashdash, 2)
        } else if c == '"' {
            (Kind::Str, quoted_len(rest, 0))
        } else if c == '#' && rest.trim_start_matches('#').starts_with('"') {
            let hashes = rest.len() - rest.trim_start_matches('#').len();
            (Kind::Str, raw_len(rest, hashes))
        } else if c == '(' {
            let n = rest
                .find(|c: char| c == ')' || is_newline(c))
                .map(|n| if rest[n..].starts_with(')') { n + 1 } else { n })
                .unwrap_or(rest.len());
            (Kind::Annotation, n)
        } else if c == '{' {
            (Kind::Open, 1)
        } else if c == '}' {
            (Kind::Close, 1)
        } else if c == ';' {
            (Kind::Semi, 1)
        } else if c == '=' {
            (Kind::Equals, 1)
        } else if c == '\\' {
            (Kind::Continuation, 1)
        } else {
            let n = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| ends_word(*c))
                .map(|(n, _)| n)
                .unwrap_or(rest.len());
            (Kind::Word, n.max(c.len_utf8()))
        };
        out.push(Token {
            kind,
            start: i,
            end: i + len,
        });
        i += len;
    }
    out
}

/// Length of a (nested) block comment; an unclosed one runs to the end.
fn block_comment_len(s: &str) -> usize {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with("/*") {
            depth += 1;
            i += 2;
        } else if s[i..].starts_with("*/") {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    s.len()
}

/// Length of a `"…"` or `"""…"""` string starting `hashes` bytes into `s` (escapes honoured).
/// A single-line string that meets a newline ends before it: the file is broken there, and the
/// rest of the line must not swallow the remainder of the file.
fn quoted_len(s: &str, hashes: usize) -> usize {
    let body = &s[hashes..];
    let multi = body.starts_with("\"\"\"");
    let open = if multi { 3 } else { 1 };
    let close = format!(
        "{}{}",
        if multi { "\"\"\"" } else { "\"" },
        "#".repeat(hashes)
    );
    let mut i = hashes + open;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with(&close) {
            return i + close.len();
        }
        let Some(c) = rest.chars().next() else { break };
        if hashes == 0 && c == '\\' {
            i += 1 + rest[1..].chars().next().map_or(0, char::len_utf8);
            continue;
        }
        if !multi && is_newline(c) {
            return i;
        }
        i += c.len_utf8();
    }
    s.len()
}

fn raw_len(s: &str, hashes: usize) -> usize {
    quoted_len(s, hashes)
}

/// The text inside a string token's quotes, and its byte offset in the token.
pub fn string_content(token_text: &str) -> (usize, &str) {
    let hashes = token_text.len() - token_text.trim_start_matches('#').len();
    let body = &token_text[hashes..];
    let q = if body.starts_with("\"\"\"") { 3 } else { 1 };
    let start = (hashes + q).min(token_text.len());
    let mut end = token_text.len();
    let closing = format!("{}{}", "\"".repeat(q), "#".repeat(hashes));
    if token_text.len() >= start + closing.len() && token_text.ends_with(&closing) {
        end -= closing.len();
    }
    (start, token_text.get(start..end).unwrap_or(""))
}

/// The value a string or word token stands for: a string as the compiler decodes it
/// ([`crate::parse::decode_string`]); bare words, and a string still being typed (unclosed, or
/// with an escape not finished), as written between its quotes.
pub fn value_text(token: &Token, src: &str) -> String {
    let text = token.text(src);
    if token.kind != Kind::Str {
        return text.to_string();
    }
    crate::parse::decode_string(text).unwrap_or_else(|| string_content(text).1.to_string())
}

// ---- the outline tree ------------------------------------------------------------------

/// A value written in the source: a string, number or keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub token: Token,
    /// The decoded text (see [`value_text`]).
    pub text: String,
}

/// `value` or `key=value`. An entry being typed may have a key and no value yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Option<(String, Token)>,
    pub value: Option<Value>,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub name_token: Token,
    pub entries: Vec<Entry>,
    pub children: Vec<Node>,
    /// From the name to the end of the last entry or the closing `}`.
    pub start: usize,
    pub end: usize,
    /// The children block: the offset of `{` and of `}` (the end of the text if unclosed).
    pub block: Option<(usize, usize)>,
}

impl Node {
    /// The positional arguments.
    pub fn args(&self) -> impl Iterator<Item = &Value> {
        self.entries
            .iter()
            .filter(|e| e.key.is_none())
            .filter_map(|e| e.value.as_ref())
    }

    pub fn arg(&self, i: usize) -> Option<&Value> {
        self.args().nth(i)
    }

    pub fn prop(&self, key: &str) -> Option<&Value> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key.as_ref().is_some_and(|(k, _)| k == key))
            .and_then(|e| e.value.as_ref())
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// A whole file's outline. Slashdashed items are left out: they mean nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

pub fn tree(src: &str) -> Tree {
    let tokens: Vec<Token> = lex(src).into_iter().filter(|t| !t.is_trivia()).collect();
    let mut p = TreeBuilder {
        src,
        tokens,
        pos: 0,
        depth: 0,
    };
    Tree {
        nodes: p.nodes(false),
    }
}

struct TreeBuilder<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Blocks open around `pos`. Building recurses once per block, so blocks deeper than
    /// `parse::MAX_DEPTH` (which the compiler refuses anyway) are skipped, not built.
    depth: usize,
}

impl TreeBuilder<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn nodes(&mut self, nested: bool) -> Vec<Node> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Newline | Kind::Semi => self.pos += 1,
                Kind::Close if nested => return out,
                // A stray `}` at the top level or a stray `=`: skip it, keep going.
                Kind::Close | Kind::Equals | Kind::Open => self.pos += 1,
                Kind::Slashdash => {
                    self.pos += 1;
                    self.skip_newlines();
                    let _ = self.node();
                }
                _ => out.extend(self.node()),
            }
        }
        out
    }

    /// Skip the inside of a block, up to (not including) its closing `}`, without recursing.
    fn skip_block(&mut self) {
        let mut open = 0usize;
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Open => open += 1,
                Kind::Close if open == 0 => return,
                Kind::Close => open -= 1,
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek().is_some_and(|t| t.kind == Kind::Newline) {
            self.pos += 1;
        }
    }

    fn node(&mut self) -> Option<Node> {
        if self.peek()?.kind == Kind::Annotation {
            self.pos += 1;
        }
        let name_token = self.peek()?;
        if !matches!(name_token.kind, Kind::Word | Kind::Str) {
            self.pos += 1;
            return None;
        }
        self.pos += 1;
        let mut node = Node {
            name: value_text(&name_token, self.src),
            name_token,
            entries: vec![],
            children: vec![],
            start: name_token.start,
            end: name_token.end,
            block: None,
        };
        let mut dashed = false;
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::Newline | Kind::Semi => {
                    self.pos += 1;
                    break;
                }
                Kind::Close => break,
                Kind::Slashdash => {
                    self.pos += 1;
                    dashed = true;
                    continue;
                }
                Kind::Open => {
                    self.pos += 1;
                    let children = if self.depth < crate::parse::MAX_DEPTH {
                        self.depth += 1;
                        let c = self.nodes(true);
                        self.depth -= 1;
                        c
                    } else {
                        self.skip_block();
                        Vec::new()
                    };
                    let close = self.peek().filter(|t| t.kind == Kind::Close);
                    let (inner_end, end) = match close {
                        Some(c) => {
                            self.pos += 1;
                            (c.start, c.end)
                        }
                        None => (self.src.len(), self.src.len()),
                    };
                    if !dashed {
                        node.children = children;
                        node.block = Some((t.start, inner_end));
                    }
                    node.end = end;
                }
                _ => {
                    let entry = self.entry();
                    node.end = node.end.max(entry.end);
                    if !dashed {
                        node.entries.push(entry);
                    }
                }
            }
            dashed = false;
        }
        Some(node)
    }

    fn entry(&mut self) -> Entry {
        let Some(first) = self.peek() else {
            return Entry {
                key: None,
                value: None,
                start: self.src.len(),
                end: self.src.len(),
            };
        };
        self.pos += 1;
        let mut first = first;
        if first.kind == Kind::Annotation
            && let Some(t) = self
                .peek()
                .filter(|t| matches!(t.kind, Kind::Word | Kind::Str))
        {
            self.pos += 1;
            first = t;
        }
        if self.peek().is_some_and(|t| t.kind == Kind::Equals) {
            let eq = self.peek().map_or(first.end, |t| t.end);
            self.pos += 1;
            if self.peek().is_some_and(|t| t.kind == Kind::Annotation) {
                self.pos += 1;
            }
            let value = self
                .peek()
                .filter(|t| matches!(t.kind, Kind::Word | Kind::Str));
            if value.is_some() {
                self.pos += 1;
            }
            return Entry {
                key: Some((value_text(&first, self.src), first)),
                end: value.map_or(eq, |v| v.end),
                value: value.map(|t| Value {
                    text: value_text(&t, self.src),
                    token: t,
                }),
                start: first.start,
            };
        }
        Entry {
            key: None,
            value: matches!(first.kind, Kind::Word | Kind::Str).then(|| Value {
                text: value_text(&first, self.src),
                token: first,
            }),
            start: first.start,
            end: first.end,
        }
    }
}

/// The nodes containing `offset`, outermost first. A node's range ends at the end of its line
/// or its closing `}`, so a cursor right after the last entry still counts as inside.
pub fn path_at(tree: &Tree, offset: usize) -> Vec<&Node> {
    let mut out = Vec::new();
    let mut nodes = &tree.nodes;
    while let Some(n) = nodes.iter().find(|n| n.start <= offset && offset <= n.end) {
        out.push(n);
        match n.block {
            Some((open, close)) if open < offset && offset <= close => nodes = &n.children,
            _ => break,
        }
    }
    out
}

/// A reference written inside a string: `{param.NAME}`, `{SERVICE.host}`, `{SERVICE.port.P}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The dotted segments with their byte ranges in the source.
    pub segments: Vec<(String, usize, usize)>,
    /// The `{`…`}` range (the end is the end of the text when unclosed).
    pub start: usize,
    pub end: usize,
    pub closed: bool,
}

/// Every reference in a string token, with source offsets. `{{` and `}}` are literal braces.
pub fn references(token: &Token, src: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    if token.kind != Kind::Str {
        return out;
    }
    let (offset, content) = string_content(token.text(src));
    let base = token.start + offset;
    let bytes = content.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let inner_start = i + 1;
                let close = content[inner_start..].find('}').map(|n| inner_start + n);
                let inner_end = close.unwrap_or(content.len());
                let mut segments = Vec::new();
                let mut s = inner_start;
                for seg in content[inner_start..inner_end].split('.') {
                    segments.push((seg.to_string(), base + s, base + s + seg.len()));
                    s += seg.len() + 1;
                }
                out.push(Reference {
                    segments,
                    start: base + i,
                    end: base + close.map_or(inner_end, |c| c + 1),
                    closed: close.is_some(),
                });
                i = close.map_or(content.len(), |c| c + 1);
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cover_every_byte() {
        let src =
            "a \"b\\\"c\" #\"r\"# /* x /* y */ */ k=#true { d; } // e\n/-f 1\n\"unclosed\n(t)g";
        let toks = lex(src);
        let mut at = 0;
        for t in &toks {
            assert_eq!(t.start, at);
            at = t.end;
        }
        assert_eq!(at, src.len());
    }

    #[test]
    fn a_deeply_nested_file_does_not_overflow_the_stack() {
        let n = 100_000;
        let src = format!("a {}{}\nb\n", "x {".repeat(n), "}".repeat(n));
        let t = tree(&src);
        assert_eq!(t.nodes.len(), 2);
    }

    #[test]
    fn tree_of_a_broken_file() {
        let src = "service \"a\" {\n    env \"K\" \"{param.\n    port \"http\" 80\n";
        let t = tree(src);
        assert_eq!(t.nodes.len(), 1);
        let svc = &t.nodes[0];
        assert_eq!(svc.arg(0).map(|v| v.text.as_str()), Some("a"));
        assert_eq!(svc.children.len(), 2);
        assert_eq!(svc.children[1].name, "port");
        let env = &svc.children[0];
        let refs = references(&env.arg(1).expect("value").token, src);
        assert_eq!(refs.len(), 1);
        assert!(!refs[0].closed);
        assert_eq!(refs[0].segments[0].0, "param");
    }

    #[test]
    fn references_skip_escaped_braces() {
        let src = "env \"K\" \"{{x}} {redis.port.redis}\"";
        let t = tree(src);
        let v = t.nodes[0].arg(1).expect("value");
        let refs = references(&v.token, src);
        assert_eq!(refs.len(), 1);
        let (name, s, e) = &refs[0].segments[2];
        assert_eq!(name, "redis");
        assert_eq!(&src[*s..*e], "redis");
    }
}
