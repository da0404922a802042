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
    /// Where the name is written: defaults derived from it point here.
    pub name_span: Option<crate::source::Span>,
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

/// A string with references (an env value, a command argument), resolved per target.
pub type Template = Vec<Part>;

/// The text of a template when it holds no references.
pub fn literal(t: &[Part]) -> Option<String> {
    let mut out = String::new();
    for p in t {
        match p {
            Part::Lit(s) => out.push_str(s),
            _ => return None,
        }
    }
    Some(out)
}

/// A template as a person reads it in a README: references in the declaration's `{…}` form.
pub fn template_text(t: &[Part]) -> String {
    let mut out = String::new();
    for p in t {
        match p {
            Part::Lit(s) => out.push_str(s),
            Part::Param(n) => out.push_str(&format!("{{param.{n}}}")),
            Part::Host(svc) => out.push_str(&format!("{{{svc}.host}}")),
            Part::Port { service, port, .. } => out.push_str(&format!("{{{service}.port.{port}}}")),
        }
    }
    out
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    /// `tcp` / `udp`, as Compose and systemd spell it.
    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// `TCP` / `UDP`, as Kubernetes spells it.
    pub fn upper(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortInfo {
    pub name: String,
    pub number: u16,
    pub publish: Option<Publish>,
    pub protocol: Protocol,
    /// Where the number is written.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Http {
        path: String,
        port: String,
        number: u16,
    },
    /// Healthy when the port accepts a TCP connection.
    Tcp {
        port: String,
        number: u16,
    },
    Exec(Vec<Template>),
}

impl Check {
    /// The check as a person reads it: `/health` on `http`, TCP `mqtt`, or the command line.
    pub fn describe(&self) -> String {
        match self {
            Check::Http { path, port, .. } => format!("HTTP {path} on port {port}"),
            Check::Tcp { port, .. } => format!("TCP connect to port {port}"),
            Check::Exec(args) => args
                .iter()
                .map(|a| template_text(a))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// What a container image has to run an HTTP or TCP check with (Compose runs checks inside
/// the container; Kubernetes probes from the kubelet and needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProbeTool {
    /// bash's `/dev/tcp` (no curl or wget needed).
    #[default]
    Bash,
    Curl,
    Wget,
    /// `nc -z` (TCP checks only; busybox images have it).
    Nc,
}

impl ProbeTool {
    pub const NAMES: &'static [&'static str] = &["bash", "curl", "wget", "nc"];

    pub fn parse(s: &str) -> Option<ProbeTool> {
        Some(match s {
            "bash" => ProbeTool::Bash,
            "curl" => ProbeTool::Curl,
            "wget" => ProbeTool::Wget,
            "nc" => ProbeTool::Nc,
            _ => return None,
        })
    }
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
    pub tool: ProbeTool,
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

/// A file the service reads, shipped in the bundle (from `file=` next to the declaration, or
/// `content=`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigInfo {
    pub name: String,
    /// Where the service reads it.
    pub path: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindInfo {
    pub host: String,
    pub path: String,
    pub read_only: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub host: String,
    /// Where the container sees it (the host path when not given).
    pub path: String,
    /// The device plugin's resource that grants it on Kubernetes (`squat.ai/serial`).
    pub kubernetes_resource: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuVendor {
    Nvidia,
    Amd,
}

impl GpuVendor {
    pub fn name(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia",
            GpuVendor::Amd => "amd",
        }
    }

    /// The device-plugin resource Kubernetes schedules GPUs by.
    pub fn kubernetes_resource(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia.com/gpu",
            GpuVendor::Amd => "amd.com/gpu",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GpuInfo {
    pub vendor: GpuVendor,
    pub count: u32,
    pub span: Span,
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
    /// Replaces the image's CMD: Compose `command`, Kubernetes `args`. Empty: the image's.
    pub command: Vec<Template>,
    /// Replaces the image's ENTRYPOINT: Compose `entrypoint`, Kubernetes `command`.
    pub entrypoint: Vec<Template>,
    /// What a systemd host runs instead of entrypoint + command; empty: those.
    pub host_command: Vec<Template>,
    /// Why the service must start as root (`root reason="…"`); `None`: it never does.
    pub root: Option<String>,
    /// Capabilities added back after dropping all, each with its reason.
    pub capabilities: Vec<(String, String)>,
    /// Why the service shares the host's network (`host-network reason="…"`).
    pub host_network: Option<String>,
    /// Where `host-network` is written.
    pub host_network_span: Option<Span>,
    pub configs: Vec<ConfigInfo>,
    pub binds: Vec<BindInfo>,
    pub devices: Vec<DeviceInfo>,
    pub gpu: Option<GpuInfo>,
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
    /// Where `host-unit` is written.
    pub host_unit_span: Option<Span>,
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
    /// The host's own commands for a service the host provides (systemd), and their user;
    /// empty: `dump` and `restore`, as root.
    pub host_dump: Vec<String>,
    pub host_restore: Vec<String>,
    pub host_user: Option<String>,
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
    /// Where `prefix` and `user` are written; `None` for the defaults, derived from the app's
    /// name.
    pub prefix_span: Option<Span>,
    pub user_span: Option<Span>,
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
