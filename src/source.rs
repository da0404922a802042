//! Input files and byte spans into them.
//!
//! Every value decoded from KDL keeps a [`Span`] so that a diagnostic raised in any later stage
//! (even while lowering to a target) points at the text the user wrote. Spans name their file by
//! index so that a profile overlay can say "overridden here" in another file.

use std::sync::Arc;

/// Index of a file in [`Sources`].
pub type FileId = usize;

/// A byte range in one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(file: FileId, span: miette::SourceSpan) -> Span {
        Span {
            file,
            offset: span.offset(),
            len: span.len(),
        }
    }
}

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct S<T> {
    pub v: T,
    pub span: Span,
}

impl<T> S<T> {
    pub fn new(v: T, span: Span) -> S<T> {
        S { v, span }
    }
}

/// One input file: the name shown to users (relative to the declaration's directory, so it
/// is the same on every machine) and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<String>,
}

/// All input files of one compilation.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub files: Vec<SourceFile>,
}

impl Sources {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile {
            name: name.into(),
            text: Arc::new(text.into()),
        });
        self.files.len() - 1
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// 1-based line and column (in characters) of a byte offset, for JSON diagnostics.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let Some(file) = self.get(span.file) else {
            return (1, 1);
        };
        let upto = file
            .text
            .get(..span.offset.min(file.text.len()))
            .unwrap_or("");
        let line = upto.matches('\n').count() + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }
}
