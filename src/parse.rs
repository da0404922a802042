//! Stage 1: text → KDL document with byte spans.
//!
//! The `kdl` crate recovers from errors and returns several at once; each becomes one of our
//! diagnostics with the user's file name and a help line for the mistakes people really make
//! (KDL v1 keywords above all).

use kdl::KdlDocument;

use crate::diag::{self, Diag};
use crate::source::{FileId, Span};

pub fn parse(text: &str, file: FileId, diags: &mut Vec<Diag>) -> Option<KdlDocument> {
    match text.parse::<KdlDocument>() {
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
            for d in err.diagnostics {
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
            None
        }
    }
}
