//! The README section that lists what a declaration grants beyond the defaults every target
//! applies (non-root, all capabilities dropped, a private network, nothing from the host),
//! with the reasons the declaration gives. Compose, Helm and Kustomize READMEs share it.

use crate::model::{GpuVendor, Model};
use crate::targets::k8s;
use crate::targets::markdown::{self, Table};

/// Which README the section goes into: Kubernetes adds each pod's Pod Security level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Compose,
    Kubernetes,
}

/// `## Host access and privileges`, or nothing when no service asks for any.
pub fn section(model: &Model, flavor: Flavor) -> String {
    let mut table = match flavor {
        Flavor::Compose => Table::new(&["Service", "Grants"]),
        Flavor::Kubernetes => Table::new(&["Service", "Grants", "Pod Security level"]),
    };
    let mut any = false;
    for s in &model.services {
        let mut items: Vec<String> = Vec::new();
        if let Some(r) = &s.root {
            items.push(format!("starts as root: {r}"));
        }
        for (c, r) in &s.capabilities {
            items.push(format!("capability `{c}`: {r}"));
        }
        if let Some(r) = &s.host_network {
            items.push(format!("the host's network: {r}"));
        }
        for b in &s.binds {
            let ro = if b.read_only { " (read-only)" } else { "" };
            items.push(format!("host path `{}` at `{}`{ro}", b.host, b.path));
        }
        for d in &s.devices {
            let via = match (flavor, &d.kubernetes_resource) {
                (Flavor::Kubernetes, Some(r)) => {
                    format!(" through the device plugin resource `{r}`")
                }
                _ => String::new(),
            };
            items.push(format!("device `{}` at `{}`{via}", d.host, d.path));
        }
        if let Some(g) = &s.gpu {
            let need = match (flavor, g.vendor) {
                (Flavor::Compose, GpuVendor::Nvidia) => "the NVIDIA Container Toolkit on the host",
                (Flavor::Compose, GpuVendor::Amd) => {
                    "the ROCm driver on the host (`/dev/kfd`, `/dev/dri`)"
                }
                (Flavor::Kubernetes, GpuVendor::Nvidia) => {
                    "the NVIDIA device plugin in the cluster"
                }
                (Flavor::Kubernetes, GpuVendor::Amd) => "the AMD GPU device plugin in the cluster",
            };
            items.push(format!(
                "{} {} GPU(s), which need {need}",
                g.count,
                g.vendor.name()
            ));
        }
        if items.is_empty() {
            continue;
        }
        let mut row = vec![format!("`{}`", s.name), markdown::cell(&items.join("; "))];
        if flavor == Flavor::Kubernetes {
            row.push(format!("`{}`", k8s::pod_security_level(s)));
        }
        table.row(&row);
        any = true;
    }
    if !any {
        return String::new();
    }
    let mut out = String::from(
        "## Host access and privileges\n\nEvery service runs as a non-root user with all capabilities dropped, on a private network,\nwith nothing from the host, except what the declaration grants here, with its reasons:\n\n",
    );
    out.push_str(&table.finish());
    if flavor == Flavor::Kubernetes {
        out.push_str(&crate::targets::text::fill(
            include_str!("privileges-namespace.md"),
            &[("LEVEL", k8s::namespace_security_level(model))],
        ));
    }
    out.push('\n');
    out
}
