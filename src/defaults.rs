//! The repository's own declaration, compiled into the binary for `luciac init`, so someone
//! who installed only the binary starts from a working, tested declaration.

pub const FILES: &[(&str, &str)] = &[
    ("lucia.kdl", include_str!("../lucia.kdl")),
    ("profiles/dev.kdl", include_str!("../profiles/dev.kdl")),
    ("profiles/prod.kdl", include_str!("../profiles/prod.kdl")),
];
