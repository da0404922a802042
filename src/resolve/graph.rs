//! The service graph: cycles (reported once, with a label per edge), host-port clashes and
//! the canonical start order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::Resolver;
use crate::decl::Decl;
use crate::diag::{self, Diag};
use crate::model::ServiceInfo;
use crate::source::Span;

impl Resolver<'_> {
    /// Cycles in the service graph, each reported once with a label per edge.
    pub(super) fn graph(&mut self, services: &mut [(ServiceInfo, Vec<(String, Span)>)]) {
        let mut g: DiGraph<String, Span> = DiGraph::new();
        let mut idx: BTreeMap<String, NodeIndex> = BTreeMap::new();
        let mut names: Vec<&str> = services.iter().map(|(s, _)| s.name.as_str()).collect();
        names.sort();
        for n in names {
            idx.insert(n.to_string(), g.add_node(n.to_string()));
        }
        let mut sorted: Vec<&(ServiceInfo, Vec<(String, Span)>)> = services.iter().collect();
        sorted.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (s, refs) in sorted {
            let mut refs = refs.clone();
            refs.sort();
            refs.dedup_by(|a, b| a.0 == b.0);
            for (to, span) in refs {
                if let (Some(a), Some(b)) = (idx.get(&s.name), idx.get(&to)) {
                    g.add_edge(*a, *b, span);
                }
            }
        }
        // Kosaraju (petgraph's walks with an explicit stack; its Tarjan recurses once per
        // service along a dependency chain), with the components in name order so that the
        // report does not depend on the algorithm.
        let mut sccs = kosaraju_scc(&g);
        for scc in &mut sccs {
            scc.sort_by(|a, b| g[*a].cmp(&g[*b]));
        }
        sccs.sort_by(|a, b| {
            let first = |c: &Vec<NodeIndex>| c.first().map(|n| g[*n].clone());
            first(a).cmp(&first(b))
        });
        for scc in sccs {
            let self_loop = scc.len() == 1 && g.find_edge(scc[0], scc[0]).is_some();
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let Some(start) = scc.iter().copied().min_by(|a, b| g[*a].cmp(&g[*b])) else {
                continue;
            };
            let path = cycle_path(&g, start, &members);
            let names: Vec<&str> = path
                .iter()
                .map(|(n, _)| g[*n].as_str())
                .chain(std::iter::once(g[start].as_str()))
                .collect();
            let mut d = Diag::error(
                diag::CYCLE,
                format!("dependency cycle: {}", names.join(" -> ")),
            );
            let n = path.len();
            for (i, (node, span)) in path.iter().enumerate() {
                let next = if i + 1 < n {
                    g[path[i + 1].0].as_str()
                } else {
                    g[start].as_str()
                };
                let text = if i + 1 == n {
                    format!("`{}` needs `{next}`, closing the cycle", g[*node])
                } else {
                    format!("`{}` needs `{next}`", g[*node])
                };
                d = d.label(*span, text);
            }
            self.err(d.help("services start in dependency order; remove one of these edges"));
        }
    }

    pub(super) fn host_ports(
        &mut self,
        decl: &Decl,
        services: &[(ServiceInfo, Vec<(String, Span)>)],
    ) {
        let mut seen: BTreeMap<u16, Span> = BTreeMap::new();
        for s in &decl.services {
            if !services.iter().any(|(x, _)| x.name == s.name.v) {
                continue;
            }
            for p in &s.ports {
                let Some(pb) = &p.publish else { continue };
                let Some(info) = services
                    .iter()
                    .find(|(x, _)| x.name == s.name.v)
                    .and_then(|(x, _)| x.ports.iter().find(|q| q.name == p.name.v))
                else {
                    continue;
                };
                let Some(publish) = &info.publish else {
                    continue;
                };
                let host = publish.default_port();
                if let Some(first) = seen.get(&host) {
                    self.err(
                        Diag::error(
                            diag::HOST_PORT_CONFLICT,
                            format!("host port {host} is published twice"),
                        )
                        .label(pb.span, "published again here")
                        .label(*first, "first published here")
                        .help("choose another host port for one of them"),
                    );
                } else {
                    seen.insert(host, pb.span);
                }
                if host < 1024 {
                    self.err(
                        Diag::warning(diag::LOW_HOST_PORT, format!("host port {host} is below 1024"))
                            .label(pb.span, "privileged port")
                            .help("rootless Docker and Podman cannot bind it without extra setup; prefer a port above 1024"),
                    );
                }
            }
        }
    }
}

/// A cycle through `start` inside one strongly connected component, visiting neighbours in
/// name order so the report is the same whatever order the file lists services in.
///
/// Iterative (an explicit stack of edge lists) so that a cycle through thousands of services
/// cannot overflow the call stack.
fn cycle_path(
    g: &DiGraph<String, Span>,
    start: NodeIndex,
    members: &BTreeSet<NodeIndex>,
) -> Vec<(NodeIndex, Span)> {
    let sorted_edges = |at: NodeIndex| {
        let mut edges: Vec<(NodeIndex, Span)> = g
            .edges(at)
            .map(|e| (petgraph::visit::EdgeRef::target(&e), *e.weight()))
            .filter(|(t, _)| members.contains(t))
            .collect();
        // Reversed, so that popping from the end visits names in ascending order.
        edges.sort_by(|a, b| g[b.0].cmp(&g[a.0]));
        edges
    };
    let mut seen = BTreeSet::from([start]);
    // One frame per node on the current path: the node and its edges not yet tried.
    let mut stack: Vec<(NodeIndex, Vec<(NodeIndex, Span)>)> = vec![(start, sorted_edges(start))];
    let mut path: Vec<(NodeIndex, Span)> = Vec::new();
    while let Some((at, edges)) = stack.last_mut() {
        let at = *at;
        let Some((to, span)) = edges.pop() else {
            stack.pop();
            path.pop();
            continue;
        };
        if to == start {
            path.push((at, span));
            return path;
        }
        if seen.insert(to) {
            path.push((at, span));
            stack.push((to, sorted_edges(to)));
        }
    }
    path
}

/// Kahn's algorithm with a min-heap on names: dependencies first, ties by name.
pub(super) fn canonical_order(
    services: Vec<(ServiceInfo, Vec<(String, Span)>)>,
) -> Vec<ServiceInfo> {
    let mut by_name: BTreeMap<String, ServiceInfo> = services
        .into_iter()
        .map(|(s, _)| (s.name.clone(), s))
        .collect();
    let mut indeg: BTreeMap<String, usize> = by_name
        .iter()
        .map(|(n, s)| {
            (
                n.clone(),
                s.depends_on
                    .iter()
                    .filter(|d| by_name.contains_key(*d))
                    .count(),
            )
        })
        .collect();
    // Who depends on each service (each dependent once), so that placing a service touches
    // only its dependents: linear in services and edges, not quadratic in services.
    let mut dependents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (m, s) in &by_name {
        for d in &s.depends_on {
            dependents.entry(d.as_str()).or_default().insert(m.as_str());
        }
    }
    let mut heap: BinaryHeap<Reverse<String>> = indeg
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| Reverse(n.clone()))
        .collect();
    let mut order = Vec::new();
    let mut placed = BTreeSet::new();
    while let Some(Reverse(n)) = heap.pop() {
        for m in dependents.get(n.as_str()).into_iter().flatten() {
            if let Some(d) = indeg.get_mut(*m) {
                *d -= 1;
                if *d == 0 {
                    heap.push(Reverse(m.to_string()));
                }
            }
        }
        placed.insert(n.clone());
        order.push(n);
    }
    // A cycle was reported already; keep any leftovers in name order rather than dropping them.
    for n in by_name.keys() {
        if !placed.contains(n) {
            order.push(n.clone());
        }
    }
    order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect()
}
