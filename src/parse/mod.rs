//! Stage 1: text → KDL document with byte spans.
//!
//! Characters KDL forbids, and line breaks other than LF and CRLF, are reported first (all of
//! them, by code point). Then [`parser`] reads the text in one pass and stops at the first
//! syntax error, which becomes one diagnostic with the user's file name and a help line.

mod document;
mod parser;
mod values;

pub use document::{Document, Entry, Ident, Node, Value};
pub use parser::{ErrorKind, MAX_DEPTH, SyntaxError, decode_string};

use crate::diag::{self, Diag};
use crate::source::{FileId, Span};

/// Parse one file; `None` (with the diagnostics in `diags`) when it is not valid KDL v2 or
/// holds characters luciac does not read.
pub fn parse(text: &str, file: FileId, diags: &mut Vec<Diag>) -> Option<Document> {
    // `check_chars` refuses every character KDL forbids, and more: the parser need not
    // look for them again (a test below checks that it refuses all of them).
    if !check_chars(text, file, diags) {
        return None;
    }
    match parser::parse(text) {
        Ok(doc) => Some(doc),
        Err(e) => {
            diags.push(diagnostic(e, file));
            None
        }
    }
}

/// Parse KDL text as the specification reads it, without luciac's stricter checks of its
/// characters and without diagnostics.
pub fn parse_text(text: &str) -> Result<Document, SyntaxError> {
    parser::check_code_points(text)?;
    parser::parse(text)
}

fn diagnostic(e: SyntaxError, file: FileId) -> Diag {
    let code = match e.kind {
        ErrorKind::Syntax => diag::SYNTAX,
        ErrorKind::TooDeep => diag::TOO_DEEP,
    };
    let mut d = Diag::error(code, e.message).label(span(file, e.offset, e.len), e.label);
    if let Some(help) = e.help {
        d = d.help(help);
    }
    d
}

fn span(file: FileId, offset: usize, len: usize) -> Span {
    Span { file, offset, len }
}

/// How many unreadable characters are reported one by one before the rest are summarised.
const MAX_CHAR_REPORTS: usize = 10;

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
    /// Every code point the KDL grammar forbids is refused by `check_chars` too, which is why
    /// `parse` does not run the parser's own scan for them.
    #[test]
    fn check_chars_refuses_every_character_kdl_forbids() {
        let forbidden: Vec<char> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| super::parser::check_code_points(&format!("a{c}")).is_err())
            .collect();
        assert!(forbidden.len() >= 40, "{forbidden:?}");
        for c in forbidden {
            let mut diags = Vec::new();
            assert!(
                !super::check_chars(&format!("a{c}"), 0, &mut diags),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }
}
