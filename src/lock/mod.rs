//! Image pins: the lock file next to the declaration and the command that writes it.
//!
//! `luciac lock` is the only command that talks to a network. It asks each image's registry
//! (OCI distribution API) for the digest behind its tag and writes `lucia.lock`; `build` reads
//! that file and never touches the network. One file per concern:
//!
//! | File | Concern |
//! |---|---|
//! | `file.rs` | the lock file model, stable bytes, atomic write |
//! | `reference.rs` | Docker's reference normalisation (`redis` → `docker.io/library/redis:latest`) |
//! | `config.rs` | per-registry settings: extra CA certificates, mirrors, insecure (plain HTTP) |
//! | `auth.rs` | credentials from Docker's `config.json` and credential helpers; challenges |
//! | `registry.rs` | the HTTP client: HEAD then GET, bearer tokens, retries, digest checks |
//! | `resolve.rs` | `lock`, `lock --update`, `lock --check` over every profile |
//!
//! [`apply`] runs inside `compile`, before resolution: it puts the lock's digests on the
//! declaration's images and reports unpinned, stale and conflicting pins at the image.

pub mod auth;
pub mod config;
pub mod file;
pub mod reference;
pub mod registry;
pub mod resolve;

use crate::decl::Decl;
use crate::diag::{self, Diag};
use crate::resolve::Strictness;
use crate::source::S;

pub use file::{LOCK_FILE, LockFile, Pin};
pub use reference::Reference;

/// Pin the declaration's images from the lock, and report what is not pinned.
///
/// An explicit `digest=` wins when it agrees with the lock; when it disagrees that is an error
/// naming both. Unpinned images are warnings (W0050), errors under `--locked`, as is a pin
/// made for another reference (E0081).
pub fn apply(decl: &mut Decl, lock: Option<&LockFile>, strict: Strictness, diags: &mut Vec<Diag>) {
    let empty = LockFile::default();
    let lock = lock.unwrap_or(&empty);
    for img in &mut decl.images {
        let required = match &img.platforms {
            Some(p) => match reference::platforms(&p.v) {
                Ok(list) => list,
                Err(m) => {
                    diags.push(
                        Diag::error(diag::NOT_ALLOWED, m)
                            .label(p.span, "not a platform list")
                            .help("for example platforms=\"linux/amd64,linux/arm64\""),
                    );
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let Ok(reference) = Reference::parse(&img.reference.v) else {
            continue; // resolve reports the bad reference (E0025)
        };
        let key = reference.to_string();
        if let Some(pin) = lock.images.get(&key) {
            // Offline: the pin must provide what the declaration now requires.
            let missing: Vec<&String> = required
                .iter()
                .filter(|p| !pin.platforms.contains_key(*p))
                .collect();
            if !missing.is_empty() {
                let span = img.platforms.as_ref().map_or(img.span, |p| p.span);
                diags.push(
                    Diag::error(
                        diag::PLATFORM_MISSING,
                        format!(
                            "image `{}`: the pin in {LOCK_FILE} provides no {}",
                            img.name.v,
                            missing
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .label(span, "required here")
                    .help(format!(
                        "run `luciac lock --update {}` (it fails if the registry lacks them too)",
                        img.name.v
                    )),
                );
            }
            match &img.digest {
                Some(d) if d.v != pin.digest => diags.push(
                    Diag::error(
                        diag::PIN_CONFLICT,
                        format!(
                            "image `{}`: `digest=` says {} but {LOCK_FILE} pins {key} to {}",
                            img.name.v, d.v, pin.digest
                        ),
                    )
                    .label(d.span, "disagrees with the lock")
                    .help(format!(
                        "remove `digest=` to use the lock, or run `luciac lock --update {}` if the tag moved",
                        img.name.v
                    )),
                ),
                Some(_) => {}
                None => img.digest = Some(S::new(pin.digest.clone(), img.reference.span)),
            }
            continue;
        }
        if img.digest.is_some() {
            continue; // pinned by hand; `luciac lock` records it on its next run
        }
        if let Some((old, _)) = lock.stale_for(&img.name.v, &key) {
            let msg = format!(
                "image `{}`: {LOCK_FILE} pins {old}, but the declaration now says {key}",
                img.name.v
            );
            let d = if strict.locked {
                Diag::error(diag::PIN_STALE, msg)
            } else {
                Diag::warning(diag::UNPINNED_IMAGE, msg)
            };
            diags.push(
                d.label(img.reference.span, "not the reference that was pinned")
                    .help("run `luciac lock` to pin the new reference, and commit lucia.lock"),
            );
            continue;
        }
        let msg = format!(
            "image `{}` ({}) is not pinned by digest",
            img.name.v, img.reference.v
        );
        let d = if strict.locked {
            Diag::error(diag::UNPINNED_IMAGE, msg)
        } else {
            Diag::warning(diag::UNPINNED_IMAGE, msg)
        };
        diags.push(
            d.label(
                img.reference.span,
                "tag only; the image behind it can change",
            )
            .help(
                "run `luciac lock` to pin every image in lucia.lock; --locked makes this an error",
            ),
        );
    }
}
