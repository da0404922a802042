//! Stage 6b: artifacts → the bundle directory's file tree, with its manifest and `SHA256SUMS`.
//!
//! The manifest (`bundle-manifest.json`, the bundle's record of its own contents; not the lock
//! next to the declaration, which is an input: see `crate::lock`) is JSON with sorted keys and no timestamps: the compiler version, the hash of the
//! inputs, every artifact and every file in it with its SHA-256, and every image with its
//! digest or "unpinned". `SHA256SUMS` lists every file of the bundle directory but itself, in
//! the format `sha256sum -c` reads.

use serde_json::{Map, Value, json};

use crate::model::Model;
use crate::pack::{self, FileTree};
use crate::source::Sources;
use crate::targets::{Artifact, Layout};

pub const MANIFEST_FILE: &str = "bundle-manifest.json";
pub const SUMS_FILE: &str = "SHA256SUMS";
pub const MANIFEST_VERSION: u64 = 1;

/// SHA-256 over the input files (name, length, bytes; in name order). Names are relative to
/// the declaration's directory, so the hash does not depend on where the checkout lives.
pub fn input_hash(sources: &Sources) -> (String, Map<String, Value>) {
    let mut files: Vec<(&str, &str)> = sources
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    files.sort();
    let mut all = Vec::new();
    let mut per = Map::new();
    for (name, text) in files {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.len().to_string().as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        per.insert(
            name.to_string(),
            Value::String(pack::sha256_hex(text.as_bytes())),
        );
    }
    (pack::sha256_hex(&all), per)
}

fn file_entry(f: &pack::File) -> Value {
    json!({
        "mode": if f.executable { "0755" } else { "0644" },
        "sha256": pack::sha256_hex(&f.bytes),
        "size": f.bytes.len(),
    })
}

/// Pack the artifacts and produce every file of `bundles/<profile>/`.
pub fn assemble(
    model: &Model,
    sources: &Sources,
    artifacts: &[Artifact],
) -> std::io::Result<FileTree> {
    let mut out = FileTree::new();
    let mut manifest_artifacts = Map::new();
    for a in artifacts {
        let mut files = Map::new();
        for (path, f) in &a.tree {
            files.insert(path.clone(), file_entry(f));
        }
        match &a.layout {
            Layout::TarGz { top, order } => {
                let archive = pack::tar_gz(&a.tree, top, *order)?;
                manifest_artifacts.insert(
                    a.path.clone(),
                    json!({
                        "files": files,
                        "sha256": pack::sha256_hex(&archive.bytes),
                        "size": archive.bytes.len(),
                        "tar_sha256": archive.tar_sha256,
                        "target": a.target,
                        "top": top,
                    }),
                );
                out.insert(
                    a.path.clone(),
                    pack::File {
                        bytes: archive.bytes,
                        executable: false,
                    },
                );
            }
            Layout::Files => {
                // Keyed by target (several targets may write into the bundle root); `dir`
                // says where the files are.
                manifest_artifacts.insert(
                    format!("{}-files", a.target),
                    json!({ "dir": a.path, "files": files, "target": a.target }),
                );
                for (path, f) in &a.tree {
                    let full = if a.path.is_empty() {
                        path.clone()
                    } else {
                        format!("{}/{path}", a.path)
                    };
                    out.insert(full, f.clone());
                }
            }
        }
    }
    let mut images = Map::new();
    for i in &model.images {
        images.insert(
            i.name.clone(),
            json!({ "reference": i.reference, "digest": i.digest.clone().unwrap_or_else(|| "unpinned".into()) }),
        );
    }
    let (hash, per_file) = input_hash(sources);
    let manifest = json!({
        "artifacts": manifest_artifacts,
        "compiler": { "name": "luciac", "version": env!("CARGO_PKG_VERSION") },
        "images": images,
        "inputs": { "files": per_file, "sha256": hash },
        "manifest_version": MANIFEST_VERSION,
        "profile": model.profile_or_base(),
    });
    let mut manifest_text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    manifest_text.push('\n');
    out.insert(MANIFEST_FILE.into(), pack::text(manifest_text));
    let mut sums = String::new();
    for (path, f) in &out {
        sums.push_str(&format!("{}  {path}\n", pack::sha256_hex(&f.bytes)));
    }
    out.insert(SUMS_FILE.into(), pack::text(sums));
    Ok(out)
}
