//! Document symbols: the outline of a declaration or profile.

use lsp_types::{DocumentSymbol, SymbolKind};

use super::world::File;
use crate::syntax::Node;

pub fn outline(f: &File) -> Vec<DocumentSymbol> {
    f.tree.nodes.iter().map(|n| symbol(f, n, 0)).collect()
}

/// Top-level nodes and, inside services, ports, env entries and volumes. Deeper nodes are
/// settings, not things one navigates to.
fn symbol(f: &File, n: &Node, depth: usize) -> DocumentSymbol {
    let name = n.arg(0).map(|v| v.text.clone()).unwrap_or_default();
    let kind = match n.name.as_str() {
        "app" => SymbolKind::PACKAGE,
        "image" => SymbolKind::OBJECT,
        "param" => SymbolKind::VARIABLE,
        "secret" => SymbolKind::KEY,
        "service" => SymbolKind::CLASS,
        "target" => SymbolKind::NAMESPACE,
        "port" => SymbolKind::NUMBER,
        "env" => SymbolKind::FIELD,
        "volume" => SymbolKind::FILE,
        _ => SymbolKind::PROPERTY,
    };
    let children: Vec<DocumentSymbol> = if depth == 0 && n.name == "service" {
        n.children
            .iter()
            .filter(|c| matches!(c.name.as_str(), "port" | "env" | "volume"))
            .map(|c| symbol(f, c, depth + 1))
            .collect()
    } else {
        vec![]
    };
    let selection = n
        .arg(0)
        .map_or((n.name_token.start, n.name_token.end), |v| {
            (v.token.start, v.token.end)
        });
    #[allow(deprecated)] // `deprecated` is a required field of the struct.
    DocumentSymbol {
        name: if name.is_empty() {
            n.name.clone()
        } else {
            format!("{} {name}", n.name)
        },
        detail: detail(n),
        kind,
        tags: None,
        deprecated: None,
        range: f.range(n.start, n.end),
        selection_range: f.range(selection.0, selection.1),
        children: (!children.is_empty()).then_some(children),
    }
}

fn detail(n: &Node) -> Option<String> {
    match n.name.as_str() {
        "image" | "port" | "volume" => n.arg(1).map(|v| v.text.clone()),
        "param" => n.prop("type").map(|v| v.text.clone()),
        "app" => n.prop("version").map(|v| v.text.clone()),
        "env" => n
            .arg(1)
            .map(|v| v.text.clone())
            .or_else(|| n.prop("secret").map(|s| format!("secret {}", s.text))),
        _ => None,
    }
}
