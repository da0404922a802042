//! What the server knows: the open documents, and how a file belongs to a project.
//!
//! A project is a base declaration and the `profiles/<name>.kdl` next to it. Every request
//! rebuilds the small amount it needs from text (open documents first, then the disk): a
//! `lucia.kdl` is a few kilobytes and a full check takes milliseconds, so caching would buy
//! nothing but invalidation bugs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lsp_types::{Position, Range, Uri};

use crate::syntax::{self, Tree};

/// The open documents, by path.
#[derive(Debug, Default)]
pub struct World {
    pub open: BTreeMap<PathBuf, String>,
}

/// One file of a project with its text and outline.
#[derive(Debug, Clone)]
pub struct File {
    pub path: PathBuf,
    /// `lucia.kdl` or `profiles/prod.kdl`: the compiler's logical name.
    pub logical: String,
    /// The profile name, `None` for the base.
    pub profile: Option<String>,
    pub text: String,
    pub tree: Tree,
    pub lines: LineIndex,
}

impl File {
    fn new(path: PathBuf, logical: String, profile: Option<String>, text: String) -> File {
        File {
            tree: syntax::tree(&text),
            lines: LineIndex::new(&text),
            path,
            logical,
            profile,
            text,
        }
    }

    pub fn uri(&self) -> Option<Uri> {
        path_to_uri(&self.path)
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range::new(self.lines.position(start), self.lines.position(end))
    }
}

/// A base declaration and its profiles. `files[0]` is the base.
#[derive(Debug, Clone)]
pub struct Project {
    pub files: Vec<File>,
}

impl Project {
    pub fn base(&self) -> &File {
        &self.files[0]
    }

    pub fn file(&self, path: &Path) -> Option<(usize, &File)> {
        self.files.iter().enumerate().find(|(_, f)| f.path == path)
    }

    pub fn profiles(&self) -> impl Iterator<Item = &File> {
        self.files.iter().skip(1)
    }
}

/// Where the base of `path` is, and the profile name when `path` is a profile.
pub fn role(path: &Path) -> (PathBuf, Option<String>) {
    let parent = path.parent();
    if parent
        .and_then(Path::file_name)
        .is_some_and(|n| n == "profiles")
        && let Some(name) = path.file_stem().and_then(|s| s.to_str())
        && path.extension().is_some_and(|e| e == "kdl")
    {
        let dir = parent.and_then(Path::parent).unwrap_or(Path::new("."));
        return (dir.join("lucia.kdl"), Some(name.to_string()));
    }
    (path.to_path_buf(), None)
}

impl World {
    /// The text of `path`: the open document's, else the disk's, else `None`.
    pub fn text(&self, path: &Path) -> Option<String> {
        self.open
            .get(path)
            .cloned()
            .or_else(|| std::fs::read_to_string(path).ok())
    }

    /// The project `path` belongs to, with every profile (on disk or open). A profile whose
    /// base is missing still gets a project, with an empty base, so that its own outline,
    /// hover and completion work.
    pub fn project(&self, path: &Path) -> Project {
        let (base_path, _) = role(path);
        let base_text = self.text(&base_path).unwrap_or_default();
        let logical = base_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "lucia.kdl".into());
        let mut files = vec![File::new(base_path.clone(), logical, None, base_text)];
        let dir = base_path
            .parent()
            .unwrap_or(Path::new("."))
            .join("profiles");
        // Profiles on disk, and open ones that are not saved yet.
        let mut names = crate::compile::list_profiles(&base_path);
        for p in self.open.keys() {
            if let (b, Some(name)) = role(p)
                && b == base_path
            {
                names.push(name);
            }
        }
        names.sort();
        names.dedup();
        for name in names {
            let p = dir.join(format!("{name}.kdl"));
            if let Some(text) = self.text(&p) {
                files.push(File::new(
                    p,
                    format!("profiles/{name}.kdl"),
                    Some(name),
                    text,
                ));
            }
        }
        Project { files }
    }
}

// ---- URIs ------------------------------------------------------------------------------

/// `file:///a%20b/lucia.kdl` → `/a b/lucia.kdl`. Other schemes are not files we can check.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str();
    let rest = s.strip_prefix("file://")?;
    // `file://localhost/…` names the local host too.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = rest.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok().map(PathBuf::from)
}

pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    for b in path.to_str()?.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.parse().ok()
}

// ---- positions ---------------------------------------------------------------------------

/// Byte offsets ↔ LSP positions (lines and UTF-16 code units, the protocol's default).
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    text: String,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        for (i, c) in text.char_indices() {
            if c == '\n' {
                starts.push(i + 1);
            }
        }
        LineIndex {
            starts,
            text: text.to_string(),
        }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.encode_utf16().count())
            .unwrap_or(0);
        Position::new(line as u32, col as u32)
    }

    /// The byte offset of a position; positions past a line's end clamp to it.
    pub fn offset(&self, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .copied()
            .unwrap_or(self.text.len());
        let line = self.text.get(start..end).unwrap_or("");
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character || c == '\n' || c == '\r' {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16() {
        let idx = LineIndex::new("a\n\u{1F600}b\n");
        assert_eq!(idx.position(6), Position::new(1, 2));
        assert_eq!(idx.offset(Position::new(1, 2)), 6);
        assert_eq!(idx.offset(Position::new(9, 0)), 8);
    }

    #[test]
    fn uris_round_trip() {
        let p = PathBuf::from("/tmp/a b/lucia.kdl");
        let u = path_to_uri(&p).expect("uri");
        assert_eq!(u.as_str(), "file:///tmp/a%20b/lucia.kdl");
        assert_eq!(uri_to_path(&u), Some(p));
    }

    #[test]
    fn profiles_find_their_base() {
        let (b, p) = role(Path::new("/x/profiles/prod.kdl"));
        assert_eq!(b, PathBuf::from("/x/lucia.kdl"));
        assert_eq!(p.as_deref(), Some("prod"));
    }
}
