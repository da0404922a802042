//! The Kubernetes pod specs under `podman kube play` (see the part 4).
