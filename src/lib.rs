//! luciac: compiles one `lucia.kdl` declaration (plus profile overlays) into reproducible,
//! hash-pinned deployment bundles. See `ARCHITECTURE.md` for the map of the stages.

pub mod bundle;
pub mod compile;
pub mod decl;
pub mod decode;
pub mod defaults;
pub mod diag;
pub mod docs;
pub mod fmt;
pub mod graph;
pub mod lock;
pub mod lsp;
pub mod manifest;
pub mod model;
pub mod output;
pub mod overlay;
pub mod pack;
pub mod par;
pub mod parse;
pub mod resolve;
pub mod source;
pub mod syntax;
pub mod targets;
pub mod values;
pub mod verify;
pub mod yaml;
