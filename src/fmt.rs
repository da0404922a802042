//! `luciac fmt`: the canonical layout of a declaration or profile.
//!
//! The formatter works on the token stream of [`crate::syntax`], not on a parsed document, so
//! that it can keep every comment exactly where it was relative to the code. It only changes
//! layout: one node per line (`;` becomes a line break), four spaces per level, one space
//! between entries, `key=value` without spaces, children blocks opened on the node's line and
//! closed on their own line, at most one blank line in a row and none at the start or end of a
//! block, no trailing whitespace, one final newline. Strings, numbers and comments are copied
//! byte for byte, which is why the output means the same as the input.
//!
//! That is also checked on every run: the input and the output are both parsed and compared,
//! spans aside. A file that does not parse is refused (an editor
//! mid-edit must not see its text rearranged), and if the check ever failed the input would be
//! returned unchanged with an error rather than a changed meaning.

use crate::diag::Diag;
use crate::source::FileId;
use crate::syntax::{Kind, lex};

#[derive(Debug)]
pub enum FmtError {
    /// The text is not valid KDL v2; the diagnostics say where.
    Syntax(Vec<Diag>),
    /// The formatted text would parse to a different document (a formatter bug).
    Unstable,
}

/// Format `src`. `file` only labels the syntax diagnostics.
pub fn format(src: &str, file: FileId) -> Result<String, FmtError> {
    let mut diags = Vec::new();
    let Some(before) = crate::parse::parse(src, file, &mut diags) else {
        return Err(FmtError::Syntax(diags));
    };
    let out = layout(src);
    match crate::parse::parse_text(&out) {
        Ok(after) if before.same_as(&after) => Ok(out),
        _ => Err(FmtError::Unstable),
    }
}

const INDENT: &str = "    ";

struct Writer {
    out: String,
    line: String,
    depth: usize,
    /// The current line continues a node after `\`: indent one level deeper.
    continued: bool,
    blank_pending: bool,
    /// No space before the next token (after `=`, `/-` or an annotation).
    glue: bool,
    /// The last line written opened a block (so no blank line may follow it).
    after_open: bool,
    /// The current line opened a block.
    opened: bool,
    /// The node on this line has ended (`{` or `;`): the next token other than a comment
    /// starts a new line, while a comment stays on this one.
    break_pending: bool,
}

impl Writer {
    fn push_token(&mut self, text: &str) {
        if self.line.is_empty() {
            if self.blank_pending && !self.out.is_empty() && !self.after_open {
                self.out.push('\n');
            }
            self.blank_pending = false;
            let levels = self.depth + usize::from(self.continued);
            self.line.push_str(&INDENT.repeat(levels));
        } else if !self.glue && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
        self.line.push_str(text);
        self.glue = false;
    }

    fn end_line(&mut self) {
        if self.line.trim().is_empty() {
            self.line.clear();
            return;
        }
        self.out.push_str(self.line.trim_end());
        self.out.push('\n');
        self.after_open = self.opened;
        self.opened = false;
        self.break_pending = false;
        self.line.clear();
        self.continued = false;
        self.glue = false;
    }
}

/// Lay the tokens of `src` out canonically (without checking that `src` parses).
pub fn layout(src: &str) -> String {
    let mut w = Writer {
        out: String::new(),
        line: String::new(),
        depth: 0,
        continued: false,
        blank_pending: false,
        glue: false,
        after_open: false,
        opened: false,
        break_pending: false,
    };
    // Newlines seen since the last token: two or more make a blank line.
    let mut newlines = 0usize;
    let mut pending_continuation = false;
    for t in lex(src) {
        let text = t.text(src);
        if t.kind != Kind::Newline && t.kind != Kind::Space {
            if newlines >= 2 {
                w.blank_pending = true;
            }
            newlines = 0;
            let comment = matches!(t.kind, Kind::LineComment | Kind::BlockComment);
            if w.break_pending && !comment {
                w.end_line();
            }
        }
        match t.kind {
            Kind::Space => {}
            Kind::Newline => {
                newlines += 1;
                if pending_continuation {
                    pending_continuation = false;
                    w.out.push_str(w.line.trim_end());
                    w.out.push('\n');
                    w.line.clear();
                    w.continued = true;
                    newlines = 0;
                } else {
                    w.end_line();
                }
            }
            Kind::LineComment => w.push_token(text.trim_end()),
            Kind::Continuation => {
                w.push_token("\\");
                pending_continuation = true;
            }
            Kind::Open => {
                w.push_token("{");
                w.opened = true;
                w.break_pending = true;
                w.depth += 1;
            }
            Kind::Close => {
                w.end_line();
                w.blank_pending = false;
                w.depth = w.depth.saturating_sub(1);
                w.push_token("}");
            }
            Kind::Semi => w.break_pending = true,
            Kind::Equals => {
                w.line = w.line.trim_end().to_string();
                w.glue = true;
                w.line.push('=');
            }
            Kind::Slashdash | Kind::Annotation => {
                w.push_token(text);
                w.glue = true;
            }
            Kind::Str | Kind::Word | Kind::BlockComment => w.push_token(text),
        }
    }
    w.end_line();
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_blocks_entries_and_comments() {
        let src = "\n\n// head\napp \"x\"   version = \"1\" {description \"d\"; home \"h\"}\n\n\n\n\
                   service \"a\" { // trailing\n\n  image \"i\"\n\n}\n";
        let out = format(src, 0).expect("formats");
        assert_eq!(
            out,
            "// head\napp \"x\" version=\"1\" {\n    description \"d\"\n    home \"h\"\n}\n\n\
             service \"a\" { // trailing\n    image \"i\"\n}\n"
        );
        assert_eq!(format(&out, 0).expect("formats again"), out);
    }

    #[test]
    fn refuses_broken_text() {
        assert!(matches!(format("a \"b", 0), Err(FmtError::Syntax(_))));
    }

    #[test]
    fn keeps_slashdash_annotations_and_multiline_strings() {
        let src = "/- a 1\nb (u8)2 /-k=3 \"\"\"\n  x\n  \"\"\" /-{ c }\n";
        let out = format(src, 0).expect("formats");
        assert_eq!(format(&out, 0).expect("again"), out);
        assert!(out.contains("/-a 1"));
    }
}
