//! `luciac verify` catches every way a bundle can be tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{luciac, run};
use luciac::pack;
use tar::{EntryType, Header};

/// A freshly built prod bundle in a temporary project.
fn bundle() -> (tempfile::TempDir, PathBuf, String) {
    let dir = common::project();
    assert!(
        run(luciac()
            .current_dir(dir.path())
            .args(["build", "--profile", "prod"]))
        .status
        .success()
    );
    let b = dir.path().join("bundles/prod");
    let name = std::fs::read_dir(&b)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .find(|n| n.ends_with(".tar.gz"))
        .unwrap_or_else(|| panic!("no tarball"));
    (dir, b, name)
}

fn verify(path: &Path) -> (Option<i32>, String) {
    let out = run(luciac()
        .args(["verify"])
        .arg(path)
        .args(["--color", "never"]));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn expect(path: &Path, code: &str, needle: &str) {
    let (rc, err) = verify(path);
    assert_eq!(rc, Some(1), "verify passed although {needle}:\n{err}");
    assert!(
        err.contains(code) && err.contains(needle),
        "expected {code} / {needle}:\n{err}"
    );
}

/// Replace an archive and make the outer records (lock and sums) agree with it, as an
/// attacker who can rewrite the whole directory would; only the member checks remain.
fn replace_consistently(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{e}"));
    let lock_path = dir.join("bundle-manifest.json");
    let mut lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock_path).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    lock["artifacts"][name]["sha256"] = pack::sha256_hex(bytes).into();
    lock["artifacts"][name]["size"] = bytes.len().into();
    std::fs::write(
        &lock_path,
        serde_json::to_string_pretty(&lock).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut sums = String::new();
    for rel in [name, "bundle-manifest.json"] {
        sums.push_str(&format!(
            "{}  {rel}\n",
            pack::sha256_hex(&std::fs::read(dir.join(rel)).unwrap_or_default())
        ));
    }
    std::fs::write(dir.join("SHA256SUMS"), sums).unwrap_or_else(|e| panic!("{e}"));
}

/// Rebuild the archive with its real members plus one crafted entry.
fn with_entry(
    dir: &Path,
    name: &str,
    raw_name: &[u8],
    kind: EntryType,
    data: &[u8],
    header_size: Option<u64>,
) -> Vec<u8> {
    let (top, tree) = pack::untar_gz(&std::fs::read(dir.join(name)).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |n: &[u8], kind: EntryType, data: &[u8], size: u64| {
        let mut h = Header::new_gnu();
        if let Some(g) = h.as_gnu_mut() {
            g.name[..n.len()].copy_from_slice(n);
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap_or_else(|e| panic!("{e}"));
    };
    for (p, f) in &tree {
        add(
            format!("{top}/{p}").as_bytes(),
            EntryType::Regular,
            &f.bytes,
            f.bytes.len() as u64,
        );
    }
    add(
        raw_name,
        kind,
        data,
        header_size.unwrap_or(data.len() as u64),
    );
    let t = b.into_inner().unwrap_or_else(|e| panic!("{e}"));
    pack::gzip(&t).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_untouched_bundle_verifies_in_every_form() {
    let (_d, dir, name) = bundle();
    assert_eq!(verify(&dir).0, Some(0));
    assert_eq!(verify(&dir.join(&name)).0, Some(0));
    assert_eq!(verify(dir.parent().unwrap_or(&dir)).0, Some(0));
    assert_eq!(
        verify(&common::repo().join("bundles")).0,
        Some(0),
        "the committed bundles verify"
    );
}

#[test]
fn a_flipped_byte_is_caught() {
    let (_d, dir, name) = bundle();
    let mut bytes = std::fs::read(dir.join(&name)).unwrap_or_default();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(dir.join(&name), bytes).unwrap_or_else(|e| panic!("{e}"));
    expect(&dir, "E0070", &name);
}

#[test]
fn a_changed_member_is_caught_even_when_lock_and_sums_were_rewritten() {
    let (_d, dir, name) = bundle();
    let (top, mut tree) = pack::untar_gz(&std::fs::read(dir.join(&name)).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(f) = tree.get_mut("compose.yaml") {
        f.bytes.extend_from_slice(b"# injected\n");
    }
    let archive = pack::tar_gz(&tree, &top, pack::Order::Sorted).unwrap_or_else(|e| panic!("{e}"));
    replace_consistently(&dir, &name, &archive.bytes);
    expect(&dir, "E0070", "member `compose.yaml` differs");
}

#[test]
fn unsafe_entries_are_caught() {
    let cases: [(&[u8], EntryType, &str); 5] = [
        (b"/etc/passwd", EntryType::Regular, "absolute path"),
        (
            b"lucia-prod-compose-1.2.3/../../evil",
            EntryType::Regular,
            "`..`",
        ),
        (
            b"lucia-prod-compose-1.2.3/link",
            EntryType::Symlink,
            "is a link",
        ),
        (
            b"lucia-prod-compose-1.2.3/dev",
            EntryType::Char,
            "is a device",
        ),
        (
            b"lucia-prod-compose-1.2.3/compose.yaml",
            EntryType::Regular,
            "appears twice",
        ),
    ];
    for (raw, kind, needle) in cases {
        let (_d, dir, name) = bundle();
        let bytes = with_entry(&dir, &name, raw, kind, b"x", None);
        replace_consistently(&dir, &name, &bytes);
        expect(&dir, "E0071", needle);
    }
}

#[test]
fn a_size_that_does_not_match_its_data_is_caught() {
    let (_d, dir, name) = bundle();
    let bytes = with_entry(
        &dir,
        &name,
        b"lucia-prod-compose-1.2.3/extra",
        EntryType::Regular,
        b"short",
        Some(4096),
    );
    replace_consistently(&dir, &name, &bytes);
    let (rc, err) = verify(&dir);
    assert_eq!(rc, Some(1), "{err}");
    assert!(
        err.contains("E0071")
            && (err.contains("size in the header") || err.contains("truncated or corrupt")),
        "{err}"
    );
}

#[test]
fn missing_extra_and_edited_files_are_caught() {
    let (_d, dir, _) = bundle();
    std::fs::write(dir.join("stowaway.sh"), "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
    expect(&dir, "E0072", "stowaway.sh: not listed in SHA256SUMS");

    let (_d, dir, name2) = bundle();
    std::fs::remove_file(dir.join(&name2)).unwrap_or_else(|e| panic!("{e}"));
    expect(&dir, "E0072", "missing");

    let (_d, dir, _) = bundle();
    let lock = std::fs::read_to_string(dir.join("bundle-manifest.json"))
        .unwrap_or_default()
        .replace("unpinned", "sha256:forged");
    std::fs::write(dir.join("bundle-manifest.json"), lock).unwrap_or_else(|e| panic!("{e}"));
    expect(&dir, "E0070", "bundle-manifest.json");

    let (_d, dir, _) = bundle();
    std::fs::write(dir.join("SHA256SUMS"), "not a sums line\n").unwrap_or_else(|e| panic!("{e}"));
    expect(&dir, "E0073", "line 1");
}

#[test]
fn sha256sum_accepts_what_verify_accepts() {
    let (_d, dir, _) = bundle();
    let out = run(std::process::Command::new("sha256sum")
        .current_dir(&dir)
        .args(["-c", "--strict", "SHA256SUMS"]));
    assert!(out.status.success());
}

/// The manifest's compatibility policy (`docs/bundle-manifest.md`): fields a newer luciac adds
/// are ignored; a newer `manifest_version` is refused by name, not misread.
#[test]
fn a_newer_manifest_version_is_refused_and_added_fields_are_ignored() {
    let (_dir, b, _) = bundle();
    let path = b.join("bundle-manifest.json");
    let text = String::from_utf8(std::fs::read(&path).unwrap_or_default()).unwrap_or_default();
    let rewrite = |new: &str| {
        std::fs::write(&path, new).unwrap_or_else(|e| panic!("{e}"));
        let sums = std::fs::read_to_string(b.join("SHA256SUMS")).unwrap_or_default();
        let fixed: String = sums
            .lines()
            .map(|l| match l.split_once("  ") {
                Some((_, "bundle-manifest.json")) => format!(
                    "{}  bundle-manifest.json\n",
                    pack::sha256_hex(new.as_bytes())
                ),
                _ => format!("{l}\n"),
            })
            .collect();
        std::fs::write(b.join("SHA256SUMS"), fixed).unwrap_or_else(|e| panic!("{e}"));
    };
    rewrite(&text.replacen('{', "{\n  \"added-later\": {\"any\": [1, 2]},", 1));
    let (rc, err) = verify(&b);
    assert_eq!(rc, Some(0), "an added field broke verify:\n{err}");
    rewrite(&text.replace("\"manifest_version\": 1,", "\"manifest_version\": 2,"));
    expect(
        &b,
        "E0073",
        "manifest_version 2 is newer than this luciac reads (1)",
    );
}
