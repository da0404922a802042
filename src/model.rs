//! The resolved model: what every target lowers from.
//!
//! Everything here is checked and typed: names are valid, references point at things that
//! exist, quantities are parsed, services are in a canonical dependency order. Targets never
//! see KDL or report syntax problems; they only choose how to spell each concept. Spans are
//! kept where a target may still need to point at the source.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub app: AppInfo,
    /// The declaration's file name as given (`lucia.kdl`, or the `-f` file's name): headers
    /// and the emitted workflow name it.
    pub source_file: String,
    /// The profile name, or `None` for the base declaration alone.
    pub profile: Option<String>,
    pub images: Vec<ImageRef>,
    pub params: Vec<ParamInfo>,
    pub secrets: Vec<SecretInfo>,
    /// Dependencies first; ties broken by name, so the order never depends on input order.
    pub services: Vec<ServiceInfo>,
    pub targets: TargetSettings,
}

impl Model {
    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn param(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }

    pub fn secret(&self, name: &str) -> Option<&SecretInfo> {
        self.secrets.iter().find(|s| s.name == name)
    }

    /// `lucia` or `lucia-prod`: names things that must not clash between profiles.
    pub fn instance_name(&self) -> String {
        match &self.profile {
            Some(p) => format!("{}-{p}", self.app.name),
            None => self.app.name.clone(),
        }
    }

    /// `prod`, or `base` when no profile was chosen.
    pub fn profile_or_base(&self) -> &str {
        self.profile.as_deref().unwrap_or("base")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    /// Where the description is written, for a target that cannot carry it.
    pub description_span: Option<crate::source::Span>,
    pub home: Option<String>,
    pub sources: Vec<String>,
    pub keywords: Vec<String>,
    pub maintainers: Vec<(String, Option<String>, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageRef {
    pub name: String,
    /// As declared: `docker.io/seiggy/lucia-agenthost:1.2.3`.
    pub reference: String,
    /// Registry and repository without the tag: `docker.io/seiggy/lucia-agenthost`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…`, or `None` when unpinned.
    pub digest: Option<String>,
    /// Platforms the image must provide (`linux/amd64`), as declared; empty when not declared.
    pub platforms: Vec<String>,
    pub span: Span,
}

impl ImageRef {
    /// `repo:tag@sha256:…` when pinned, else the reference as declared.
    pub fn pinned(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.reference),
            None => self.reference.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Url,
    Int {
        min: Option<i128>,
        max: Option<i128>,
    },
    Port,
    Bool,
    Enum,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub kind: ParamKind,
    /// The default, rendered as text (the form every target's configuration takes).
    pub default: String,
    pub description: String,
    pub one_of: Vec<String>,
    /// `HA_URL` for `ha-url`: the environment-variable spelling (Compose `.env`).
    pub env_name: String,
    pub span: crate::source::Span,
    /// Where the default is written: a target that cannot carry it points here.
    pub default_span: crate::source::Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretInfo {
    pub name: String,
    pub description: String,
    pub min_length: Option<u32>,
    pub prefix: Option<String>,
    pub optional: bool,
    /// The env keys (across services) that receive this secret.
    pub keys: Vec<String>,
}

/// A piece of a string value, resolved per target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Param(String),
    /// The host name of a service: Compose service name, Kubernetes Service, 127.0.0.1…
    Host(String),
    /// A service's port number (container port; host units listen on the same number).
    Port {
        service: String,
        port: String,
        number: u16,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvSource {
    Template(Vec<Part>),
    Secret(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub key: String,
    pub source: EnvSource,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Publish {
    Fixed(u16),
    Param { name: String, default: u16 },
}

impl Publish {
    pub fn default_port(&self) -> u16 {
        match self {
            Publish::Fixed(p) => *p,
            Publish::Param { default, .. } => *default,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortInfo {
    pub name: String,
    pub number: u16,
    pub publish: Option<Publish>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Http {
        path: String,
        port: String,
        number: u16,
    },
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthInfo {
    pub liveness: Check,
    pub readiness: Check,
    /// Seconds.
    pub start_period: u64,
    pub interval: u64,
    pub timeout: u64,
    pub retries: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VolumeInfo {
    pub name: String,
    pub path: String,
    /// Bytes; `None` lets the target choose (Compose volumes have no size).
    pub size: Option<u64>,
    /// As written (`1Gi`), for targets that speak Kubernetes quantities.
    pub size_text: Option<String>,
}

/// CPU in millicores, memory in bytes; the text as written is kept for Kubernetes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceInfo {
    pub cpu: Option<Quantity>,
    pub memory: Option<Quantity>,
    pub cpu_limit: Option<Quantity>,
    pub memory_limit: Option<Quantity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: u64,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub name: String,
    pub image: ImageRef,
    pub command: Vec<String>,
    pub singleton: bool,
    pub replicas: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub read_only_root: bool,
    pub writable: Vec<String>,
    pub ports: Vec<PortInfo>,
    pub env: Vec<EnvVar>,
    pub health: Option<HealthInfo>,
    pub volumes: Vec<VolumeInfo>,
    pub resources: ResourceInfo,
    /// Explicit `depends-on` plus services named by references, sorted.
    pub depends_on: Vec<String>,
    /// systemd: the host provides this service through one of these units.
    pub host_unit: Vec<String>,
    /// systemd: the files the image holds at a path, supplied on a host by the operator.
    pub host_files: Option<HostFiles>,
    /// The service's own dump for the operator scripts (`backup`).
    pub backup: Option<BackupInfo>,
    /// Prose for the READMEs, as declared (`notes`).
    pub notes: Vec<Note>,
    pub span: Span,
}

/// `backup { dump …; restore … }`: commands run inside the service (in its container, or on the
/// host under systemd). `dump` writes the service's data to stdout; `restore` reads it back from
/// stdin. Services without one are backed up as their volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupInfo {
    pub dump: Vec<String>,
    /// Empty: the dump is kept, and restoring it is left to the operator.
    pub restore: Vec<String>,
}

/// `host-files "/app" contains="server.dll"`: under systemd, the directory install.sh copies
/// stands in for the image's `path`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFiles {
    /// The container path whose files the operator supplies (`/app`).
    pub path: String,
    /// A file the directory must hold (relative), so install.sh can tell a wrong one.
    pub contains: Option<String>,
}

/// A service's `notes`: Markdown for the bundles' READMEs, for one target or (`None`) all.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// `compose`, `kubernetes` (Helm and Kustomize), `helm`, `kustomize` or `systemd`.
    pub target: Option<String>,
    pub text: String,
}

impl ServiceInfo {
    /// The notes a target's README shows: those for every target, then the target's own
    /// (`kubernetes` ones in the Helm and Kustomize READMEs).
    pub fn notes_for(&self, target: &str) -> Vec<&str> {
        let wanted =
            |t: &str| t == target || (t == "kubernetes" && matches!(target, "helm" | "kustomize"));
        let all = self.notes.iter().filter(|n| n.target.is_none());
        let own = self
            .notes
            .iter()
            .filter(|n| n.target.as_deref().is_some_and(wanted));
        all.chain(own).map(|n| n.text.as_str()).collect()
    }

    pub fn secrets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().filter_map(|e| match &e.source {
            EnvSource::Secret(s) => Some((e.key.as_str(), s.as_str())),
            EnvSource::Template(_) => None,
        })
    }
}

/// Typed `target` settings with their defaults applied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetSettings {
    pub compose: ComposeSettings,
    pub helm: HelmSettings,
    pub kubernetes: KubernetesSettings,
    pub kustomize: KustomizeSettings,
    pub systemd: SystemdSettings,
    pub github: GithubSettings,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComposeSettings {
    pub enabled: bool,
    /// Host address published ports bind to; empty = all interfaces.
    pub bind_address: Option<String>,
    pub log_max_size: String,
    pub log_max_files: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct HelmSettings {
    pub enabled: bool,
}

/// What the Helm chart and the Kustomize overlay share (`target "kubernetes"`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubernetesSettings {
    pub ingress_host: Option<String>,
    pub ingress_class: Option<String>,
    pub ingress_tls: bool,
    pub ingress_tls_secret: Option<String>,
    pub storage_class: Option<String>,
    pub network_policy: bool,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct KustomizeSettings {
    pub enabled: bool,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemdSettings {
    pub enabled: bool,
    pub prefix: String,
    pub user: String,
}

/// The pull-request workflow luciac emits for a GitOps repository.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GithubSettings {
    pub enabled: bool,
    /// `owner/name` of the repository whose releases carry the luciac binary.
    pub luciac_repository: String,
    /// The GitOps repository's default branch (pushes to it are checked too).
    pub branch: String,
}
