//! Stage 1: text → KDL document with byte spans.
//!
//! The `kdl` crate recovers from errors and returns several at once; each becomes one of our
//! diagnostics with the user's file name and a help line for the mistakes people really make
//! (KDL v1 keywords above all).
//!
//! A large file is parsed in pieces side by side: the pre-scan, which follows KDL's strings
//! and comments anyway, notes where a top-level block closes at the end of a line, the text
//! is cut there, each piece is parsed on its own thread, and the pieces' nodes are joined
//! with their spans moved to where they are in the file. The result is the document a
//! parse of the whole text gives (a test compares every node, entry, format and span); any
//! piece that fails to parse sends the whole text through the parser again, so syntax
//! errors are reported exactly as a parse of the whole would.

use kdl::{KdlDocument, KdlEntry, KdlIdentifier, KdlNode};
use miette::SourceSpan;

use crate::diag::{self, Diag};
use crate::source::{FileId, Span};

pub fn parse(text: &str, file: FileId, diags: &mut Vec<Diag>) -> Option<KdlDocument> {
    let cuts = prescan(text, file, diags)?;
    let pieces = crate::par::cores().min(text.len() / PIECE_MIN);
    if let Some(doc) = parse_in_pieces(text, &cuts, pieces) {
        return Some(doc);
    }
    let parsed = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("kdl-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || text.parse::<KdlDocument>())
            .ok()
            .and_then(|h| h.join().ok())
    });
    let Some(parsed) = parsed else {
        diags.push(
            Diag::error(
                diag::TOO_DEEP,
                "the file could not be parsed: no parser thread",
            )
            .label(span(file, 0, 0), "here")
            .help(
                "the system refused a thread for the parser; try again with more memory available",
            ),
        );
        return None;
    };
    match parsed {
        Ok(doc) => Some(doc),
        Err(err) => {
            if err.diagnostics.is_empty() {
                diags.push(
                    Diag::error(diag::SYNTAX, "the file is not valid KDL v2").label(
                        Span {
                            file,
                            offset: 0,
                            len: 0,
                        },
                        "here",
                    ),
                );
            }
            // An unclosed block is reported twice by kdl (at the `{` and again at the end of the
            // file); the first, which points at the block, is the useful one.
            let unclosed = err
                .diagnostics
                .iter()
                .any(|d| d.message.as_deref().is_some_and(is_unclosed_block));
            let total = err.diagnostics.len();
            for d in err.diagnostics.into_iter().take(MAX_SYNTAX_ERRORS) {
                let msg = d.message.as_deref().unwrap_or("");
                if unclosed && msg.starts_with("Closing '}' was not found") {
                    continue;
                }
                let span = Span::new(file, d.span);
                let message = d
                    .message
                    .clone()
                    .unwrap_or_else(|| "invalid KDL".to_string());
                let label = d.label.clone().unwrap_or_else(|| "here".to_string());
                let snippet = text.get(span.offset..span.offset + span.len).unwrap_or("");
                let word = text
                    .get(span.offset..)
                    .unwrap_or("")
                    .split(|c: char| !(c.is_alphanumeric() || c == '-'))
                    .next()
                    .unwrap_or("");
                let help = match (snippet.trim(), word) {
                    (s, _) | (_, s) if ["true", "false", "null", "inf", "nan"].contains(&s) => {
                        Some(format!("KDL v2 writes keywords with a `#`: use `#{s}` (or quote it: \"{s}\")"))
                    }
                    _ if is_unclosed_block(msg) => Some(
                        "add the `}` that closes this block; everything after it was read as part of it"
                            .to_string(),
                    ),
                    _ => d.help.clone().or_else(|| {
                        Some("see docs/language.md; strings with spaces or special characters need double quotes".to_string())
                    }),
                };
                let mut diag = Diag::error(diag::SYNTAX, message).label(span, label);
                if let Some(h) = help {
                    diag = diag.help(h);
                }
                diags.push(diag);
            }
            if total > MAX_SYNTAX_ERRORS {
                diags.push(Diag::error(
                    diag::SYNTAX,
                    format!(
                        "{} more syntax errors are not shown",
                        total - MAX_SYNTAX_ERRORS
                    ),
                ));
            }
            None
        }
    }
}

/// Below this many bytes per piece, a file is parsed whole: starting a thread would cost
/// about as much as it saves.
const PIECE_MIN: usize = 2048;

/// Parse `text` in (up to) `pieces` pieces side by side, cut at `cuts` (offsets just after
/// the line end that follows a top-level block's `}`). `None` when it is not worth it, or
/// when a piece does not parse: then the whole text must be parsed, for its diagnostics.
fn parse_in_pieces(text: &str, cuts: &[usize], pieces: usize) -> Option<KdlDocument> {
    if pieces < 2 {
        return None;
    }
    // Cut as near as possible after each equal share of the text.
    let mut bounds = vec![0];
    for k in 1..pieces {
        let want = text.len() * k / pieces;
        let last = bounds.last().copied().unwrap_or(0);
        let at = cuts.partition_point(|&c| c < want.max(last + 1));
        if let Some(&cut) = cuts.get(at)
            && cut < text.len()
        {
            bounds.push(cut);
        }
    }
    if bounds.len() < 2 {
        return None;
    }
    bounds.push(text.len());
    let pieces: Vec<(usize, &str)> = bounds
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => text.get(*a..*b).map(|t| (*a, t)),
            _ => None,
        })
        .collect();
    let parsed: Vec<Option<KdlDocument>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .iter()
            .map(|&(_, piece)| {
                std::thread::Builder::new()
                    .name("kdl-parse".into())
                    .stack_size(PARSE_STACK)
                    .spawn_scoped(scope, move || piece.parse::<KdlDocument>().ok())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.ok().and_then(|h| h.join().ok()).flatten())
            .collect()
    });
    let mut docs = parsed
        .into_iter()
        .zip(pieces.iter().map(|&(offset, _)| offset));
    let (first, _) = docs.next()?;
    let mut doc = first?;
    let start = doc.span().offset();
    let mut end = start + doc.span().len();
    for (piece, offset) in docs {
        let mut piece = piece?;
        // A piece of only comments would have them as its document's leading text, where
        // a parse of the whole puts them elsewhere; such a cut is not used.
        if piece.nodes().is_empty() {
            return None;
        }
        shift_document(&mut piece, offset);
        end = piece.span().offset() + piece.span().len();
        // What follows the last node of the piece before (a node commented out with `/-`)
        // leads the next node in a parse of the whole; the piece's trailing text ends it.
        let (lead, trailing) = piece
            .format()
            .map(|f| (f.leading.clone(), f.trailing.clone()))
            .unwrap_or_default();
        let before = doc
            .format_mut()
            .map(|f| std::mem::replace(&mut f.trailing, trailing))
            .unwrap_or_default();
        if let Some(f) = piece.nodes_mut().first_mut().and_then(KdlNode::format_mut) {
            f.leading = format!("{before}{lead}{}", f.leading);
        }
        doc.nodes_mut().append(piece.nodes_mut());
    }
    doc.set_span(SourceSpan::new(start.into(), end - start));
    Some(doc)
}

fn shifted(span: SourceSpan, by: usize) -> SourceSpan {
    SourceSpan::new((span.offset() + by).into(), span.len())
}

/// Move every span in `doc` by `by` bytes.
fn shift_document(doc: &mut KdlDocument, by: usize) {
    doc.set_span(shifted(doc.span(), by));
    for node in doc.nodes_mut() {
        shift_node(node, by);
    }
}

fn shift_node(node: &mut KdlNode, by: usize) {
    node.set_span(shifted(node.span(), by));
    shift_identifier(node.name_mut(), by);
    if let Some(ty) = node.ty_mut() {
        shift_identifier(ty, by);
    }
    for entry in node.entries_mut() {
        shift_entry(entry, by);
    }
    if let Some(children) = node.children_mut() {
        shift_document(children, by);
    }
}

fn shift_entry(entry: &mut KdlEntry, by: usize) {
    entry.set_span(shifted(entry.span(), by));
    if let Some(name) = entry.name_mut() {
        shift_identifier(name, by);
    }
    if let Some(ty) = entry.ty_mut() {
        shift_identifier(ty, by);
    }
}

fn shift_identifier(id: &mut KdlIdentifier, by: usize) {
    id.set_span(shifted(id.span(), by));
}

/// Syntax errors beyond the first hundred are almost always one mistake echoing on.
const MAX_SYNTAX_ERRORS: usize = 100;

fn is_unclosed_block(message: &str) -> bool {
    message.starts_with("No closing '}'")
}

/// The stack of the thread the kdl parser runs on. Its recursion costs several kilobytes per
/// level in a debug build; with the limits below the deepest input needs about 20 MiB there,
/// far less in release. The stack is virtual memory, touched only as deep as the parse goes.
const PARSE_STACK: usize = 64 << 20;

/// The deepest `{ … }` nesting a declaration may have. The language itself needs three levels
/// (`service` → `health` → `exec`); the limit is far above that and far below what overflows
/// the stack, because the kdl crate's parser recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// The most pieces one `/* … */` comment may have. kdl parses a block comment recursively,
/// one level per `*`, `/`, nested comment or run of other text, so a comment with hundreds of
/// thousands of them would overflow the stack as surely as deep braces.
pub const MAX_COMMENT_PIECES: usize = 4096;

/// How many unreadable characters are reported one by one before the rest are summarised.
const MAX_CHAR_REPORTS: usize = 10;

/// Cheap checks before the kdl parser sees the text: nesting depth (see [`MAX_DEPTH`]), block
/// comment size, and characters that KDL forbids or that would make line numbers disagree
/// between luciac, editors and terminals. `false` when the text must not be parsed.
///
/// The scan follows KDL v2's lexical rules for strings and comments, so that braces inside
/// them are not counted. Where it is unsure (a single-line string running into a newline) it
/// ends the string, which can only count more braces, never fewer: it errs towards refusing.
///
/// `Some` with the offsets where the text may be cut for a parse in pieces (just after a
/// `}` that closes a top-level block and ends its line), `None` when it must not be parsed.
fn prescan(text: &str, file: FileId, diags: &mut Vec<Diag>) -> Option<Vec<usize>> {
    let ok_chars = check_chars(text, file, diags);
    let mut cuts = Vec::new();
    let b = text.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let mut depth = 0usize;
    // `/-` directly after `/-` (only whitespace between): kdl recurses once per link.
    let mut slashdashes = 0usize;
    let mut i = 0usize;
    while let Some(c) = at(i) {
        if c == b'/' && at(i + 1) == Some(b'-') {
            slashdashes += 1;
            if slashdashes > MAX_DEPTH {
                diags.push(
                    Diag::error(
                        diag::TOO_DEEP,
                        format!("more than {MAX_DEPTH} `/-` in a row"),
                    )
                    .label(span(file, i, 2), "too many here")
                    .help("one `/-` comments out the node, entry or block after it; remove the others"),
                );
                return None;
            }
            i += 2;
            continue;
        } else if !c.is_ascii_whitespace() {
            slashdashes = 0;
        }
        match c {
            b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    diags.push(
                        Diag::error(
                            diag::TOO_DEEP,
                            format!("blocks are nested more than {MAX_DEPTH} levels deep"),
                        )
                        .label(span(file, i, 1), format!("level {depth} starts here"))
                        .help("a declaration needs at most three levels (service → health → exec); check for a `{` that should be a `}`"),
                    );
                    return None;
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
                if depth == 0 {
                    match (at(i), at(i + 1)) {
                        (Some(b'\n'), _) => cuts.push(i + 1),
                        (Some(b'\r'), Some(b'\n')) => cuts.push(i + 2),
                        _ => {}
                    }
                }
            }
            b'/' if at(i + 1) == Some(b'/') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
            }
            b'/' if at(i + 1) == Some(b'*') => match block_comment(b, i) {
                Ok(end) => i = end,
                Err(()) => {
                    diags.push(
                        Diag::error(diag::TOO_DEEP, "this comment is too large to read")
                            .label(span(file, i, 2), "the comment starts here")
                            .help(format!("a `/* … */` comment may hold at most {MAX_COMMENT_PIECES} `*`, `/` or nested comments; use `//` line comments")),
                    );
                    return None;
                }
            },
            b'"' => i = string_end(b, i, 0),
            b'#' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                if at(i + hashes) == Some(b'"') {
                    i = string_end(b, i + hashes, hashes);
                } else {
                    i += hashes;
                }
            }
            _ => i += 1,
        }
    }
    ok_chars.then_some(cuts)
}

fn span(file: FileId, offset: usize, len: usize) -> Span {
    Span { file, offset, len }
}

/// The end of the string whose opening `"` is at `i`, preceded by `hashes` `#` (a raw string
/// when there are any). Multi-line (`"""`) strings end at `"""` followed by the hashes.
fn string_end(b: &[u8], i: usize, hashes: usize) -> usize {
    let raw = hashes > 0;
    let multi = b.get(i..i + 3) == Some(b"\"\"\"");
    let quote: &[u8] = if multi { b"\"\"\"" } else { b"\"" };
    let mut j = i + quote.len();
    while j < b.len() {
        match b[j] {
            b'\\' if !raw => j += 2,
            b'\n' if !multi => return j,
            b'"' if b[j..].starts_with(quote)
                && b[j + quote.len()..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == b'#')
                    .count()
                    == hashes =>
            {
                return j + quote.len() + hashes;
            }
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of the (nestable) block comment starting at `i`, or `Err` when it has more
/// pieces than the parser can take (see [`MAX_COMMENT_PIECES`]).
fn block_comment(b: &[u8], i: usize) -> Result<usize, ()> {
    let mut nesting = 0usize;
    let mut pieces = 0usize;
    let mut j = i;
    while j < b.len() {
        if b[j..].starts_with(b"/*") {
            nesting += 1;
            pieces += 1;
            j += 2;
        } else if b[j..].starts_with(b"*/") {
            nesting -= 1;
            j += 2;
            if nesting == 0 {
                return Ok(j);
            }
        } else if b[j] == b'*' || b[j] == b'/' {
            pieces += 1;
            j += 1;
        } else {
            pieces += 1;
            j += b[j..]
                .iter()
                .position(|&c| c == b'*' || c == b'/')
                .unwrap_or(b.len() - j);
        }
        if pieces > MAX_COMMENT_PIECES {
            return Err(());
        }
    }
    Ok(b.len())
}

/// Report characters KDL forbids (controls, bidi overrides, a byte-order mark after the
/// start) and line breaks other than LF and CRLF: KDL counts U+2028, U+0085, VT, FF and a lone
/// CR as newlines, editors and luciac's own line numbers do not, so a diagnostic would point
/// at the wrong line. The character itself is never printed, only its code point.
fn check_chars(text: &str, file: FileId, diags: &mut Vec<Diag>) -> bool {
    let mut found = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next_is_lf = chars.peek().is_some_and(|&(_, n)| n == '\n');
        let why = match c {
            '\u{FEFF}' if i == 0 => continue,
            '\r' if next_is_lf => continue,
            '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                "a line break other than LF or CRLF"
            }
            '\u{FEFF}' => "a byte-order mark after the start of the file",
            '\u{200E}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => {
                "a bidirectional control character, which can make text display in another order than it is read"
            }
            c if c.is_control() && c != '\n' && c != '\t' => "a control character",
            _ => continue,
        };
        found += 1;
        if found <= MAX_CHAR_REPORTS {
            diags.push(
                Diag::error(
                    diag::BAD_CHARACTER,
                    format!("the file contains U+{:04X}, {why}", u32::from(c)),
                )
                .label(span(file, i, c.len_utf8()), "here")
                .help(format!(
                    "delete it; inside a quoted string write it as the escape \\u{{{:X}}}",
                    u32::from(c)
                )),
            );
        }
    }
    if found > MAX_CHAR_REPORTS {
        diags.push(Diag::error(
            diag::BAD_CHARACTER,
            format!(
                "{} more such characters are not shown",
                found - MAX_CHAR_REPORTS
            ),
        ));
    }
    found == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every span in a document, in order: the document's, then each node's, its name's and
    /// type's, its entries' (with their names and types), and its children's.
    fn spans(doc: &KdlDocument, out: &mut Vec<(usize, usize)>) {
        fn push(out: &mut Vec<(usize, usize)>, s: SourceSpan) {
            out.push((s.offset(), s.len()));
        }
        push(out, doc.span());
        for node in doc.nodes() {
            push(out, node.span());
            push(out, node.name().span());
            if let Some(ty) = node.ty() {
                push(out, ty.span());
            }
            for e in node.entries() {
                push(out, e.span());
                if let Some(n) = e.name() {
                    push(out, n.span());
                }
                if let Some(t) = e.ty() {
                    push(out, t.span());
                }
            }
            if let Some(c) = node.children() {
                spans(c, out);
            }
        }
    }

    /// A parse in any number of pieces is the parse of the whole: nodes, formats and spans;
    /// text the whole parse refuses is never accepted in pieces.
    fn same_in_pieces(name: &str, text: &str) {
        let mut diags = Vec::new();
        let Some(cuts) = prescan(text, 0, &mut diags) else {
            return;
        };
        let whole = text.parse::<KdlDocument>().ok();
        for pieces in 2..=5 {
            let Some(doc) = parse_in_pieces(text, &cuts, pieces) else {
                continue;
            };
            let Some(whole) = &whole else {
                panic!("{name}: {pieces} pieces parsed what the whole parse refuses");
            };
            assert_eq!(&doc, whole, "{name}: {pieces} pieces");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            spans(&doc, &mut a);
            spans(whole, &mut b);
            assert_eq!(a, b, "{name}: spans in {pieces} pieces");
            assert_eq!(
                doc.to_string(),
                whole.to_string(),
                "{name}: {pieces} pieces"
            );
        }
    }

    #[test]
    fn pieces_parse_as_the_whole() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cases: Vec<(String, String)> = crate::defaults::FILES
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        let mut corpus: Vec<_> = std::fs::read_dir(dir.join("tests/corpus"))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        corpus.sort();
        for path in corpus {
            if let Ok(text) = std::fs::read_to_string(&path) {
                cases.push((path.display().to_string(), text));
            }
        }
        assert!(cases.len() > 30);
        let tricky = [
            "a {\n}\n/* x {\n}\n*/ b {\n}\nc 1\n",
            "a {\n}\nb #\"\"\"\n  }\n  x {\n}\n  \"\"\"#\nc {\n}\n",
            "a {\n}\n/-b {\n}\nc {\n}\nd {\n}\n",
            "a {\n}\n/-\nb {\n}\nc {\n}\n",
            "a \\\n{\n}\nb {\n}\nc {\n}\n",
            "a {\r\n}\r\nb {\r\n}\r\nc {\r\n}\r\n",
            "a {\n} // c\nb {\n}\nc {\n}\n",
            "a {\n}\nb {\n}\n// the end\n",
            "a {\n  b {\n  }\n}\nc {\n  d {\n  }\n}\n",
            "(t)a k=(u)1 {\n}\n// lead\n\n(t)b (v)\"x\" {\n}\nc;d {\n}\n",
            "a {\n}\nb \"unclosed {\n}\nc {\n}\n",
            "a {\n}\n}\nc {\n}\n",
            "a {\n}\nb {\n}\nc { d 1 }\n",
        ];
        for (i, t) in tricky.iter().enumerate() {
            cases.push((format!("tricky {i}"), t.to_string()));
        }
        // Every case cut everywhere it may be cut, as well as in equal shares.
        for (name, text) in &cases {
            same_in_pieces(name, text);
            let mut diags = Vec::new();
            if let Some(cuts) = prescan(text, 0, &mut diags) {
                for &cut in &cuts {
                    if let Some(doc) = parse_in_pieces(text, &[cut], 2) {
                        let whole = text
                            .parse::<KdlDocument>()
                            .unwrap_or_else(|e| panic!("{name}: cut at {cut}: {e}"));
                        assert_eq!(doc, whole, "{name}: cut at {cut}");
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        spans(&doc, &mut a);
                        spans(&whole, &mut b);
                        assert_eq!(a, b, "{name}: spans, cut at {cut}");
                    }
                }
            }
        }
    }
}
