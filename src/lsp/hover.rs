//! Hover: the reference's row for a node or property; for a param or secret, its description
//! and where it lands in each target (the facts of `luciac docs`); for an image, its reference
//! and pin.

use lsp_types::{Hover, HoverContents, MarkupContent, MarkupKind};

use super::diagnostics;
use super::index::{self, Symbol};
use super::schema;
use super::world::Project;
use crate::syntax::{self, Node};

pub fn hover(project: &Project, file: usize, offset: usize) -> Option<Hover> {
    let f = project.files.get(file)?;
    let occ = index::occurrences(project);
    let (text, start, end) = if let Some(o) = index::at(&occ, file, offset) {
        (symbol(project, &o.symbol)?, o.start, o.end)
    } else {
        language(&f.tree, offset)?
    };
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: Some(f.range(start, end)),
    })
}

/// A node name or property key under the cursor.
fn language(tree: &syntax::Tree, offset: usize) -> Option<(String, usize, usize)> {
    let path = syntax::path_at(tree, offset);
    let (node, parents) = path.split_last()?;
    let (ctx, _) = schema::context(parents);
    let t = node.name_token;
    if t.start <= offset && offset <= t.end {
        return Some((schema::doc(ctx, &node.name, None)?, t.start, t.end));
    }
    let entry = node
        .entries
        .iter()
        .find(|e| e.start <= offset && offset <= e.end)?;
    let (key, tok) = entry.key.as_ref()?;
    Some((schema::doc(ctx, &node.name, Some(key))?, tok.start, tok.end))
}

/// The declaration of a top-level name: the base's, else the first profile's.
fn declaration<'a>(project: &'a Project, kind: &str, name: &str) -> Option<&'a Node> {
    project.files.iter().find_map(|f| {
        f.tree
            .nodes
            .iter()
            .find(|n| n.name == kind && n.arg(0).is_some_and(|v| v.text == name))
    })
}

fn description(node: &Node) -> Option<String> {
    node.child("description")
        .and_then(|d| d.arg(0))
        .map(|v| v.text.clone())
}

fn symbol(project: &Project, sym: &Symbol) -> Option<String> {
    let mut out = format!("**{} `{}`**", sym.kind(), sym.name());
    match sym {
        Symbol::Param(name) | Symbol::Secret(name) => {
            let node = declaration(project, sym.kind(), name);
            if let Some(d) = node.and_then(description) {
                out.push_str(&format!("\n\n{d}"));
            }
            match landing(project, sym) {
                Some(l) => out.push_str(&format!("\n\n{l}")),
                None => out.push_str(
                    "\n\nWhere it lands in each target is shown once the declaration compiles.",
                ),
            }
        }
        Symbol::Image(name) => {
            let node = declaration(project, "image", name);
            if let Some(r) = node.and_then(|n| n.arg(1)) {
                out.push_str(&format!("\n\nReference: `{}`", r.text));
            }
            match node.and_then(|n| n.prop("digest")) {
                Some(d) => out.push_str(&format!("\n\nPinned: `{}`", d.text)),
                None => out.push_str(
                    "\n\nNot pinned: no `digest=` (warning W0050; `--locked` refuses it).",
                ),
            }
        }
        Symbol::Service(name) => {
            let node = declaration(project, "service", name);
            if let Some(img) = node.and_then(|n| n.child("image")).and_then(|i| i.arg(0)) {
                out.push_str(&format!("\n\nImage: `{}`", img.text));
            }
            let ports: Vec<String> = node
                .map(|n| {
                    n.children
                        .iter()
                        .filter(|c| c.name == "port")
                        .filter_map(|p| Some(format!("`{}` {}", p.arg(0)?.text, p.arg(1)?.text)))
                        .collect()
                })
                .unwrap_or_default();
            if !ports.is_empty() {
                out.push_str(&format!("\n\nPorts: {}", ports.join(", ")));
            }
            out.push_str(&format!(
                "\n\n`{{{name}.host}}` is its address in each target; `{{{name}.port.NAME}}` a port."
            ));
        }
        Symbol::Port { service, name } => {
            let port = declaration(project, "service", service).and_then(|s| {
                s.children
                    .iter()
                    .find(|c| c.name == "port" && c.arg(0).is_some_and(|v| v.text == *name))
            });
            out = format!("**port `{name}` of service `{service}`**");
            if let Some(n) = port.and_then(|p| p.arg(1)) {
                out.push_str(&format!("\n\nContainer port {}", n.text));
            }
            if let Some(p) = port.and_then(|p| p.prop("publish")) {
                out.push_str(&format!(", published on the host as `{}`", p.text));
            }
        }
    }
    Some(out)
}

/// The section of the configuration reference (`luciac docs`) about a param or secret. It
/// needs the compiled models of the base and every profile; `None` while any has errors.
fn landing(project: &Project, sym: &Symbol) -> Option<String> {
    let base = diagnostics::check(project, 0).model?;
    let mut profiles = Vec::new();
    for (i, f) in project.files.iter().enumerate().skip(1) {
        let name = f.profile.clone()?;
        profiles.push((name, diagnostics::check(project, i).model?));
    }
    let reference = crate::docs::configuration_reference(&base, &profiles);
    match sym {
        Symbol::Param(name) => {
            let head = format!("### `{name}`\n\n");
            let start = reference.find(&head)? + head.len();
            let rest = &reference[start..];
            let end = rest.find("\n#").unwrap_or(rest.len());
            // The first paragraph is the description, already shown.
            let body = rest[..end].split_once("\n\n").map_or("", |(_, b)| b);
            Some(body.trim().to_string())
        }
        Symbol::Secret(name) => {
            let mut lines = reference
                .lines()
                .skip_while(|l| !l.starts_with("| Secret |"));
            let header = lines.next()?;
            let row = lines.find(|l| l.starts_with(&format!("| `{name}` |")))?;
            // The reference's table row, one column per line: a hover is narrow.
            let cells = |l: &'_ str| -> Vec<String> {
                l.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().to_string())
                    .collect()
            };
            let list: Vec<String> = cells(header)
                .into_iter()
                .zip(cells(row))
                .skip(1)
                .map(|(h, v)| format!("- {h}: {v}"))
                .collect();
            Some(list.join("\n"))
        }
        _ => None,
    }
}
