//! Stage 6: file trees → reproducible archives, and hashes.
//!
//! Archives depend only on the file tree: entries sorted bytewise (or in Helm's order for
//! charts), mtime from `SOURCE_DATE_EPOCH` or 0, uid/gid 0 with `root` names, modes per entry
//! (0644, 0755 for executables), GNU headers, no directory entries; gzip with mtime 0, no file
//! name, OS byte 255, level 9, deflated in-process by the miniz_oxide backend pinned in
//! `Cargo.lock`. Nothing from the builder's disk, clock, umask or locale reaches the bytes.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// A virtual file tree: relative path → file. Every emitter returns one; tests assert on it;
/// only the CLI writes to disk.
pub type FileTree = BTreeMap<String, File>;

pub fn text(s: impl Into<String>) -> File {
    File {
        bytes: s.into().into_bytes(),
        executable: false,
    }
}

pub fn script(s: impl Into<String>) -> File {
    File {
        bytes: s.into().into_bytes(),
        executable: true,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The mtime written into archives: `SOURCE_DATE_EPOCH` when set to an integer, else 0.
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Entry order inside an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Bytewise by path.
    Sorted,
    /// `Chart.yaml`, `values.yaml`, `values.schema.json`, then templates, then the rest,
    /// the order `helm package` writes.
    Helm,
}

fn helm_rank(path: &str) -> (u8, &str) {
    match path {
        "Chart.yaml" => (0, path),
        "Chart.lock" => (1, path),
        "values.yaml" => (2, path),
        "values.schema.json" => (3, path),
        p if p.starts_with("templates/") => (4, p),
        p => (5, p),
    }
}

/// Build an uncompressed tar of `tree` under `top/`.
pub fn tar(tree: &FileTree, top: &str, order: Order, mtime: u64) -> std::io::Result<Vec<u8>> {
    let mut paths: Vec<&String> = tree.keys().collect();
    match order {
        Order::Sorted => paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes())),
        Order::Helm => paths.sort_by(|a, b| helm_rank(a).cmp(&helm_rank(b))),
    }
    // The exact size (a header and the padded data per entry, long names' extra headers
    // aside, and the two zero blocks at the end), so that the buffer is allocated once.
    let size = tree
        .values()
        .map(|f| 512 + f.bytes.len().div_ceil(512) * 512)
        .sum::<usize>()
        + 1024;
    let mut builder = tar::Builder::new(Vec::with_capacity(size));
    builder.mode(tar::HeaderMode::Deterministic);
    for path in paths {
        let Some(file) = tree.get(path) else { continue };
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(file.bytes.len() as u64);
        h.set_mode(if file.executable { 0o755 } else { 0o644 });
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root")?;
        h.set_groupname("root")?;
        builder.append_data(&mut h, format!("{top}/{path}"), file.bytes.as_slice())?;
    }
    builder.into_inner()
}

/// gzip with a fixed header: no name, mtime 0, OS 255, best compression.
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        // Room for a third of the input (the archives compress to less) so it grows rarely.
        .write(
            Vec::with_capacity(bytes.len() / 3),
            flate2::Compression::best(),
        );
    enc.write_all(bytes)?;
    enc.finish()
}

/// A packed archive with the hashes the lock records.
#[derive(Debug, Clone)]
pub struct Archive {
    pub bytes: Vec<u8>,
    /// SHA-256 of the uncompressed tar: the content identity, independent of the deflater.
    pub tar_sha256: String,
}

pub fn tar_gz(tree: &FileTree, top: &str, order: Order) -> std::io::Result<Archive> {
    let t = tar(tree, top, order, source_date_epoch())?;
    Ok(Archive {
        tar_sha256: sha256_hex(&t),
        bytes: gzip(&t)?,
    })
}

/// Read a `.tar.gz` back into a file tree (for `--check` diffs and tests), stripping `top/`.
pub fn untar_gz(bytes: &[u8]) -> std::io::Result<(String, FileTree)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut tree = FileTree::new();
    let mut top = String::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().to_string();
        let (first, rest) = path.split_once('/').unwrap_or(("", path.as_str()));
        top = first.to_string();
        let mode = entry.header().mode()?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut buf)?;
        tree.insert(
            rest.to_string(),
            File {
                bytes: buf,
                executable: mode & 0o111 != 0,
            },
        );
    }
    Ok((top, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_independent_of_insertion_order() {
        let mut a = FileTree::new();
        a.insert("b.txt".into(), text("b\n"));
        a.insert("a/x.sh".into(), script("#!/bin/sh\n"));
        let mut b = FileTree::new();
        b.insert("a/x.sh".into(), script("#!/bin/sh\n"));
        b.insert("b.txt".into(), text("b\n"));
        let x = tar_gz(&a, "top", Order::Sorted).unwrap_or_else(|e| panic!("{e}"));
        let y = tar_gz(&b, "top", Order::Sorted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(x.bytes, y.bytes);
        assert_eq!(&x.bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        let (top, back) = untar_gz(&x.bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(top, "top");
        assert_eq!(back, a);
    }

    #[test]
    fn helm_order() {
        let mut t = FileTree::new();
        for p in [
            "templates/a.yaml",
            "values.yaml",
            "Chart.yaml",
            "README.md",
            "values.schema.json",
        ] {
            t.insert(p.into(), text("x\n"));
        }
        let bytes = tar(&t, "c", Order::Helm, 0).unwrap_or_else(|e| panic!("{e}"));
        let mut ar = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| {
                e.map(|e| {
                    e.path()
                        .map(|p| p.to_string_lossy().to_string())
                        .unwrap_or_default()
                })
                .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            names,
            [
                "c/Chart.yaml",
                "c/values.yaml",
                "c/values.schema.json",
                "c/templates/a.yaml",
                "c/README.md"
            ]
        );
    }
}
