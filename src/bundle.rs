//! Stage 6b: artifacts → the bundle directory's file tree, with its manifest and `SHA256SUMS`.
//!
//! The manifest (`bundle-manifest.json`, the bundle's record of its own contents; not the lock
//! next to the declaration, which is an input: see `crate::lock`) is JSON with sorted keys and no timestamps: the compiler version, the hash of the
//! inputs, every artifact and every file in it with its SHA-256, and every image with its
//! digest or "unpinned". `SHA256SUMS` lists every file of the bundle directory but itself, in
//! the format `sha256sum -c` reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::manifest::{self, FileEntry};
use crate::model::Model;
use crate::pack::{self, FileTree};
use crate::source::Sources;
use crate::targets::{Artifact, Layout, Target};

pub const MANIFEST_FILE: &str = "bundle-manifest.json";
pub const SUMS_FILE: &str = "SHA256SUMS";

/// One bundle to assemble: the model and inputs it was built from, and its artifacts
/// (whose files move into the bundle).
#[derive(Debug)]
pub struct Job<'a> {
    pub model: &'a Model,
    pub sources: &'a Sources,
    pub artifacts: Vec<Artifact>,
}

/// Every file of `bundles/<profile>/`, with what is known about each.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    pub files: FileTree,
    /// For each path of `files`: its SHA-256, hashed once and written into `SHA256SUMS`.
    pub info: BTreeMap<String, FileInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub sha256: String,
    /// The target that produced the file; `None` for the manifest and `SHA256SUMS`.
    pub target: Option<Target>,
}

/// SHA-256 over the input files (name, length, bytes; in name order). Names are relative to
/// the declaration's directory, so the hash does not depend on where the checkout lives.
pub fn input_hash(sources: &Sources) -> (String, BTreeMap<String, String>) {
    let mut files: Vec<(&str, &str)> = sources
        .files
        .iter()
        .map(|f| (f.name.as_str(), f.text.as_str()))
        .collect();
    files.sort();
    let mut all = Vec::new();
    let mut per = BTreeMap::new();
    for (name, text) in files {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.len().to_string().as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        per.insert(name.to_string(), pack::sha256_hex(text.as_bytes()));
    }
    (pack::sha256_hex(&all), per)
}

/// Pack the artifacts and produce every file of `bundles/<profile>/`.
pub fn assemble(
    model: &Model,
    sources: &Sources,
    artifacts: &[Artifact],
) -> std::io::Result<Bundle> {
    Packer::default().assemble(Job {
        model,
        sources,
        artifacts: artifacts.to_vec(),
    })
}

/// An archive deflated once for every bundle that holds it.
struct Packed {
    bytes: Vec<u8>,
    sha256: String,
}

/// The archives of one run, each deflated and hashed once however many bundles hold it (the
/// Helm chart is built from the base declaration alone, so every profile's bundle holds the
/// same one), and a queue of those not yet packed, shared by the threads that assemble
/// bundles side by side: a thread packs the largest archive waiting, its own bundle's or
/// another's, until none waits, then takes its bundle's from their slots. So a thread
/// whose bundle is ready helps with the archives of one that is not, instead of leaving its
/// core idle while the other deflates three archives in a row.
#[derive(Default)]
pub struct Packer {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Every archive of the run, by the SHA-256 of its uncompressed tar (which the manifest
    /// records anyway).
    slots: BTreeMap<String, Slot>,
    /// Archives no thread has started on yet.
    waiting: Vec<(Arc<Vec<u8>>, Slot)>,
}

/// One archive, packed once (or why it could not be).
type Slot = Arc<OnceLock<Result<Packed, String>>>;

fn deflate(tar: &[u8]) -> Result<Packed, String> {
    pack::gzip(tar)
        .map(|bytes| Packed {
            sha256: pack::sha256_hex(&bytes),
            bytes,
        })
        .map_err(|e| e.to_string())
}

/// An archive artifact made ready for its bundle by [`Packer::prepare`]: its tar, hashed,
/// and its place among the run's archives.
pub struct Prepared {
    tar_sha256: String,
    tar: Arc<Vec<u8>>,
    slot: Slot,
}

impl Packer {
    /// Pack the artifacts of one bundle and produce every file of `bundles/<profile>/`.
    pub fn assemble(&self, job: Job<'_>) -> std::io::Result<Bundle> {
        let prepared = job.artifacts.iter().map(|a| self.queue(a)).collect();
        self.assemble_prepared(job, prepared)
    }

    /// Make an archive artifact ready as soon as its target has made it (`None` for plain
    /// files): its tar, hashed and queued to be deflated once for the run; then deflate the
    /// largest archive waiting (usually this one) here, while other targets may still be
    /// lowering.
    pub fn prepare(&self, a: &Artifact) -> Option<Result<Prepared, String>> {
        let prepared = self.queue(a)?;
        self.pack_one();
        Some(prepared)
    }

    /// [`Packer::assemble`] with what [`Packer::prepare`] returned for each artifact.
    pub fn assemble_prepared(
        &self,
        job: Job<'_>,
        prepared: Vec<Option<Result<Prepared, String>>>,
    ) -> std::io::Result<Bundle> {
        let mut mine = Vec::new();
        for p in prepared.into_iter().flatten() {
            mine.push(p.map_err(std::io::Error::other)?);
        }
        // A hand per archive still waiting (on idle cores, else this thread), then whatever
        // still waits, this bundle's or another's.
        let waiting = self.queue.lock().map_or(0, |q| q.waiting.len());
        crate::par::map((0..waiting.min(mine.len())).collect(), |_| self.pack_one());
        while self.pack_one() {}
        let mut archives = Vec::new();
        for p in &mine {
            // Packed by now, or being packed by another thread: this waits for it (and packs
            // it here should that thread have failed).
            match p.slot.get_or_init(|| deflate(&p.tar)) {
                Ok(packed) => archives.push((p.tar_sha256.as_str(), packed)),
                Err(e) => return Err(std::io::Error::other(e.clone())),
            }
        }
        bundle(job, &archives)
    }

    /// An archive artifact's tar, hashed, with its slot (queued when new); `None` for plain
    /// files.
    fn queue(&self, a: &Artifact) -> Option<Result<Prepared, String>> {
        let Layout::TarGz { top, order } = &a.layout else {
            return None;
        };
        Some(
            pack::tar(&a.tree, top, *order, pack::source_date_epoch())
                .map(|tar| {
                    let tar_sha256 = pack::sha256_hex(&tar);
                    let tar = Arc::new(tar);
                    let slot = self.slot(&tar_sha256, &tar);
                    Prepared {
                        tar_sha256,
                        tar,
                        slot,
                    }
                })
                .map_err(|e| e.to_string()),
        )
    }

    /// The archive's slot; a new one waits in the queue.
    fn slot(&self, tar_sha256: &str, tar: &Arc<Vec<u8>>) -> Slot {
        let Ok(mut q) = self.queue.lock() else {
            // Poisoned by a panic elsewhere (a bug): this bundle packs its own.
            return Slot::default();
        };
        if let Some(slot) = q.slots.get(tar_sha256) {
            return slot.clone();
        }
        let slot = Slot::default();
        q.slots.insert(tar_sha256.to_string(), slot.clone());
        q.waiting.push((tar.clone(), slot.clone()));
        slot
    }

    /// Pack the largest archive that waits; `false` when none does.
    fn pack_one(&self) -> bool {
        let next = self.queue.lock().ok().and_then(|mut q| {
            let i =
                (0..q.waiting.len()).max_by_key(|&i| q.waiting.get(i).map_or(0, |w| w.0.len()))?;
            Some(q.waiting.swap_remove(i))
        });
        match next {
            Some((tar, slot)) => {
                slot.get_or_init(|| deflate(&tar));
                true
            }
            None => false,
        }
    }
}

/// The bundle's files, manifest and sums, with its archives already packed (in the order of
/// the archive artifacts, each with its tar's SHA-256).
fn bundle(job: Job<'_>, archives: &[(&str, &Packed)]) -> std::io::Result<Bundle> {
    let mut out = Bundle::default();
    let mut add = |path: String, file: pack::File, sha256: String, target: Option<Target>| {
        out.info.insert(path.clone(), FileInfo { sha256, target });
        out.files.insert(path, file);
    };
    let mut manifest_artifacts = BTreeMap::new();
    let mut archives = archives.iter();
    for a in job.artifacts {
        let files: BTreeMap<String, FileEntry> = a
            .tree
            .iter()
            .map(|(path, f)| (path.clone(), FileEntry::of(f)))
            .collect();
        match a.layout {
            Layout::TarGz { top, .. } => {
                let Some((tar_sha256, archive)) = archives.next() else {
                    return Err(std::io::Error::other("an archive was not packed"));
                };
                add(
                    a.path.clone(),
                    pack::File {
                        bytes: archive.bytes.clone(),
                        executable: false,
                    },
                    archive.sha256.clone(),
                    Some(a.target),
                );
                manifest_artifacts.insert(
                    a.path,
                    manifest::Artifact::Archive {
                        files,
                        sha256: archive.sha256.clone(),
                        size: archive.bytes.len() as u64,
                        tar_sha256: tar_sha256.to_string(),
                        target: a.target,
                        top,
                    },
                );
            }
            Layout::Files => {
                // The files move into the bundle.
                for (path, f) in a.tree {
                    let sha = files.get(&path).map(|e| e.sha256.clone());
                    let full = if a.path.is_empty() {
                        path
                    } else {
                        format!("{}/{path}", a.path)
                    };
                    add(full, f, sha.unwrap_or_default(), Some(a.target));
                }
                // Keyed by target (several targets may write into the bundle root); `dir`
                // says where the files are.
                manifest_artifacts.insert(
                    format!("{}-files", a.target),
                    manifest::Artifact::Files {
                        dir: a.path,
                        files,
                        target: a.target,
                    },
                );
            }
        }
    }
    let model = job.model;
    let images = model
        .images
        .iter()
        .map(|i| {
            let image = manifest::Image {
                digest: i.digest.as_deref().unwrap_or("unpinned").to_string(),
                reference: i.reference.clone(),
            };
            (i.name.clone(), image)
        })
        .collect();
    let (hash, per_file) = input_hash(job.sources);
    let manifest = manifest::Manifest {
        artifacts: manifest_artifacts,
        compiler: manifest::Compiler {
            name: "luciac".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        images,
        inputs: manifest::Inputs {
            files: per_file,
            sha256: hash,
        },
        manifest_version: manifest::VERSION,
        profile: model.profile_or_base().to_string(),
    };
    let manifest_text = manifest.to_text().map_err(std::io::Error::other)?;
    let manifest_sha = pack::sha256_hex(manifest_text.as_bytes());
    add(
        MANIFEST_FILE.into(),
        pack::text(manifest_text),
        manifest_sha,
        None,
    );
    let mut sums = String::new();
    for (path, info) in &out.info {
        sums.push_str(&info.sha256);
        sums.push_str("  ");
        sums.push_str(path);
        sums.push('\n');
    }
    let sums_sha = pack::sha256_hex(sums.as_bytes());
    out.info.insert(
        SUMS_FILE.into(),
        FileInfo {
            sha256: sums_sha,
            target: None,
        },
    );
    out.files.insert(SUMS_FILE.into(), pack::text(sums));
    Ok(out)
}
