//! `luciac verify PATH`: check bundles offline against their `SHA256SUMS` and `bundle-manifest.json`.
//!
//! PATH is one bundle file, a bundle directory (holding `bundle-manifest.json`), or a directory of
//! bundle directories (`bundles/`). Every file is hashed and compared with both records;
//! every archive is opened and each entry checked for what could harm an extraction
//! (absolute paths, `..`, links, devices, duplicates, sizes that do not match) and compared
//! with the manifest member by member. Each problem is one diagnostic naming the file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::bundle::{MANIFEST_FILE, SUMS_FILE};
use crate::diag::{self, Diag};
use crate::manifest::{Artifact, FileEntry, Manifest};
use crate::pack::sha256_hex;

/// What was verified, for the summary line.
#[derive(Debug, Default)]
pub struct Report {
    pub bundles: usize,
    pub files: usize,
}

/// Verify PATH; problems are pushed to `diags`.
pub fn verify(path: &Path, diags: &mut Vec<Diag>) -> Report {
    let mut report = Report::default();
    if path.is_file() {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        verify_dir(&dir, Some(&name), diags, &mut report);
    } else if path.join(MANIFEST_FILE).is_file() || path.join(SUMS_FILE).is_file() {
        verify_dir(path, None, diags, &mut report);
    } else if path.is_dir() {
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.join(MANIFEST_FILE).is_file())
                    .collect()
            })
            .unwrap_or_default();
        subdirs.sort();
        if subdirs.is_empty() {
            diags.push(
                Diag::error(
                    diag::VERIFY_MISSING,
                    format!(
                        "{}: no bundle found (no {MANIFEST_FILE} here or in a subdirectory)",
                        path.display()
                    ),
                )
                .path(path.display().to_string())
                .help("point luciac verify at a bundle file, a bundle directory or bundles/"),
            );
        }
        for d in subdirs {
            verify_dir(&d, None, diags, &mut report);
        }
    } else {
        diags.push(
            Diag::error(
                diag::VERIFY_MISSING,
                format!("{}: no such file or directory", path.display()),
            )
            .path(path.display().to_string()),
        );
    }
    report
}

fn problem(code: diag::Code, file: &Path, msg: impl std::fmt::Display) -> Diag {
    Diag::error(code, format!("{}: {msg}", file.display())).path(file.display().to_string())
}

/// Parse `SHA256SUMS` into path → hash.
fn read_sums(dir: &Path, diags: &mut Vec<Diag>) -> Option<BTreeMap<String, String>> {
    let file = dir.join(SUMS_FILE);
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            diags.push(problem(
                diag::VERIFY_MISSING,
                &file,
                format!("cannot read: {}", e.kind()),
            ));
            return None;
        }
    };
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        match line.split_once("  ") {
            Some((h, p)) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                if out.insert(p.to_string(), h.to_ascii_lowercase()).is_some() {
                    diags.push(problem(
                        diag::VERIFY_MALFORMED,
                        &file,
                        format!("line {}: `{p}` is listed twice", i + 1),
                    ));
                }
            }
            _ => diags.push(problem(
                diag::VERIFY_MALFORMED,
                &file,
                format!("line {} is not `<sha256>  <path>`", i + 1),
            )),
        }
    }
    Some(out)
}

fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && p.split('/').all(|s| !s.is_empty() && s != ".." && s != ".")
}

fn verify_dir(dir: &Path, only: Option<&str>, diags: &mut Vec<Diag>, report: &mut Report) {
    report.bundles += 1;
    let sums = read_sums(dir, diags).unwrap_or_default();
    let manifest = read_manifest(dir, diags);
    check_sums(dir, &sums, only, diags, report);
    if let Some(manifest) = manifest {
        check_artifacts(dir, &manifest, only, diags);
    }
}

/// `bundle-manifest.json`, or `None` with a diagnostic.
fn read_manifest(dir: &Path, diags: &mut Vec<Diag>) -> Option<Manifest> {
    let lock_path = dir.join(MANIFEST_FILE);
    match std::fs::read(&lock_path) {
        Ok(b) => match Manifest::from_slice(&b) {
            Ok(m) => Some(m),
            Err(e) => {
                diags.push(problem(
                    diag::VERIFY_MALFORMED,
                    &lock_path,
                    format!("cannot be read as a bundle manifest: {e}"),
                ));
                None
            }
        },
        Err(e) => {
            let mut d = problem(
                diag::VERIFY_MISSING,
                &lock_path,
                format!("cannot read: {}", e.kind()),
            );
            if dir.join("lucia.lock").is_file() {
                // Bundles built before the manifest was renamed kept it as lucia.lock.
                d = d.help("this bundle was built by an older luciac, whose manifest was lucia.lock: rebuild it with `luciac build`");
            }
            diags.push(d);
            None
        }
    }
}

/// 1. `SHA256SUMS` against the files on disk, and files it does not list.
fn check_sums(
    dir: &Path,
    sums: &BTreeMap<String, String>,
    only: Option<&str>,
    diags: &mut Vec<Diag>,
    report: &mut Report,
) {
    for (rel, want) in sums {
        if only.is_some_and(|o| o != rel && rel != MANIFEST_FILE) {
            continue;
        }
        let file = dir.join(rel);
        if !safe_rel(rel) {
            diags.push(problem(
                diag::VERIFY_UNSAFE,
                &dir.join(SUMS_FILE),
                format!("lists an unsafe path `{rel}`"),
            ));
            continue;
        }
        match std::fs::read(&file) {
            Ok(bytes) => {
                report.files += 1;
                let got = sha256_hex(&bytes);
                if &got != want {
                    diags.push(problem(
                        diag::VERIFY_MISMATCH,
                        &file,
                        format!("SHA-256 is {got}, {SUMS_FILE} says {want}"),
                    ));
                }
            }
            Err(_) => diags.push(problem(
                diag::VERIFY_MISSING,
                &file,
                format!("listed in {SUMS_FILE} but missing"),
            )),
        }
    }
    if only.is_none() {
        for rel in files_under(dir) {
            if rel != SUMS_FILE && !sums.contains_key(&rel) {
                diags.push(problem(
                    diag::VERIFY_MISSING,
                    &dir.join(&rel),
                    format!("not listed in {SUMS_FILE}"),
                ));
            }
        }
    } else if let Some(o) = only
        && !sums.contains_key(o)
        && o != SUMS_FILE
    {
        diags.push(problem(
            diag::VERIFY_MISSING,
            &dir.join(o),
            format!("not listed in {SUMS_FILE}"),
        ));
    }
}

/// 2. The manifest's artifacts, archives opened member by member.
fn check_artifacts(dir: &Path, manifest: &Manifest, only: Option<&str>, diags: &mut Vec<Diag>) {
    for (name, art) in &manifest.artifacts {
        match art {
            Artifact::Archive {
                files,
                sha256,
                size,
                top,
                ..
            } => {
                if only.is_some_and(|o| o != name) {
                    continue;
                }
                let file = dir.join(name);
                let Ok(bytes) = std::fs::read(&file) else {
                    diags.push(problem(
                        diag::VERIFY_MISSING,
                        &file,
                        format!("recorded in {MANIFEST_FILE} but missing"),
                    ));
                    continue;
                };
                if *sha256 != sha256_hex(&bytes) {
                    diags.push(problem(
                        diag::VERIFY_MISMATCH,
                        &file,
                        format!("SHA-256 differs from {MANIFEST_FILE}"),
                    ));
                }
                if *size != bytes.len() as u64 {
                    diags.push(problem(
                        diag::VERIFY_MISMATCH,
                        &file,
                        format!("size {} differs from {MANIFEST_FILE}", bytes.len()),
                    ));
                }
                check_archive(&file, &bytes, top, files, diags);
            }
            Artifact::Files {
                dir: dir_of, files, ..
            } => check_files(dir, dir_of, files, only, diags),
        }
    }
}

/// Plain files of the bundle against their records.
fn check_files(
    dir: &Path,
    dir_of: &str,
    files: &BTreeMap<String, FileEntry>,
    only: Option<&str>,
    diags: &mut Vec<Diag>,
) {
    for (rel, entry) in files {
        let full = if dir_of.is_empty() {
            rel.clone()
        } else {
            format!("{dir_of}/{rel}")
        };
        if only.is_some_and(|o| o != full) {
            continue;
        }
        let file = dir.join(&full);
        match std::fs::read(&file) {
            Ok(b) if entry.sha256 == sha256_hex(&b) => {}
            Ok(_) => diags.push(problem(
                diag::VERIFY_MISMATCH,
                &file,
                format!("SHA-256 differs from {MANIFEST_FILE}"),
            )),
            Err(_) => diags.push(problem(
                diag::VERIFY_MISSING,
                &file,
                format!("recorded in {MANIFEST_FILE} but missing"),
            )),
        }
    }
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Open an archive and check every entry; compare members with the manifest.
fn check_archive(
    file: &Path,
    bytes: &[u8],
    top: &str,
    files: &BTreeMap<String, FileEntry>,
    diags: &mut Vec<Diag>,
) {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            diags.push(problem(
                diag::VERIFY_MALFORMED,
                file,
                format!("not a readable tar.gz: {e}"),
            ));
            return;
        }
    };
    let mut seen = BTreeSet::new();
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                diags.push(problem(
                    diag::VERIFY_UNSAFE,
                    file,
                    format!("truncated or corrupt entry: {e}"),
                ));
                return;
            }
        };
        let (rel, content, mode) = match read_member(&mut entry, top, &mut seen) {
            Ok(m) => m,
            Err(message) => {
                diags.push(problem(diag::VERIFY_UNSAFE, file, message));
                continue;
            }
        };
        compare_member(file, &rel, &content, mode, files.get(&rel), diags);
    }
    for rel in files.keys() {
        if !seen.contains(rel) {
            diags.push(problem(
                diag::VERIFY_MISSING,
                file,
                format!("member `{rel}` recorded in {MANIFEST_FILE} is missing"),
            ));
        }
    }
}

/// One archive member's path under `top/`, its bytes and its mode; `Err` says why the entry
/// is unsafe (not a regular file, escapes the top directory, duplicated, truncated).
fn read_member<R: std::io::Read>(
    entry: &mut tar::Entry<'_, R>,
    top: &str,
    seen: &mut BTreeSet<String>,
) -> Result<(String, Vec<u8>, u32), String> {
    let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
    let kind = entry.header().entry_type();
    if !kind.is_file() {
        let what = if kind.is_symlink() || kind.is_hard_link() {
            "a link"
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            "a device or FIFO"
        } else if kind.is_dir() {
            "a directory entry"
        } else {
            "not a regular file"
        };
        return Err(format!("entry `{raw}` is {what}"));
    }
    if !safe_rel(&raw) {
        return Err(format!("entry `{raw}` has an absolute path or `..`"));
    }
    let Some(rel) = raw.strip_prefix(&format!("{top}/")) else {
        return Err(format!(
            "entry `{raw}` is outside the top directory `{top}/`"
        ));
    };
    if !seen.insert(rel.to_string()) {
        return Err(format!("entry `{raw}` appears twice"));
    }
    let declared = entry.header().size().unwrap_or(u64::MAX);
    let mut content = Vec::new();
    if entry.read_to_end(&mut content).is_err() || content.len() as u64 != declared {
        return Err(format!(
            "entry `{raw}`: size in the header does not match its data"
        ));
    }
    let mode = entry.header().mode().unwrap_or(0) & 0o7777;
    Ok((rel.to_string(), content, mode))
}

/// A member against its record in the manifest: recorded at all, same hash, same mode.
fn compare_member(
    file: &Path,
    rel: &str,
    content: &[u8],
    mode: u32,
    want: Option<&FileEntry>,
    diags: &mut Vec<Diag>,
) {
    match want {
        None => diags.push(problem(
            diag::VERIFY_MISMATCH,
            file,
            format!("entry `{rel}` is not recorded in {MANIFEST_FILE}"),
        )),
        Some(want) => {
            if want.sha256 != sha256_hex(content) {
                diags.push(problem(
                    diag::VERIFY_MISMATCH,
                    file,
                    format!("member `{rel}` differs from {MANIFEST_FILE}"),
                ));
            }
            let want_mode = u32::from_str_radix(&want.mode, 8).ok();
            if want_mode != Some(mode) {
                diags.push(problem(
                    diag::VERIFY_MISMATCH,
                    file,
                    format!(
                        "member `{rel}` has mode {mode:04o}, {MANIFEST_FILE} says {}",
                        want.mode
                    ),
                ));
            }
        }
    }
}
