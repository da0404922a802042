//! The whole pipeline on one declaration, as `luciac build` runs it, without the disk.

use luciac::compile;
use luciac::diag::{self, Diag, Style};
use luciac::resolve::Strictness;
use luciac::{bundle, targets};

pub fn run(base: &str, profile: Option<(&str, &str)>) {
    let mut diags: Vec<Diag> = Vec::new();
    let (sources, model) = compile::compile_str(base, profile, Strictness::default(), &mut diags);
    if let Some(m) = &model {
        // With a profile, the base alone as well (the shared artifacts come from it).
        let base_model = profile.and_then(|_| {
            compile::compile_str(base, None, Strictness::default(), &mut Vec::new()).1
        });
        let models = targets::Models {
            base: base_model.as_ref().unwrap_or(m),
            profile: m,
            shared: None,
        };
        let arts = targets::lower(models, &mut diags);
        if !diags.iter().any(Diag::is_error) {
            let _ = bundle::assemble(m, &sources, &arts);
        }
        let _ = luciac::graph::dot(m);
    }
    let _ = diag::render_human(&diags, &sources, Style::PLAIN);
    let _ = diag::render_json(&diags, &sources);
}
