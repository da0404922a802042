//! The Kubernetes objects of a model, as the Helm chart renders them for the same values.

use super::Obj;
use crate::model::{
    EnvSource, ImageRef, Model, ParamInfo, Part, PortInfo, ServiceInfo, VolumeInfo,
};
use crate::targets::k8s;
use crate::targets::k8s::objects::Source;
use crate::yaml::Yaml;

pub(super) fn labels(m: &Model, component: &str) -> Yaml {
    k8s::selector_labels(&m.app.name, &m.app.name, component)
}

pub(super) fn meta(m: &Model, name: &str, component: &str) -> Yaml {
    Yaml::map()
        .with("name", name)
        .with("labels", labels(m, component))
}

pub fn params_name(m: &Model) -> String {
    format!("{}-params", m.app.name)
}

pub fn secret_name(m: &Model) -> String {
    format!("{}-secrets", m.app.name)
}

pub fn namespace(m: &Model) -> String {
    m.targets
        .kustomize
        .namespace
        .clone()
        .or_else(|| m.targets.kubernetes.namespace.clone())
        .unwrap_or_else(|| m.app.name.clone())
}

/// The param an env value is exactly, if it is one.
pub(super) fn sole_param(parts: &[Part]) -> Option<&str> {
    match parts {
        [Part::Param(p)] => Some(p),
        _ => None,
    }
}

/// Params that reach an env key as its whole value: the keys of the params ConfigMap.
pub fn generated_params(m: &Model) -> Vec<&ParamInfo> {
    m.params
        .iter()
        .filter(|p| {
            m.services.iter().any(|s| {
                s.env.iter().any(|e| {
                    matches!(&e.source, EnvSource::Template(parts) if sole_param(parts) == Some(p.name.as_str()))
                })
            })
        })
        .collect()
}

pub(super) fn env(m: &Model, s: &ServiceInfo) -> Yaml {
    let items = s
        .env
        .iter()
        .map(|e| {
            let item = Yaml::map().with("name", e.key.as_str());
            match &e.source {
                EnvSource::Template(parts) => match sole_param(parts) {
                    Some(p) => item.with(
                        "valueFrom",
                        Yaml::map().with(
                            "configMapKeyRef",
                            Yaml::map().with("name", params_name(m)).with("key", p),
                        ),
                    ),
                    None => item.with("value", k8s::resolve(m, &s.name, parts)),
                },
                EnvSource::Secret(name) => {
                    let mut r = Yaml::map()
                        .with("name", secret_name(m))
                        .with("key", name.as_str());
                    if m.secret(name).is_some_and(|x| x.optional) {
                        r.insert("optional", true);
                    }
                    item.with("valueFrom", Yaml::map().with("secretKeyRef", r))
                }
            }
        })
        .collect();
    Yaml::Seq(items)
}

/// The values of the Kustomize objects: literals from the model. `image` is the reference
/// written into each container.
pub(super) struct Literal<'a> {
    pub m: &'a Model,
    pub image: &'a dyn Fn(&ImageRef) -> String,
}

impl Source for Literal<'_> {
    fn name(&self, component: &str) -> Yaml {
        k8s::component_name(&self.m.app.name, component).into()
    }
    fn labels(&self, component: &str) -> Yaml {
        labels(self.m, component)
    }
    fn selector(&self, component: &str) -> Yaml {
        labels(self.m, component)
    }
    fn comment(&self, _: &str) -> Option<Yaml> {
        None
    }
    fn value(&self, own: &str, parts: &[Part]) -> Yaml {
        k8s::resolve(self.m, own, parts).into()
    }
    fn service_type(&self, _: bool) -> Yaml {
        "ClusterIP".into()
    }
    fn service_port(&self, p: &PortInfo) -> Yaml {
        k8s::service_port(p).into()
    }
    fn claim_name(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        k8s::claim_name(&self.m.app.name, &s.name, &v.name).into()
    }
    fn claim_ref(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        self.claim_name(s, v)
    }
    /// GitOps controllers must never prune a claim: the data outlives the deployment.
    fn claim_annotations(&self) -> Yaml {
        Yaml::map()
            .with("argocd.argoproj.io/sync-options", "Prune=false")
            .with("kustomize.toolkit.fluxcd.io/prune", "disabled")
    }
    fn claim_storage_class(&self, spec: Yaml) -> Yaml {
        match self.m.targets.kubernetes.storage_class.as_deref() {
            Some("-") => spec.with("storageClassName", ""),
            Some(c) if !c.is_empty() => spec.with("storageClassName", c),
            _ => spec,
        }
    }
    fn claim_size(&self, _: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        v.size_text.clone().unwrap_or_else(|| "1Gi".into()).into()
    }
    fn ingress_name(&self) -> Yaml {
        self.m.app.name.as_str().into()
    }
    fn ingress_host(&self) -> Option<Yaml> {
        self.m
            .targets
            .kubernetes
            .ingress_host
            .as_deref()
            .map(Yaml::from)
    }
    fn ingress_metadata(&self, metadata: Yaml) -> Yaml {
        metadata
    }
    fn ingress_spec(&self, host: &Yaml) -> Yaml {
        let h = &self.m.targets.kubernetes;
        let mut spec = Yaml::map();
        if let Some(class) = h.ingress_class.as_deref().filter(|c| !c.is_empty()) {
            spec.insert("ingressClassName", class);
        }
        if h.ingress_tls {
            let secret = h
                .ingress_tls_secret
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("{}-tls", self.m.app.name));
            spec.insert("tls", k8s::objects::ingress_tls(host, secret));
        }
        spec
    }
    fn config_map_name(&self, component: &str) -> Yaml {
        k8s::config_map_name(&self.m.app.name, component).into()
    }
    fn pod_annotations(&self, _: &ServiceInfo) -> Option<Yaml> {
        None
    }
    fn service_account(&self) -> Yaml {
        self.m.app.name.as_str().into()
    }
    fn pod_security(&self, s: &ServiceInfo) -> Yaml {
        k8s::pod_security(s)
    }
    fn image(&self, s: &ServiceInfo) -> Yaml {
        (self.image)(&s.image).into()
    }
    fn pull_policy(&self, _: &ServiceInfo) -> Yaml {
        k8s::PULL_POLICY.into()
    }
    fn env(&self, s: &ServiceInfo) -> Yaml {
        env(self.m, s)
    }
    fn resources(&self, s: &ServiceInfo) -> Yaml {
        k8s::resources(s)
    }
    fn container_security(&self, s: &ServiceInfo) -> Yaml {
        k8s::container_security(s)
    }
    fn empty_dir_limit(&self, _: &ServiceInfo) -> Yaml {
        k8s::EMPTY_DIR_SIZE_LIMIT.into()
    }
    fn scheduling(&self, _: &ServiceInfo, pod: Yaml) -> Yaml {
        pod
    }
}

pub(super) fn deployment(src: &Literal, s: &ServiceInfo) -> Obj {
    Obj::new(
        format!("{}-deployment.yaml", s.name),
        k8s::objects::deployment(src, s),
    )
}

pub(super) fn config_map(src: &Literal, s: &ServiceInfo) -> Option<Obj> {
    if s.configs.is_empty() {
        return None;
    }
    Some(Obj::new(
        format!("{}-configmap.yaml", s.name),
        k8s::objects::config_map(src, s),
    ))
}

/// Every object of a model. `image` names the reference written into each container (the
/// base declaration's, so the overlay changes images only through the `images:` transformer).
pub(super) fn objects(m: &Model, image: &dyn Fn(&ImageRef) -> String) -> Vec<Obj> {
    use k8s::objects as o;
    let src = &Literal { m, image };
    let app = &m.app.name;
    let mut out = vec![Obj::new(
        "serviceaccount.yaml".into(),
        Yaml::map()
            .with("apiVersion", "v1")
            .with("kind", "ServiceAccount")
            .with("metadata", meta(m, app, app))
            .with("automountServiceAccountToken", false),
    )];
    for s in &m.services {
        out.push(deployment(src, s));
        out.extend(config_map(src, s));
        if !s.ports.is_empty() {
            let file = format!("{}-service.yaml", s.name);
            out.push(Obj::new(file, o::service(src, s)));
        }
        for v in &s.volumes {
            out.push(Obj::new(
                format!("{}-{}-pvc.yaml", s.name, v.name),
                o::pvc(src, s, v),
            ));
        }
        if m.targets.kubernetes.network_policy {
            out.push(Obj::new(
                format!("{}-networkpolicy.yaml", s.name),
                o::network_policy(src, m, s),
            ));
        }
    }
    out.extend(o::ingress(src, m).map(|doc| Obj::new("ingress.yaml".into(), doc)));
    out
}

pub(super) fn base_objects(base: &Model) -> Vec<Obj> {
    objects(base, &|i: &ImageRef| i.reference.clone())
}

pub(super) fn profile_objects(base: &Model, profile: &Model) -> Vec<Obj> {
    objects(profile, &|i: &ImageRef| {
        base.images
            .iter()
            .find(|b| b.name == i.name)
            .unwrap_or(i)
            .reference
            .clone()
    })
}
