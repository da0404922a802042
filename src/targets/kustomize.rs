//! kustomize target (not yet implemented; see the Kustomize issue).

use crate::diag::Diag;
use crate::model::Model;
use crate::targets::Artifact;

pub fn lower(_model: &Model, _diags: &mut Vec<Diag>) -> Vec<Artifact> {
    Vec::new()
}
