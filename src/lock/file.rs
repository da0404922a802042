//! The lock file, `lucia.lock`, next to the declaration: what `luciac lock` resolved.
//!
//! JSON with sorted keys (every map is a `BTreeMap`), no timestamps and a trailing newline, so
//! the same pins always give the same bytes. It holds no credentials: only references,
//! digests and media types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const LOCK_FILE: &str = "lucia.lock";
pub const LOCK_VERSION: u64 = 1;

/// One platform's manifest inside an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformPin {
    pub digest: String,
    pub media_type: String,
}

/// What one tag reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The digest deployed: the index's for a multi-platform image, else the manifest's.
    pub digest: String,
    pub media_type: String,
    /// The declaration's image names that use this reference (base and profiles).
    pub names: BTreeSet<String>,
    /// `os/arch[/variant]` → that platform's manifest. Attestations are left out.
    pub platforms: BTreeMap<String, PlatformPin>,
}

/// The whole lock: pins keyed by the normalised reference they were resolved from
/// (`docker.io/library/redis:7.4-alpine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub images: BTreeMap<String, Pin>,
    pub lock_version: u64,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            images: BTreeMap::new(),
            lock_version: LOCK_VERSION,
        }
    }
}

impl LockFile {
    /// The stable bytes written to disk.
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    pub fn from_text(text: &str) -> Result<LockFile, String> {
        let lock: LockFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if lock.lock_version != LOCK_VERSION {
            return Err(format!(
                "lock_version {} is not supported (this luciac writes {LOCK_VERSION})",
                lock.lock_version
            ));
        }
        for (reference, pin) in &lock.images {
            crate::values::check_digest(&pin.digest).map_err(|e| format!("`{reference}`: {e}"))?;
        }
        Ok(lock)
    }

    /// The pin of another reference that an image of this name used (the tag changed).
    pub fn stale_for(&self, name: &str, reference: &str) -> Option<(&str, &Pin)> {
        self.images
            .iter()
            .find(|(r, p)| r.as_str() != reference && p.names.contains(name))
            .map(|(r, p)| (r.as_str(), p))
    }
}

/// `lucia.lock` next to the declaration.
pub fn path_for(decl: &Path) -> PathBuf {
    decl.parent().unwrap_or(Path::new(".")).join(LOCK_FILE)
}

/// Read the lock next to the declaration. `Ok(None)` when there is none yet.
pub fn read(decl: &Path) -> Result<Option<LockFile>, String> {
    let path = path_for(decl);
    match std::fs::read_to_string(&path) {
        Ok(text) => LockFile::from_text(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {}", path.display(), e.kind())),
    }
}

/// Write atomically (temporary file, then rename); an unchanged lock is not touched.
pub fn write(decl: &Path, lock: &LockFile) -> std::io::Result<bool> {
    let path = path_for(decl);
    let text = lock.to_text();
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    let tmp = path.with_extension("lock.luciac-tmp");
    let res = std::fs::File::create(&tmp).and_then(|mut f| {
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()
    });
    match res.and_then(|_| std::fs::rename(&tmp, &path)) {
        Ok(()) => Ok(true),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_sorted_bytes() {
        let mut lock = LockFile::default();
        let d = format!("sha256:{}", "a".repeat(64));
        for r in ["z.io/b:1", "a.io/c:2"] {
            lock.images.insert(
                r.into(),
                Pin {
                    digest: d.clone(),
                    media_type: "application/vnd.oci.image.index.v1+json".into(),
                    names: ["x".to_string()].into(),
                    platforms: BTreeMap::new(),
                },
            );
        }
        let t = lock.to_text();
        assert!(t.find("a.io/c:2") < t.find("z.io/b:1"));
        assert!(t.find("\"digest\"") < t.find("\"media_type\""));
        assert_eq!(LockFile::from_text(&t).map(|l| l.to_text()), Ok(t));
        assert!(LockFile::from_text("{").is_err());
    }
}
