//! The typed declaration: what `lucia.kdl` (or a profile) says, before overlay and resolution.
//!
//! Every field that a profile may leave out is an `Option` or a keyed list, so one type holds
//! both the base and a profile; [`crate::overlay`] merges them and [`crate::resolve`] checks
//! what is required. Every value keeps its [`Span`].

use crate::source::{S, Span};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decl {
    pub app: Option<App>,
    pub images: Vec<Image>,
    pub params: Vec<Param>,
    pub secrets: Vec<Secret>,
    pub services: Vec<Service>,
    pub targets: Vec<Target>,
    /// `remove KIND NAME` at the top level (profiles only).
    pub removals: Vec<Removal>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub name: S<String>,
    pub version: Option<S<String>>,
    pub description: Option<S<String>>,
    pub home: Option<S<String>>,
    pub sources: Vec<S<String>>,
    pub keywords: Vec<S<String>>,
    pub maintainers: Vec<Maintainer>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Maintainer {
    pub name: S<String>,
    pub email: Option<S<String>>,
    pub url: Option<S<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub name: S<String>,
    pub reference: S<String>,
    pub digest: Option<S<String>>,
    /// `platforms="linux/amd64,linux/arm64"`: what the image must provide (checked by `lock`).
    pub platforms: Option<S<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Url,
    Int,
    Port,
    Bool,
    Enum,
}

impl ParamType {
    pub const NAMES: &'static [&'static str] = &["string", "url", "int", "port", "bool", "enum"];

    pub fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "string" => ParamType::String,
            "url" => ParamType::Url,
            "int" => ParamType::Int,
            "port" => ParamType::Port,
            "bool" => ParamType::Bool,
            "enum" => ParamType::Enum,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Url => "url",
            ParamType::Int => "int",
            ParamType::Port => "port",
            ParamType::Bool => "bool",
            ParamType::Enum => "enum",
        }
    }
}

/// A literal scalar as written in KDL.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i128),
    Bool(bool),
}

impl Scalar {
    pub fn render(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: S<String>,
    pub ty: Option<S<ParamType>>,
    pub default: Option<S<Scalar>>,
    pub description: Option<S<String>>,
    pub one_of: Option<S<Vec<String>>>,
    pub min: Option<S<i128>>,
    pub max: Option<S<i128>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub name: S<String>,
    pub description: Option<S<String>>,
    pub min_length: Option<S<u32>>,
    pub prefix: Option<S<String>>,
    pub optional: Option<S<bool>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: S<String>,
    pub image: Option<S<String>>,
    /// Replaces the image's CMD (Kubernetes `args`); arguments may hold references.
    pub command: Option<S<Vec<S<String>>>>,
    /// Replaces the image's ENTRYPOINT (Kubernetes `command`).
    pub entrypoint: Option<S<Vec<S<String>>>>,
    /// What a systemd host runs instead of entrypoint + command (container glue such as an
    /// init or an entrypoint script has no place on a host).
    pub host_command: Option<S<Vec<S<String>>>>,
    /// `root reason="…"`: the image must start as root.
    pub root: Option<S<String>>,
    /// `capability "NET_BIND_SERVICE" reason="…"`, one per capability.
    pub capabilities: Vec<Capability>,
    /// `host-network reason="…"`.
    pub host_network: Option<S<String>>,
    pub configs: Vec<ConfigFile>,
    pub binds: Vec<Bind>,
    pub devices: Vec<Device>,
    pub gpu: Option<Gpu>,
    pub singleton: Option<S<bool>>,
    pub replicas: Option<S<u32>>,
    pub user: Option<User>,
    pub read_only_root: Option<S<bool>>,
    pub writable: Vec<S<String>>,
    pub ports: Vec<Port>,
    pub env: Vec<Env>,
    pub health: Option<Health>,
    pub volumes: Vec<Volume>,
    pub resources: Option<Resources>,
    pub depends_on: Vec<S<String>>,
    pub host_unit: Option<S<Vec<String>>>,
    /// systemd: `host-files "/app" contains="server.dll"`: the files the image holds at that
    /// path come, on a host, from a directory the operator gives install.sh.
    pub host_files: Option<HostFiles>,
    /// `backup { dump "PROGRAM" "ARG"…; restore "PROGRAM" "ARG"… }`: the service's own dump,
    /// run inside it, for the operator scripts.
    pub backup: Option<Backup>,
    /// `notes "…"` (every README) and `notes "…" target="systemd"` (that target's only).
    pub notes: Vec<Note>,
    pub removals: Vec<Removal>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub dump: Option<S<Vec<String>>>,
    pub restore: Option<S<Vec<String>>>,
    /// On a systemd host, for a service the host provides: the commands there, and the user
    /// they run as (`host-dump "pg_dump" "forgejo" user="postgres"`).
    pub host_dump: Option<S<Vec<String>>>,
    pub host_restore: Option<S<Vec<String>>>,
    pub host_user: Option<S<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostFiles {
    pub path: S<String>,
    pub contains: Option<S<String>>,
    pub span: Span,
}

/// Prose for operators, rendered into the bundles' READMEs: at most one per target (and one
/// for all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub target: Option<S<String>>,
    pub text: S<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub uid: S<u32>,
    pub gid: Option<S<u32>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub name: S<String>,
    pub number: S<i128>,
    /// `publish=7233` or `publish="{param.http-port}"`.
    pub publish: Option<S<Scalar>>,
    /// `protocol="udp"`; TCP when absent.
    pub protocol: Option<S<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    pub name: S<String>,
    pub reason: Option<S<String>>,
    pub span: Span,
}

/// `config "NAME" "/container/path" file="x.conf"` or `content="…"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFile {
    pub name: S<String>,
    pub path: S<String>,
    pub file: Option<S<String>>,
    pub content: Option<S<String>>,
    pub span: Span,
}

/// `bind "/host/path" "/container/path" read-only=#true`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub host: S<String>,
    pub path: S<String>,
    pub read_only: Option<S<bool>>,
    pub span: Span,
}

/// `device "/dev/ttyUSB0" "/dev/zigbee" kubernetes-resource="…"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub host: S<String>,
    pub path: Option<S<String>>,
    pub kubernetes_resource: Option<S<String>>,
    pub span: Span,
}

/// `gpu "nvidia" count=1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub vendor: S<String>,
    pub count: Option<S<u32>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    /// A string that may hold references (`{redis.host}`, `{param.x}`).
    Text(S<String>),
    /// The whole value comes from a secret.
    Secret(S<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    pub key: S<String>,
    pub value: EnvValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Health {
    pub liveness: Option<S<String>>,
    pub readiness: Option<S<String>>,
    pub port: Option<S<String>>,
    pub exec: Option<S<Vec<S<String>>>>,
    /// `tcp="PORT"`: healthy when the port accepts a connection.
    pub tcp: Option<S<String>>,
    /// `tool="curl"`: what the image has to probe with (Compose runs checks inside it).
    pub tool: Option<S<String>>,
    pub start_period: Option<S<String>>,
    pub interval: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub retries: Option<S<u32>>,
    pub span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub name: S<String>,
    pub path: S<String>,
    pub size: Option<S<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    pub cpu: Option<S<String>>,
    pub memory: Option<S<String>>,
    pub cpu_limit: Option<S<String>>,
    pub memory_limit: Option<S<String>>,
    pub span: Option<Span>,
}

/// `remove KIND NAME`: deletes something the base defines (profiles only).
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub kind: S<String>,
    pub name: S<String>,
    pub span: Span,
}

/// Target-only knobs, e.g. `target "kubernetes" { ingress host="lucia.example.com" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: S<String>,
    pub settings: Vec<Setting>,
    pub span: Span,
}

/// One target setting: a node name with its arguments and properties, kept generic here and
/// typed by [`crate::resolve`] against the table of known settings per target.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: S<String>,
    pub args: Vec<S<Scalar>>,
    pub props: Vec<(S<String>, S<Scalar>)>,
    pub span: Span,
}
