//! Go to definition, find references and rename, across the base and its profiles.

use std::collections::HashMap;

use lsp_types::{Location, PrepareRenameResponse, TextEdit, Uri, WorkspaceEdit};

use super::index::{self, Occurrence, Symbol};
use super::world::Project;

fn location(project: &Project, o: &Occurrence) -> Option<Location> {
    let f = project.files.get(o.file)?;
    Some(Location::new(f.uri()?, f.range(o.start, o.end)))
}

/// The base's declaration of the symbol under the cursor, else a profile's.
pub fn definition(project: &Project, file: usize, offset: usize) -> Vec<Location> {
    let occ = index::occurrences(project);
    let Some(here) = index::at(&occ, file, offset) else {
        return vec![];
    };
    let mut decls: Vec<&Occurrence> = occ
        .iter()
        .filter(|o| o.is_decl && o.symbol == here.symbol)
        .collect();
    // Base first: a profile only changes what the base defines.
    decls.sort_by_key(|o| (o.file, o.start));
    if decls.iter().any(|o| o.file == 0) {
        decls.retain(|o| o.file == 0);
    }
    decls
        .into_iter()
        .filter_map(|o| location(project, o))
        .collect()
}

pub fn references(project: &Project, file: usize, offset: usize, with_decl: bool) -> Vec<Location> {
    let occ = index::occurrences(project);
    let Some(here) = index::at(&occ, file, offset) else {
        return vec![];
    };
    occ.iter()
        .filter(|o| o.symbol == here.symbol && (with_decl || !o.is_decl))
        .filter_map(|o| location(project, o))
        .collect()
}

/// The range that would be renamed, or why nothing can be.
pub fn prepare_rename(
    project: &Project,
    file: usize,
    offset: usize,
) -> Result<PrepareRenameResponse, String> {
    let occ = index::occurrences(project);
    let here = index::at(&occ, file, offset).ok_or_else(|| {
        "only params, secrets, services, images and ports can be renamed".to_string()
    })?;
    let f = project
        .files
        .get(file)
        .ok_or_else(|| "unknown file".to_string())?;
    Ok(PrepareRenameResponse::Range(f.range(here.start, here.end)))
}

/// Every occurrence renamed; refused when the new name is not a valid name of its kind or is
/// already taken.
// `WorkspaceEdit::changes` is keyed by `Uri`, whose cached parse trips this lint; the
// key is never mutated.
#[allow(clippy::mutable_key_type)]
pub fn rename(
    project: &Project,
    file: usize,
    offset: usize,
    new_name: &str,
) -> Result<WorkspaceEdit, String> {
    let occ = index::occurrences(project);
    let here = index::at(&occ, file, offset).ok_or_else(|| {
        "only params, secrets, services, images and ports can be renamed".to_string()
    })?;
    let max = if matches!(here.symbol, Symbol::Port { .. }) {
        15
    } else {
        63
    };
    crate::values::check_name(new_name, max).map_err(|e| {
        format!(
            "`{new_name}` is not a valid {} name: {e}",
            here.symbol.kind()
        )
    })?;
    let renamed = match &here.symbol {
        Symbol::Param(_) => Symbol::Param(new_name.into()),
        Symbol::Secret(_) => Symbol::Secret(new_name.into()),
        Symbol::Service(_) => Symbol::Service(new_name.into()),
        Symbol::Image(_) => Symbol::Image(new_name.into()),
        Symbol::Port { service, .. } => Symbol::Port {
            service: service.clone(),
            name: new_name.into(),
        },
    };
    if renamed != here.symbol && occ.iter().any(|o| o.is_decl && o.symbol == renamed) {
        return Err(format!(
            "a {} named `{new_name}` already exists",
            here.symbol.kind()
        ));
    }
    let mut changes: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for o in occ.iter().filter(|o| o.symbol == here.symbol) {
        let Some(loc) = location(project, o) else {
            continue;
        };
        changes
            .entry(loc.uri)
            .or_default()
            .push(TextEdit::new(loc.range, new_name.to_string()));
    }
    Ok(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    })
}
