//! The operator scripts of `infra/scripts/`, shipped inside the bundles where they are used:
//! health check and backup next to `compose.yaml` and in the systemd package, and all three
//! (with `validate-deployment.sh`) in `bundles/<profile>/scripts/` for every target, the
//! Kubernetes ones included. One copy of each script exists, in `infra/scripts/`.

use crate::model::Model;
use crate::pack::{self, FileTree};
use crate::targets::{Artifact, Layout};

pub const HEALTH_CHECK: &str = include_str!("../../infra/scripts/health-check.sh");
pub const BACKUP_CONFIG: &str = include_str!("../../infra/scripts/backup-config.sh");
pub const VALIDATE_DEPLOYMENT: &str = include_str!("../../infra/scripts/validate-deployment.sh");

/// Add the scripts an operator runs on the host of an unpacked bundle.
pub fn add_host_scripts(tree: &mut FileTree) {
    tree.insert("health-check.sh".into(), pack::script(HEALTH_CHECK));
    tree.insert("backup-config.sh".into(), pack::script(BACKUP_CONFIG));
}

/// `bundles/<profile>/scripts/`: every operator script, for every target.
pub fn lower(_model: &Model) -> Artifact {
    let mut tree = FileTree::new();
    add_host_scripts(&mut tree);
    tree.insert(
        "validate-deployment.sh".into(),
        pack::script(VALIDATE_DEPLOYMENT),
    );
    Artifact {
        target: crate::targets::Target::Scripts,
        path: "scripts".into(),
        layout: Layout::Files,
        tree,
    }
}
