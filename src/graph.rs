//! `luciac graph`: the service dependency graph as Graphviz DOT, in canonical order.

use crate::model::Model;

pub fn dot(model: &Model) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
        model.instance_name()
    );
    for s in &model.services {
        let label = if s.host_unit.is_empty() {
            s.name.clone()
        } else {
            format!("{}\\n(host: {})", s.name, s.host_unit.join(" | "))
        };
        out.push_str(&format!("  \"{}\" [label=\"{}\"];\n", s.name, label));
    }
    for s in &model.services {
        for d in &s.depends_on {
            out.push_str(&format!("  \"{}\" -> \"{d}\";\n", s.name));
        }
    }
    out.push_str("}\n");
    out
}
