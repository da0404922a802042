//! Stage 7: write a bundle directory atomically, or compare it with what is on disk.
//!
//! Everything is computed in memory before the first write, so a build that fails leaves the
//! previous bundles as they were. Each file is written to a temporary name in the same
//! directory, synced and renamed over the old one; unchanged files are not touched; the manifest
//! and `SHA256SUMS` go last. Files that an earlier build wrote (they are in the old
//! `SHA256SUMS`) and this build does not are removed. The files on disk are read and
//! compared side by side; the writes happen in order, one at a time.

use std::io::Write;
use std::path::Path;

use similar::TextDiff;

use crate::bundle::{MANIFEST_FILE, SUMS_FILE};
use crate::pack::{self, FileTree};

#[derive(Debug, Default)]
pub struct WriteReport {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

fn previous_files(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join(SUMS_FILE))
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split_once("  ").map(|(_, p)| p.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn safe_rel(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|seg| !seg.is_empty() && seg != "..")
}

pub fn write_bundle(dir: &Path, files: &FileTree) -> std::io::Result<WriteReport> {
    if let Some(path) = files.keys().find(|p| !safe_rel(p)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing unsafe path {path}"),
        ));
    }
    std::fs::create_dir_all(dir)?;
    let mut report = WriteReport::default();
    // Read before SHA256SUMS is replaced: it lists what the earlier build wrote.
    let previous = previous_files(dir);
    let manifest = MANIFEST_FILE.to_string();
    let sums = SUMS_FILE.to_string();
    let mut paths: Vec<&String> = files
        .keys()
        .filter(|p| **p != manifest && **p != sums)
        .collect();
    if files.contains_key(&manifest) {
        paths.push(&manifest);
    }
    if files.contains_key(&sums) {
        paths.push(&sums);
    }
    // Which files are already there, byte for byte and mode: read side by side.
    let current = crate::par::map(paths.clone(), |path| {
        files
            .get(path)
            .is_some_and(|file| on_disk(&dir.join(path), file))
    });
    for (path, current) in paths.into_iter().zip(current) {
        let Some(file) = files.get(path) else {
            continue;
        };
        if current {
            report.unchanged.push(path.clone());
            continue;
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = target.with_file_name(format!(".{name}.luciac-tmp"));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&file.bytes)?;
            f.sync_all()?;
        }
        set_mode(&tmp, file.executable)?;
        std::fs::rename(&tmp, &target)?;
        report.written.push(path.clone());
    }
    for old in previous {
        if !files.contains_key(&old)
            && safe_rel(&old)
            && std::fs::remove_file(dir.join(&old)).is_ok()
        {
            report.removed.push(old);
        }
    }
    Ok(report)
}

#[cfg(unix)]
fn set_mode(path: &Path, executable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 }),
    )
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: bool) -> std::io::Result<()> {
    Ok(())
}

/// Whether `path` holds exactly `file`: its size and mode first (one `fstat`), then its bytes.
fn on_disk(path: &Path, file: &pack::File) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(meta) = f.metadata() else {
        return false;
    };
    if meta.len() != file.bytes.len() as u64 || !mode_ok(&meta, file.executable) {
        return false;
    }
    // Exactly that many bytes, then the end of the file (read_to_end would ask for the size
    // and position again).
    let mut existing = vec![0; file.bytes.len()];
    std::io::Read::read_exact(&mut f, &mut existing).is_ok()
        && std::io::Read::read(&mut f, &mut [0]).is_ok_and(|n| n == 0)
        && existing == file.bytes
}

#[cfg(unix)]
fn mode_ok(meta: &std::fs::Metadata, executable: bool) -> bool {
    use std::os::unix::fs::PermissionsExt;
    (meta.permissions().mode() & 0o111 != 0) == executable
}

#[cfg(not(unix))]
fn mode_ok(_: &std::fs::Metadata, _: bool) -> bool {
    true
}

/// Compare the bundle on disk with the one just built. Returns one entry per stale file with
/// a readable diff (archives are opened and compared member by member).
pub fn check_bundle(dir: &Path, files: &FileTree) -> Vec<(String, String)> {
    // Read and compared side by side; reported in path order.
    let mut stale: Vec<(String, String)> =
        crate::par::map(files.iter().collect(), |(path, file)| {
            match std::fs::read(dir.join(path)) {
                Err(_) => Some((
                    path.clone(),
                    "missing on disk; run `luciac build` and commit it".to_string(),
                )),
                Ok(existing) if existing != file.bytes => {
                    Some((path.clone(), diff_file(path, &existing, &file.bytes)))
                }
                Ok(_) => None,
            }
        })
        .into_iter()
        .flatten()
        .collect();
    for old in previous_files(dir) {
        if !files.contains_key(&old) {
            stale.push((
                old,
                "no longer produced by this build; run `luciac build` to remove it".to_string(),
            ));
        }
    }
    stale
}

fn diff_text(name: &str, old: &[u8], new: &[u8]) -> String {
    match (std::str::from_utf8(old), std::str::from_utf8(new)) {
        (Ok(a), Ok(b)) => TextDiff::from_lines(a, b)
            .unified_diff()
            .context_radius(2)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string(),
        _ => format!(
            "binary content differs (sha256 {} on disk, {} built)\n",
            pack::sha256_hex(old),
            pack::sha256_hex(new)
        ),
    }
}

fn diff_file(path: &str, old: &[u8], new: &[u8]) -> String {
    if (path.ends_with(".tar.gz") || path.ends_with(".tgz"))
        && let (Ok((_, a)), Ok((_, b))) = (pack::untar_gz(old), pack::untar_gz(new))
    {
        let mut out = String::new();
        let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for n in names {
            match (a.get(n), b.get(n)) {
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => {
                    out.push_str(&diff_text(&format!("{path}/{n}"), &x.bytes, &y.bytes))
                }
                (Some(_), None) => out.push_str(&format!("{path}/{n}: no longer built\n")),
                (None, Some(_)) => out.push_str(&format!("{path}/{n}: new in this build\n")),
                (None, None) => {}
            }
        }
        if out.is_empty() {
            out = "archive members are identical; the archive bytes differ (different compressor or metadata)\n".into();
        }
        return out;
    }
    diff_text(path, old, new)
}
