//! Diagnostics as data.
//!
//! Every stage pushes [`Diag`] values into one list instead of returning early, so a run
//! reports all of its problems at once. They are rendered only at the edge: by miette for
//! people, or as JSON lines for editors and CI. Codes are stable: tests, docs and
//! `luciac explain` refer to them, so a code is never reused for another meaning.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::source::{Sources, Span};

/// A stable diagnostic code with its one-line title and long explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub id: &'static str,
    pub title: &'static str,
    pub explain: &'static str,
}

macro_rules! codes {
    ($($name:ident = $id:literal, $title:literal, $explain:literal;)*) => {
        $(pub const $name: Code = Code { id: $id, title: $title, explain: $explain };)*
        /// Every code, in order, for `luciac explain` and the docs.
        pub const ALL_CODES: &[Code] = &[$($name),*];
    };
}

codes! {
    SYNTAX = "E0001", "the file is not valid KDL v2",
        "The declaration must be KDL v2. Common mistakes: KDL v1 keywords (`true`, `false`, `null`) \
         must be written `#true`, `#false`, `#null`; strings with spaces need quotes; a node ends at \
         a newline or `;`.";
    READ_FILE = "E0002", "an input file cannot be read",
        "luciac reads `lucia.kdl` (or the file given with `-f`) and `profiles/<name>.kdl` next to it. \
         Check the path and its permissions.";
    UNKNOWN_PROFILE = "E0003", "the profile does not exist",
        "`--profile NAME` reads `profiles/NAME.kdl` next to the declaration. The message lists the \
         profiles that exist.";
    TOO_DEEP = "E0004", "the file is nested too deeply to read",
        "luciac refuses `{ … }` blocks nested more than 64 levels deep: the parser reads a block \
         by calling itself, and the limit keeps that far from the end of its stack. A \
         declaration needs three levels at most.";
    BAD_CHARACTER = "E0005", "a character luciac does not read",
        "Control characters, bidirectional overrides (U+202A–U+202E, U+2066–U+2069, U+200E, \
         U+200F), a byte-order mark after the start, and line breaks other than LF and CRLF \
         (U+2028, U+2029, U+0085, a lone CR, VT, FF) are refused: some make text display in \
         another order than it is read, others make line numbers disagree between tools. Inside \
         a quoted string, write such a character as an escape: `\\u{202E}`.";
    UNKNOWN_NODE = "E0010", "unknown node",
        "A node name that luciac does not know in this place. `docs/language.md` lists every node; \
         the help line suggests the closest known name.";
    UNKNOWN_PROPERTY = "E0011", "unknown property",
        "A `key=value` property that this node does not take. The help line lists the properties it \
         takes.";
    MISSING_VALUE = "E0012", "a required value is missing",
        "The node needs an argument or property that is not there, for example `port \"http\"` \
         without a number, or a service without an `image`.";
    WRONG_TYPE = "E0013", "a value has the wrong type",
        "KDL values are typed: `8080` is a number, `\"8080\"` a string, `#true` a boolean. The \
         message says which type this place takes.";
    DUPLICATE = "E0014", "defined twice",
        "Names of images, params, secrets, services, ports, volumes and env keys must be unique in \
         their scope. Profiles change a definition by repeating it in the profile file, not in the \
         base file.";
    EXTRA_ARGUMENT = "E0015", "too many arguments",
        "The node takes fewer arguments than were given.";
    MISSING_NODE = "E0016", "a required node is missing",
        "The declaration needs an `app` node and at least one `service`.";
    SECRET_VALUE = "E0017", "a secret has a value in the declaration",
        "A secret is supplied at deploy time and never stored in the declaration, a bundle, a log \
         or a diagnostic: `secret \"NAME\"` takes no value argument, no `value` or `default`. \
         luciac does not print the value back; delete it and see the bundle README for where it \
         goes.";
    BAD_PORT = "E0020", "invalid port",
        "Ports are whole numbers from 1 to 65535. Host ports below 1024 need root or extra setup under \
         rootless Docker, so luciac warns about them.";
    BAD_QUANTITY = "E0021", "invalid resource quantity",
        "CPU is written like Kubernetes: `500m` (millicores), `1`, `1.5`. Memory and sizes use \
         `Ki`, `Mi`, `Gi` (powers of two) or `k`, `M`, `G` (powers of ten), e.g. `512Mi`.";
    BAD_DURATION = "E0022", "invalid duration",
        "Durations are a whole number with a unit: `500ms`, `30s`, `2m`, `1h`.";
    BAD_URL = "E0023", "invalid URL",
        "A `url` param needs an absolute http(s) URL such as `http://homeassistant.local:8123`.";
    BAD_NAME = "E0024", "invalid name",
        "Names of services, ports, volumes, params, secrets and images become Kubernetes object \
         names, Compose service names and environment variable names: lowercase letters, digits \
         and `-`, starting with a letter, at most 63 characters (15 for ports).";
    BAD_IMAGE = "E0025", "invalid image reference or digest",
        "An image is `registry/repository:tag`, optionally with `digest=\"sha256:<64 hex>\"`. Put \
         the digest in the `digest` property, not in the reference.";
    NOT_ALLOWED = "E0026", "value not one of those allowed",
        "The value is not one of a fixed set (a param `type`, what `remove` may name); the help \
         line lists them.";
    BAD_DEFAULT = "E0027", "a param's default does not fit its type",
        "A param's `default` must be a valid value of its `type` (and of `one-of`, `min`, `max`).";
    OUT_OF_RANGE = "E0028", "number out of range",
        "The number is outside the range this place accepts (`replicas` and `retries` are at \
         least 1).";
    NOT_FOR_TYPE = "E0029", "property does not apply to this param type",
        "`min` and `max` apply to `int` params only.";
    UNKNOWN_REFERENCE = "E0030", "unknown name in a reference",
        "Strings may refer to `{param.NAME}`, `{SERVICE.host}` and `{SERVICE.port.PORT}`. The name \
         must be defined. Write `{{` and `}}` for literal braces.";
    BAD_REFERENCE = "E0031", "malformed reference",
        "A `{` starts a reference that must end with `}` on the same string. Write `{{` for a \
         literal `{` and `}}` for a literal `}`.";
    SECRET_IN_STRING = "E0032", "a secret cannot be part of a string",
        "A secret never enters a bundle, so it cannot be spliced into a longer string at build \
         time. Give the whole value as a secret: `env \"KEY\" secret=\"NAME\"`.";
    UNKNOWN_IMAGE = "E0033", "unknown image",
        "A service's `image` names an `image` node declared at the top level.";
    UNKNOWN_SERVICE = "E0034", "unknown service",
        "`depends-on` and references name services declared in the declaration.";
    CYCLE = "E0035", "dependency cycle",
        "Services start in dependency order, so `depends-on` and references must not form a cycle. \
         Remove one edge of the cycle.";
    HOST_PORT_CONFLICT = "E0036", "two ports publish the same host port",
        "A host port can be published once. Change `publish=` on one of them.";
    SINGLETON_REPLICAS = "E0037", "a singleton cannot have more than one replica",
        "`singleton` means the service must run as exactly one instance (Lucia's AgentHost keeps \
         schedulers in memory). Remove `replicas` or `singleton`.";
    NOTHING_TO_REMOVE = "E0038", "`remove` names something that does not exist",
        "A profile's `remove KIND NAME` must name something the base declaration defines.";
    UNKNOWN_TARGET = "E0039", "unknown target",
        "`target` blocks exist for `compose`, `kubernetes` (Helm and Kustomize alike; also spelled `helm`), `kustomize`, `systemd` and `github`.";
    UNKNOWN_PORT = "E0040", "unknown port",
        "A health check or reference names a port that the service does not declare.";
    UNUSED = "W0041", "declared but never used",
        "A param or secret that no env entry uses reaches no program. Use it or remove it. (A \
         warning: it was spelled E0041 before, and `luciac explain E0041` still finds it.)";
    BAD_SETTING = "E0042", "invalid target setting",
        "A `target` setting has a value of the right type that is not valid for it, such as a \
         GitHub repository that is not `OWNER/NAME` or a branch name git refuses.";
    BAD_ENV_KEY = "E0043", "invalid environment key",
        "Environment keys are non-empty and contain no `=`, whitespace or NUL.";
    BAD_PATH = "E0044", "invalid path",
        "Container paths (volumes, writable paths) must be absolute and must not contain `..`.";
    HEALTH_CONFLICT = "E0045", "conflicting health checks",
        "A health check is either HTTP (`liveness`/`readiness` paths) or a command (`exec`), not both.";
    REQUEST_OVER_LIMIT = "E0046", "a resource request is larger than its limit",
        "Requests are what a service is guaranteed, limits the most it may use: a request above its \
         limit cannot be scheduled.";
    TARGET_CANNOT_EXPRESS = "E0047", "a target cannot carry this declaration",
        "Every value must reach the running program exactly as written, or be refused. The \
         target named in the message cannot express this one (a newline in a Compose default or \
         a unit's `Description=`, a trailing backslash in a `.env` value, a command word systemd \
         would split). Change the value, or disable the target with \
         `target \"NAME\" { enabled #false }`.";
    DUPLICATE_CONTAINER_PORT = "E0048", "a container port is declared twice",
        "Each container port number may be declared once per service.";
    RESERVED_NAME = "E0049", "a name a target reserves",
        "The Helm chart uses some top-level values keys itself (`params`, `secrets`, `ingress`…) \
         and the name `test`; a service cannot take those names.";
    SYSTEMD_CANNOT_RUN = "E0058", "the systemd target cannot run this service",
        "The systemd package runs each service on the host as its own unit, from a program the \
         host has: it cannot pull or run an image. A service is served either by its program \
         (`entrypoint` then `command`: an absolute program, a program name install.sh finds on \
         the host's PATH, or a path inside the service's `host-files`) or by the host's own packaged unit (`host-unit \
         \"NAME.service\"`). A service with neither, or with a relative program but no \
         `host-files`, cannot run. Declarations that never use `host-unit` are meant for \
         containers: there the systemd package is left out without a diagnostic. Otherwise give \
         the service what it lacks, or disable the target with `target \"systemd\" { enabled \
         #false }`.";
    CREDENTIAL_IN_VALUE = "E0052", "a credential written as a plain value",
        "A password in a URL (`http://user:pw@host`) or a connection string (`Password=…`), or a \
         literal for an env key that the base declaration binds to a secret, would be written into \
         values files, ConfigMaps, READMEs and units. Declare a `secret` and give the whole value \
         with `env \"KEY\" secret=\"NAME\"`. luciac does not print the value.";
    TOKEN_SHAPED = "W0053", "a value looks like a token",
        "A literal shaped like a well-known credential (`sk-…`, `ghp_…`, a JSON Web Token, an AWS \
         access key `AKIA…`) in an env value, a param default or a command. If it is real, revoke \
         it and pass it as a `secret`. luciac does not print the value.";
    UNPINNED_IMAGE = "W0050", "image is not pinned by digest",
        "An image without a pin may change under the same tag, so the bundle is not reproducible \
         at deploy time. Run `luciac lock`: it asks each registry for the digest behind the tag and \
         writes `lucia.lock` next to the declaration (commit it). `build` reads the lock without \
         network. `--locked` turns this warning into an error.";
    LOW_HOST_PORT = "W0051", "host port below 1024",
        "Publishing a port below 1024 needs root, or `net.ipv4.ip_unprivileged_port_start` lowered \
         under rootless Docker and Podman.";
    WRITE_FAILED = "E0060", "cannot write the output",
        "The bundle directory could not be written. Previous bundles are left as they were.";
    VERIFY_MISMATCH = "E0070", "a bundle file does not match its recorded hash",
        "`luciac verify` compares every file with `SHA256SUMS` and `bundle-manifest.json`, and every member of \
         every archive with the lock. A mismatch means the file was changed after the build (or the \
         download is corrupt). Rebuild it, or download it again.";
    VERIFY_UNSAFE = "E0071", "an archive holds an unsafe entry",
        "Bundle archives hold only regular files under one top directory: no absolute paths, no \
         `..`, no links, no devices, no duplicate names, and sizes that match. Such an entry could \
         write outside the extraction directory; do not extract the archive.";
    VERIFY_MISSING = "E0072", "a bundle file is missing or not recorded",
        "Every file of a bundle directory is listed in `SHA256SUMS` and every artifact in \
         `bundle-manifest.json`; a file that is listed but absent, or present but not listed, is reported.";
    VERIFY_MALFORMED = "E0073", "`SHA256SUMS` or `bundle-manifest.json` cannot be read",
        "The sums file must be `sha256sum` output and the lock the JSON luciac writes.";
    STALE = "E0061", "committed bundles are stale",
        "`luciac build --check` rebuilt the bundles in memory and they differ from the files on \
         disk. Run `luciac build` for the profile and commit the result.";
    PIN_CONFLICT = "E0080", "`digest=` disagrees with the lock",
        "The image has an explicit `digest=` and `lucia.lock` pins the same reference to another \
         digest. One of them is out of date. Remove `digest=` to deploy what the lock says, or run \
         `luciac lock --update IMAGE` if the tag has moved and you want the new image.";
    PIN_STALE = "E0081", "the pin was made for a different reference",
        "`lucia.lock` pins this image for another reference: its tag (or registry) was changed in \
         the declaration after `luciac lock` ran. `--locked` refuses to build it. Run `luciac lock` \
         and commit `lucia.lock`.";
    LOCK_UNREADABLE = "E0082", "`lucia.lock` cannot be read",
        "The lock next to the declaration is not the JSON `luciac lock` writes (or cannot be read). \
         Restore it from version control, or delete it and run `luciac lock`.";
    REGISTRY_UNREACHABLE = "E0083", "the registry cannot be reached",
        "`luciac lock` could not connect to the image's registry (DNS, connection, TLS). Check the \
         name, your network, and for a private CA or a mirror the registries file (see \
         `docs/language.md`, \"Pinning images\"). Nothing was written.";
    REGISTRY_DENIED = "E0084", "the registry refused access (401/403)",
        "The registry asked for credentials, or refused the ones given. The message names the \
         credential source that was tried: `auths`, `credHelpers` or `credsStore` in \
         `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`), or none (anonymous). Run \
         `docker login REGISTRY`. Secrets are never printed.";
    IMAGE_NOT_FOUND = "E0085", "no such tag or repository",
        "The registry answered 404: the repository or the tag does not exist (or is private and \
         the registry hides it). Check the reference.";
    RATE_LIMITED = "E0086", "the registry kept rate-limiting (429)",
        "The registry answered 429 Too Many Requests. `luciac lock` waits as `Retry-After` says (at \
         most 30 s per try) and tries up to 4 times. Wait and run it again, or log in: anonymous \
         pulls have lower limits.";
    DIGEST_MISMATCH = "E0087", "the manifest does not match its digest",
        "The SHA-256 of the manifest the registry sent differs from the digest it announced (or \
         was asked for). A proxy or the registry altered the body; do not trust this answer.";
    BAD_MANIFEST = "E0088", "malformed or unsupported manifest",
        "The registry answered with a manifest luciac cannot read: not JSON, or a media type other \
         than an OCI or Docker schema 2 manifest or index.";
    PLATFORM_MISSING = "E0089", "a required platform is missing",
        "The image declares `platforms`, and the registry's index lacks one of them, or the tag \
         names a single-platform manifest while several platforms are required.";
    RESOLVE_UNSTABLE = "E0090", "the tag moved while it was being resolved",
        "`luciac lock` resolves every tag twice and the two answers differed: someone pushed \
         while it ran, or a load balancer serves two versions. Run it again.";
    ROOT_WITHOUT_REASON = "E0100", "root without a reason, or root and a user at once",
        "Every target runs services as non-root by default (Kubernetes refuses a pod that says \
         `runAsNonRoot` and user 0). An image that must start as root (its entrypoint fixes \
         ownership, then drops privileges) says so with `root reason=\"…\"` instead of `user 0`; \
         the reason is written into every bundle, and the Kubernetes targets lower the pod's \
         security level to match.";
    CONFIG_FILE = "E0101", "a config file cannot be used",
        "`config \"NAME\" \"/path\" file=\"configs/NAME\"` ships a file from the `configs/` \
         directory next to the declaration (UTF-8 text, at most 1 MiB; every file there is an \
         input, hashed into the bundle manifest). `content=\"…\"` writes the text inline.";
    HOST_BOUND = "W0102", "a service is tied to one host",
        "Bind mounts of host paths (`bind`), host devices (`device`) and host networking \
         (`host-network`) make a Kubernetes pod depend on the node it lands on: `hostPath` \
         volumes and `hostNetwork` need a Pod Security level of `privileged` and a node that \
         has the path. The Kubernetes targets emit them and warn; pin the pod with a node \
         selector in an overlay, or give the service a volume instead.";
}

/// Look a code up by its id (`E0035`), case-insensitively, with or without the `luciac::` prefix.
pub fn find_code(id: &str) -> Option<Code> {
    let id = id.trim().trim_start_matches("luciac::");
    // Renamed codes keep working: E0041 was always a warning.
    let id = if id.eq_ignore_ascii_case("E0041") {
        UNUSED.id
    } else {
        id
    };
    ALL_CODES
        .iter()
        .copied()
        .find(|c| c.id.eq_ignore_ascii_case(id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A labelled span. The first label of a [`Diag`] is its primary one.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in the declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Diag {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// The file a diagnostic is about when it has no span in the declaration (a bundle file
    /// checked by `luciac verify`).
    pub path: Option<String>,
    /// Source text that must never be shown (a secret's value written into the declaration by
    /// mistake). Both renderers blank it out in every snippet of the run, not only this one's.
    pub redact: Vec<Span>,
}

impl Diag {
    pub fn error(code: Code, message: impl Into<String>) -> Diag {
        Diag {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![],
            help: None,
            path: None,
            redact: Vec::new(),
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diag {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message)
        }
    }

    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diag {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diag {
        self.help = Some(help.into());
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Diag {
        self.path = Some(path.into());
        self
    }

    /// Never show the text under `span`, in this diagnostic's snippet or any other.
    pub fn redact(mut self, span: Span) -> Diag {
        self.redact.push(span);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The closest candidate to `name`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

/// Help text for an unknown name: a suggestion if one is close, else the list of known names.
pub fn unknown_help<'a>(
    what: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    match did_you_mean(name, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let list: Vec<String> = known.into_iter().map(|k| format!("`{k}`")).collect();
            if list.is_empty() {
                format!("no {what} is defined")
            } else {
                format!("known {}: {}", plural(what), list.join(", "))
            }
        }
    }
}

/// English plural of a noun used in help lines ("property" → "properties", "node" → "nodes").
fn plural(noun: &str) -> String {
    match noun.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{noun}s"),
    }
}

// ---- rendering ---------------------------------------------------------------------------

/// How human diagnostics are drawn.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub unicode: bool,
    pub width: usize,
}

impl Style {
    /// Plain ASCII without colour: for snapshots, logs and pipes.
    pub const PLAIN: Style = Style {
        color: false,
        unicode: false,
        width: 100,
    };
}

struct MietteView<'a> {
    diag: &'a Diag,
    message: String,
    severity: miette::Severity,
    code: Option<&'static str>,
    source: Option<NamedSource<std::sync::Arc<String>>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<MietteView<'a>>,
}

/// A source file as snippets show it: redacted spans blanked with `*` (byte for byte, so offsets
/// stay put) and characters a terminal would act on or reorder escaped as `\u{…}`. Escapes are
/// longer than the characters they replace, so label offsets go through [`Shown::map`].
struct Shown {
    text: String,
    /// (original offset just past an escaped character, bytes added so far).
    shifts: Vec<(usize, usize)>,
}

impl Shown {
    fn new(text: &str, file: crate::source::FileId, redact: &[Span]) -> Shown {
        let spans: Vec<&Span> = redact.iter().filter(|r| r.file == file).collect();
        let hidden = |i: usize, c: char| {
            let end = i + c.len_utf8();
            spans
                .iter()
                .any(|r| i < r.offset.saturating_add(r.len) && end > r.offset)
        };
        // A character that overlaps a redacted span becomes as many `*` as it has bytes, so
        // every offset stays where it was; line breaks stay, so lines do too.
        let redacted: String = if spans.is_empty() {
            text.to_string()
        } else {
            text.char_indices()
                .map(|(i, c)| {
                    if c != '\n' && hidden(i, c) {
                        "*".repeat(c.len_utf8())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        };
        let mut out = String::with_capacity(redacted.len());
        let mut shifts = Vec::new();
        let mut chars = redacted.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let lone_cr = c == '\r' && chars.peek().is_none_or(|&(_, n)| n != '\n');
            if lone_cr || needs_escape(c) {
                let esc = format!("\\u{{{:X}}}", u32::from(c));
                let added = shifts.last().map_or(0, |&(_, a)| a) + esc.len() - c.len_utf8();
                out.push_str(&esc);
                shifts.push((i + c.len_utf8(), added));
            } else {
                out.push(c);
            }
        }
        Shown { text: out, shifts }
    }

    /// Where an original byte offset lands in the shown text.
    fn map(&self, offset: usize) -> usize {
        let i = self.shifts.partition_point(|&(at, _)| at <= offset);
        offset
            + i.checked_sub(1)
                .and_then(|i| self.shifts.get(i))
                .map_or(0, |&(_, a)| a)
    }

    fn span(&self, span: Span) -> (usize, usize) {
        let start = self.map(span.offset);
        let end = self.map(span.offset.saturating_add(span.len));
        (start, end.saturating_sub(start))
    }
}

/// Characters never written raw to a terminal or an editor: controls other than newline and
/// tab, bidirectional controls (which reorder how the rest of the line displays), and the
/// invisible separators KDL counts as line breaks.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t' && c != '\r')
        || matches!(c,
            '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}')
}

/// Message text with the same characters escaped as in snippets.
pub fn escape_text(s: &str) -> String {
    if !s.chars().any(|c| c == '\r' || needs_escape(c)) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c == '\r' || needs_escape(c) {
                format!("\\u{{{:X}}}", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Every file of the run as snippets show it, with every diagnostic's redactions applied.
fn shown_files(diags: &[Diag], sources: &Sources) -> Vec<Shown> {
    let redact: Vec<Span> = diags
        .iter()
        .flat_map(|d| d.redact.iter().copied())
        .collect();
    sources
        .files
        .iter()
        .enumerate()
        .map(|(id, f)| Shown::new(&f.text, id, &redact))
        .collect()
}

impl<'a> MietteView<'a> {
    fn new(diag: &'a Diag, sources: &Sources, shown: &[Shown]) -> MietteView<'a> {
        let primary_file = diag.labels.first().map(|l| l.span.file);
        let mut labels = Vec::new();
        let mut related = Vec::new();
        for (i, l) in diag.labels.iter().enumerate() {
            if Some(l.span.file) == primary_file {
                let text = if l.text.is_empty() {
                    None
                } else {
                    Some(escape_text(&l.text))
                };
                let span = shown
                    .get(l.span.file)
                    .map_or((l.span.offset, l.span.len), |s| s.span(l.span));
                labels.push(if i == 0 {
                    LabeledSpan::new_primary_with_span(text, span)
                } else {
                    LabeledSpan::new_with_span(text, span)
                });
            } else if let (Some(file), Some(text)) =
                (sources.get(l.span.file), shown.get(l.span.file))
            {
                // A label in another file (e.g. "first defined here" in the base file while the
                // error is in a profile) becomes a related note with its own source.
                related.push(MietteView {
                    diag,
                    message: escape_text(&l.text),
                    severity: miette::Severity::Advice,
                    code: None,
                    source: Some(NamedSource::new(
                        escape_text(&file.display),
                        std::sync::Arc::new(text.text.clone()),
                    )),
                    labels: vec![LabeledSpan::new_primary_with_span(None, text.span(l.span))],
                    help: None,
                    related: vec![],
                });
            }
        }
        let source = primary_file.and_then(|f| {
            let file = sources.get(f)?;
            let text = shown.get(f)?;
            Some(NamedSource::new(
                escape_text(&file.display),
                std::sync::Arc::new(text.text.clone()),
            ))
        });
        MietteView {
            diag,
            message: escape_text(&diag.message),
            severity: match diag.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            code: Some(diag.code.id),
            source,
            labels,
            help: diag.help.as_deref().map(escape_text),
            related,
        }
    }
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteView<'_> {}

impl Diagnostic for MietteView<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.code
            .map(|c| Box::new(format!("luciac::{c}")) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
        }
    }
}

/// Render diagnostics for people, followed by a one-line summary.
pub fn render_human(diags: &[Diag], sources: &Sources, style: Style) -> String {
    let theme = match (style.unicode, style.color) {
        (true, true) => GraphicalTheme::unicode(),
        (true, false) => GraphicalTheme::unicode_nocolor(),
        (false, true) => GraphicalTheme::ascii(),
        (false, false) => GraphicalTheme::none(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false);
    let shown = shown_files(diags, sources);
    let mut out = String::new();
    for d in diags.iter().take(MAX_RENDERED) {
        if let Some(place) = too_wide(d, sources) {
            // miette cannot draw a snippet past column 65535 (it panics), and a snippet that
            // wide helps nobody: give the place as text instead.
            let line = format!(
                "{}[luciac::{}]: {} (at {place})\n",
                if d.is_error() { "error" } else { "warning" },
                d.code.id,
                escape_text(&d.message)
            );
            out.push_str(&line);
            if let Some(h) = &d.help {
                out.push_str(&format!("  help: {}\n", escape_text(h)));
            }
            out.push('\n');
            continue;
        }
        let view = MietteView::new(d, sources, &shown);
        if handler.render_report(&mut out, &view).is_err() {
            out.push_str(&format!("{}: {}\n", d.code.id, d.message));
        }
        out.push('\n');
    }
    if diags.len() > MAX_RENDERED {
        out.push_str(&format!(
            "({} more diagnostics not shown; `--message-format json` lists them all)\n",
            diags.len() - MAX_RENDERED
        ));
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if errors > 0 || warnings > 0 {
        out.push_str(&summary_line(errors, warnings));
        out.push('\n');
    }
    out
}

/// How many diagnostics the human renderer draws; the rest are counted. Drawing one costs
/// time in the size of its snippet, so a pathological file must not take minutes to report.
const MAX_RENDERED: usize = 200;

/// The widest source line drawn as a snippet.
const MAX_SNIPPET_LINE: usize = 4096;

/// `FILE:LINE:COL` of a diagnostic whose snippet would hold a line wider than
/// [`MAX_SNIPPET_LINE`] bytes.
fn too_wide(d: &Diag, sources: &Sources) -> Option<String> {
    let wide = d.labels.iter().any(|l| {
        let Some(text) = sources.get(l.span.file).map(|f| f.text.as_str()) else {
            return false;
        };
        let start = l.span.offset.min(text.len());
        let end = l.span.offset.saturating_add(l.span.len).min(text.len());
        let line_start = text
            .get(..start)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = text
            .get(end..)
            .and_then(|t| t.find('\n'))
            .map_or(text.len(), |i| end + i);
        line_end - line_start > MAX_SNIPPET_LINE
    });
    let l = d.labels.first()?;
    if !wide {
        return None;
    }
    let (line, col) = sources.line_col(l.span);
    let file = sources.get(l.span.file).map_or("", |f| f.display.as_str());
    Some(format!("{}:{line}:{col}", escape_text(file)))
}

fn summary_line(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| {
        if n == 1 {
            format!("{n} {w}")
        } else {
            format!("{n} {w}s")
        }
    };
    match (errors, warnings) {
        (0, w) => format!("luciac: {}", plural(w, "warning")),
        (e, 0) => format!("luciac: {}", plural(e, "error")),
        (e, w) => format!("luciac: {}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// Render diagnostics as JSON lines: one object per diagnostic ([`to_json`]). The command
/// line wraps each in a `diagnostic` message instead (`docs/message-format.md`).
pub fn render_json(diags: &[Diag], sources: &Sources) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&to_json(d, sources).to_string());
        out.push('\n');
    }
    out
}

/// One diagnostic as JSON, with file, line and column computed from the span (editors and
/// CI annotations need lines, not byte offsets).
pub fn to_json(d: &Diag, sources: &Sources) -> serde_json::Value {
    let labels: Vec<serde_json::Value> = d
        .labels
        .iter()
        .map(|l| {
            let (line, column) = sources.line_col(l.span);
            serde_json::json!({
                "file": sources.get(l.span.file).map(|f| f.display.as_str()).unwrap_or(""),
                "offset": l.span.offset,
                "length": l.span.len,
                "line": line,
                "column": column,
                "label": escape_text(&l.text),
            })
        })
        .collect();
    let primary = labels.first().cloned().unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "code": format!("luciac::{}", d.code.id),
        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
        "message": escape_text(&d.message),
        "help": d.help.as_deref().map(escape_text),
        "file": primary.get("file").cloned().or_else(|| d.path.clone().map(serde_json::Value::String)).unwrap_or(serde_json::Value::Null),
        "line": primary.get("line").cloned().unwrap_or(serde_json::Value::Null),
        "column": primary.get("column").cloned().unwrap_or(serde_json::Value::Null),
        "labels": labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_in_help_lines() {
        assert_eq!(plural("property"), "properties");
        assert_eq!(plural("node"), "nodes");
        assert_eq!(plural("key"), "keys");
    }

    #[test]
    fn snippets_are_redacted_and_escaped_without_moving_labels() {
        let text = "a \"s\u{e9}cret\" b\u{202e}c \"x\"\n";
        let secret = Span {
            file: 0,
            offset: 2,
            len: 9,
        };
        let shown = Shown::new(text, 0, &[secret]);
        assert_eq!(shown.text, "a ********* b\\u{202E}c \"x\"\n");
        // A label after the escape moves by the escape's extra bytes.
        let x = text.find("\"x").unwrap_or(0);
        let (start, len) = shown.span(Span {
            file: 0,
            offset: x,
            len: 3,
        });
        assert_eq!(shown.text.get(start..start + len), Some("\"x\""));
        assert_eq!(escape_text("a\u{2028}b\rc"), "a\\u{2028}b\\u{D}c");
    }
}
