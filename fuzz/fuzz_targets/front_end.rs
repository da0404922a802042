//! Arbitrary bytes as a declaration (and, after a NUL, a profile): parse, decode, overlay and
//! resolve, then lower to every target, pack the bundle and render every diagnostic in both
//! formats. Any panic, abort or stack overflow is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (base, profile) = match text.split_once('\0') {
        Some((b, p)) => (b, Some(("fuzz", p))),
        None => (text, None),
    };
    luciac_fuzz_common::run(base, profile);
});

#[path = "common.rs"]
mod luciac_fuzz_common;
