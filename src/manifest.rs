//! `bundle-manifest.json`: the bundle's record of its own contents, as one type that
//! `bundle` writes and `verify` reads (its format and compatibility policy are in
//! `docs/bundle-manifest.md`).
//!
//! Fields are declared in sorted order, the order `serde_json` writes a sorted map in, so the
//! manifest's keys are sorted at every level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::targets::Target;

/// The format this luciac writes. A reader accepts this version and every older one; a newer
/// version is refused (it may mean something this reader cannot check). Adding a field does
/// not change the version, so readers ignore fields they do not know.
pub const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// By the artifact's path in the bundle (archives), or `<target>-files` (plain files).
    pub artifacts: BTreeMap<String, Artifact>,
    pub compiler: Compiler,
    /// By image name.
    pub images: BTreeMap<String, Image>,
    pub inputs: Inputs,
    pub manifest_version: u64,
    /// The profile the bundle was built for (`base` without one).
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiler {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Artifact {
    /// A `.tar.gz` (`.tgz`): its bytes, and every member under the top directory `top`.
    Archive {
        files: BTreeMap<String, FileEntry>,
        sha256: String,
        size: u64,
        /// SHA-256 of the uncompressed tar: the content, whatever the deflater.
        tar_sha256: String,
        target: Target,
        top: String,
    },
    /// Files written into the bundle directory, under `dir` (empty: the bundle's root).
    Files {
        dir: String,
        files: BTreeMap<String, FileEntry>,
        target: Target,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// `0644`, or `0755` for executables.
    pub mode: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// `sha256:…`, or `unpinned`.
    pub digest: String,
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// SHA-256 of each input file, by its name relative to the declaration.
    pub files: BTreeMap<String, String>,
    /// SHA-256 over every input (name, length, bytes; in name order).
    pub sha256: String,
}

impl FileEntry {
    /// A file's entry, with its SHA-256 (hashed here, once, for the manifest and the sums).
    pub fn of(f: &crate::pack::File) -> FileEntry {
        FileEntry {
            mode: if f.executable { "0755" } else { "0644" }.to_string(),
            sha256: crate::pack::sha256_hex(&f.bytes),
            size: f.bytes.len() as u64,
        }
    }
}

impl Manifest {
    /// The manifest's text: pretty JSON ending with a newline.
    pub fn to_text(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// Read a manifest; a version newer than [`VERSION`] is refused with a message.
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest, String> {
        let newer = |v: u64| {
            format!(
                "manifest_version {v} is newer than this luciac reads ({VERSION}): verify it with a newer luciac"
            )
        };
        match serde_json::from_slice::<Manifest>(bytes) {
            Ok(m) if m.manifest_version > VERSION => Err(newer(m.manifest_version)),
            Ok(m) => Ok(m),
            // A newer format may not have this shape at all: name the version, not the shape.
            Err(e) => {
                #[derive(Deserialize)]
                struct Versioned {
                    manifest_version: u64,
                }
                match serde_json::from_slice::<Versioned>(bytes) {
                    Ok(v) if v.manifest_version > VERSION => Err(newer(v.manifest_version)),
                    _ => Err(e.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_version_is_refused_and_unknown_fields_are_ignored() {
        let m = Manifest {
            artifacts: BTreeMap::new(),
            compiler: Compiler {
                name: "luciac".into(),
                version: "0".into(),
            },
            images: BTreeMap::new(),
            inputs: Inputs {
                files: BTreeMap::new(),
                sha256: String::new(),
            },
            manifest_version: VERSION,
            profile: "prod".into(),
        };
        let text = m.to_text().unwrap_or_default();
        assert_eq!(Manifest::from_slice(text.as_bytes()), Ok(m.clone()));
        let extra = text.replacen('{', "{\n  \"added-later\": 1,", 1);
        assert_eq!(Manifest::from_slice(extra.as_bytes()), Ok(m));
        let newer = text.replace("\"manifest_version\": 1", "\"manifest_version\": 2");
        assert!(
            Manifest::from_slice(newer.as_bytes())
                .is_err_and(|e| e.contains("newer than this luciac reads"))
        );
        let reshaped = newer.replace("\"artifacts\"", "\"contents\"");
        assert!(
            Manifest::from_slice(reshaped.as_bytes())
                .is_err_and(|e| e.contains("manifest_version 2 is newer"))
        );
        assert!(Manifest::from_slice(b"{}").is_err_and(|e| e.contains("missing field")));
    }
}
