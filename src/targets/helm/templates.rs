//! The chart's templates, one resource per file. The Kubernetes objects come from the builder
//! both targets share ([`crate::targets::k8s::objects`]), with this module as their
//! [`Source`] of `.Values` expressions, and are written by [`super::render`]. The rest (named
//! templates, NOTES.txt, the Secret, the `helm test` pod) is template text. Declared text never
//! becomes template text (see [`super::go_str`] and [`super::yq`]).

use super::render::render;
use super::{camel, go_str, yq};
use crate::model::{
    Check, EnvSource, HealthInfo, Model, ParamKind, Part, PortInfo, ProbeTool, Publish,
    ServiceInfo, VolumeInfo,
};
use crate::targets::k8s::objects::{self, Source};
use crate::targets::k8s::{self, web};
use crate::yaml::Yaml;

/// The chart's templates and the values its objects read.
pub(super) struct Tpl<'a> {
    model: &'a Model,
    /// Chart name: the prefix of every named template.
    n: String,
}

impl<'a> Tpl<'a> {
    pub(super) fn new(model: &'a Model) -> Tpl<'a> {
        Tpl {
            model,
            n: model.app.name.clone(),
        }
    }

    /// Substitute `@N@` (chart name) and the given `@X@` placeholders in one pass over
    /// `text`, so substituted text (which may hold declared strings) is never rescanned.
    pub(super) fn t(&self, text: &str, vars: &[(&str, &str)]) -> String {
        let mut all = Vec::with_capacity(vars.len() + 1);
        all.push(("N", self.n.as_str()));
        all.extend_from_slice(vars);
        crate::targets::text::fill(text, &all)
    }

    fn ctx(&self, component: &str) -> String {
        format!("(dict \"ctx\" $ \"component\" \"{component}\")")
    }

    fn name_of(&self, component: &str) -> String {
        format!(
            "{{{{ include \"{}.componentName\" {} }}}}",
            self.n,
            self.ctx(component)
        )
    }

    /// Template lines that include a named template of the component's labels.
    fn include_lines(&self, what: &str, component: &str) -> Yaml {
        Yaml::Splice(format!(
            "{{{{- include \"{}.{what}\" {} | nindent @INDENT@ }}}}",
            self.n,
            self.ctx(component)
        ))
    }

    /// `.Values` of one volume of a service, from the template's top (`.`) or from anywhere
    /// (`$.`).
    fn persistence(&self, root: &str, s: &ServiceInfo, v: &VolumeInfo) -> String {
        format!(
            "{root}Values.{}.persistence.{}",
            camel(&s.name),
            camel(&v.name)
        )
    }

    /// The claim the chart creates for a volume (an expression, without its braces).
    fn default_claim(&self, s: &ServiceInfo, v: &VolumeInfo) -> String {
        format!(
            "printf \"%s-{}\" (include \"{}.componentName\" {}) | trunc 63 | trimSuffix \"-\"",
            v.name,
            self.n,
            self.ctx(&s.name)
        )
    }

    /// A template file: the object's YAML between a condition's opening and closing lines.
    fn file(&self, open: &str, doc: &Yaml, close: &str) -> String {
        format!("{open}{}{close}", render(doc))
    }

    pub(super) fn helpers(&self) -> String {
        let mut out = self.t(HELPERS, &[]);
        for s in &self.model.services {
            if s.env.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "\n{{{{/* Environment of {}: the keys the program reads. */}}}}\n",
                s.name
            ));
            out.push_str(&format!(
                "{{{{- define \"{}.{}.env\" -}}}}\n",
                self.n, s.name
            ));
            out.push_str(&render(&self.env_list(s)));
            out.push_str("{{- end }}\n");
        }
        out
    }

    /// A service's environment: its values, and its secrets from the chart's Secret.
    fn env_list(&self, s: &ServiceInfo) -> Yaml {
        let items = s.env.iter().map(|e| {
            let item = Yaml::map().with("name", e.key.as_str());
            match &e.source {
                EnvSource::Template(parts) => {
                    item.with("value", Source::value(self, &s.name, parts))
                }
                EnvSource::Secret(name) => {
                    let optional = self.model.secret(name).is_some_and(|x| x.optional);
                    let key = self.t(
                        "{{ $.Values.secrets.keys.@KEY@ | quote }}",
                        &[("KEY", &camel(name))],
                    );
                    let secret = Yaml::map()
                        .with(
                            "name",
                            Yaml::Expr(self.t("{{ include \"@N@.secretName\" $ | quote }}", &[])),
                        )
                        .with("key", Yaml::Expr(key));
                    let secret = if optional {
                        secret.with("optional", true)
                    } else {
                        secret
                    };
                    item.with("valueFrom", Yaml::map().with("secretKeyRef", secret))
                }
            }
        });
        Yaml::Seq(items.collect())
    }

    /// The template expression of a port number others use to reach `svc`'s `port`.
    fn port_expr(&self, svc: &str, port: &str, number: u16) -> Option<String> {
        let p = self
            .model
            .service(svc)?
            .ports
            .iter()
            .find(|p| p.name == port)?;
        match &p.publish {
            Some(Publish::Param { name, .. }) => Some(format!(
                "(int64 $.Values.params.{} | toString)",
                camel(name)
            )),
            Some(Publish::Fixed(n)) => Some(go_str(&n.to_string())),
            None => Some(go_str(&number.to_string())),
        }
    }

    /// NOTES.txt: how to reach the web service, the Secret the pods wait for, what is off.
    pub(super) fn notes(&self) -> String {
        let reach = web(self.model).map(|(s, p)| {
            let port = match &p.publish {
                Some(Publish::Param { name, .. }) => {
                    format!("{{{{ $.Values.params.{} }}}}", camel(name))
                }
                _ => p.number.to_string(),
            };
            self.t(
                include_str!("notes-reach.txt"),
                &[("SVC", &self.name_of(&s.name)), ("PORT", &port)],
            )
        });
        let secrets = (!self.model.secrets.is_empty()).then(|| {
            let cond: Vec<String> = self
                .model
                .secrets
                .iter()
                .map(|s| format!("$v.{}", camel(&s.name)))
                .collect();
            self.t(
                include_str!("notes-secrets.txt"),
                &[("COND", &cond.join(" ")), ("LINES", &self.secret_lines())],
            )
        });
        self.t(
            include_str!("notes.txt"),
            &[
                ("REACH", reach.as_deref().unwrap_or_default()),
                ("SECRETS", secrets.as_deref().unwrap_or_default()),
            ],
        )
    }

    /// `--from-literal` lines for NOTES.txt: required keys in the command, optional ones listed.
    fn secret_lines(&self) -> String {
        let mut out = String::new();
        for s in self.model.secrets.iter().filter(|s| !s.optional) {
            out.push_str(&format!(
                " \\\n    --from-literal={{{{ .Values.secrets.keys.{} }}}}='…'",
                camel(&s.name)
            ));
        }
        let optional: Vec<String> = self
            .model
            .secrets
            .iter()
            .filter(|s| s.optional)
            .map(|s| format!("{{{{ .Values.secrets.keys.{} }}}}", camel(&s.name)))
            .collect();
        if !optional.is_empty() {
            out.push_str(&format!(
                "\n\nOptional keys (add --from-literal=KEY='…' for those you use): {}",
                optional.join(", ")
            ));
        }
        out
    }

    pub(super) fn service_account(&self) -> String {
        self.t(include_str!("serviceaccount.yaml"), &[])
    }

    /// The Secret, when the chart creates it: one `data` entry per declared secret.
    pub(super) fn secret(&self) -> String {
        let cond: Vec<String> = self
            .model
            .secrets
            .iter()
            .map(|s| format!("$v.{}", camel(&s.name)))
            .collect();
        let mut data = String::new();
        for s in &self.model.secrets {
            let k = camel(&s.name);
            if s.optional {
                data.push_str(&format!(
                    "  {{{{- if $v.{k} }}}}\n  {{{{ .Values.secrets.keys.{k} | quote }}}}: {{{{ $v.{k} | b64enc | quote }}}}\n  {{{{- end }}}}\n"
                ));
            } else {
                data.push_str(&format!(
                    "  {{{{ .Values.secrets.keys.{k} | quote }}}}: {{{{ required \"secrets.values.{k} is required when the chart creates the Secret (or set secrets.existingSecret)\" $v.{k} | b64enc | quote }}}}\n"
                ));
            }
        }
        self.t(
            include_str!("secret.yaml"),
            &[("COND", &cond.join(" ")), ("DATA", &data)],
        )
    }

    pub(super) fn deployment(&self, s: &ServiceInfo) -> String {
        render(&objects::deployment(self, s))
    }

    /// The quoted template expression of a service's ConfigMap name.
    fn config_map_expr(&self, c: &str) -> String {
        format!(
            "{{{{ printf \"%s-config\" (include \"{}.componentName\" {}) | trunc 63 | trimSuffix \"-\" | quote }}}}",
            self.n,
            self.ctx(c)
        )
    }

    /// The ConfigMap that carries a service's config files.
    pub(super) fn config_map(&self, s: &ServiceInfo) -> String {
        render(&objects::config_map(self, s))
    }

    pub(super) fn service(&self, s: &ServiceInfo) -> String {
        render(&objects::service(self, s))
    }

    /// A volume's claim, unless the values name an existing one.
    pub(super) fn pvc(&self, s: &ServiceInfo, v: &VolumeInfo) -> String {
        self.file(
            &format!(
                "{{{{- if not {}.existingClaim }}}}\n",
                self.persistence(".", s, v)
            ),
            &objects::pvc(self, s, v),
            END,
        )
    }

    pub(super) fn network_policy(&self, s: &ServiceInfo) -> String {
        self.file(
            NETWORK_POLICY_ON,
            &objects::network_policy(self, self.model, s),
            END,
        )
    }

    /// The Ingress to the web service, when the values enable it (and then they must name
    /// its host).
    pub(super) fn ingress(&self) -> String {
        let Some(doc) = objects::ingress(self, self.model) else {
            return String::new();
        };
        self.file(
            "{{- if .Values.ingress.enabled }}\n{{- $host := required \"ingress.host is required when ingress.enabled is true\" .Values.ingress.host }}\n",
            &doc,
            END,
        )
    }

    /// The `helm test` pod accepts no traffic; it only calls out.
    pub(super) fn test_network_policy(&self) -> String {
        self.file(
            NETWORK_POLICY_ON,
            &objects::closed_network_policy(self, "test", Vec::new()),
            END,
        )
    }

    /// `helm test`: the web image itself (already on the node) asks the readiness path through
    /// the Service with the tool its health check declares (bash's `/dev/tcp`, curl or wget), which proves the Service, the probes' path and
    /// the wiring to the dependencies. Retries for the cold start.
    pub(super) fn test_pod(&self) -> Option<String> {
        let (s, p) = web(self.model)?;
        let Some(HealthInfo {
            readiness: Check::Http { path, .. },
            ..
        }) = &s.health
        else {
            return None;
        };
        let c = &s.name;
        let v = format!("$.Values.{}", camel(c));
        let port = match &p.publish {
            Some(Publish::Param { name, .. }) => {
                format!("{{{{ int64 $.Values.params.{} | quote }}}}", camel(name))
            }
            Some(Publish::Fixed(n)) => format!("\"{n}\""),
            None => format!("\"{}\"", p.number),
        };
        // The web image runs the check with what it has (`tool=` on its health check).
        let (shell, script) = match s.health.as_ref().map(|h| h.tool) {
            Some(ProbeTool::Curl) => ("sh", include_str!("test-connection-curl.sh")),
            Some(ProbeTool::Wget) => ("sh", include_str!("test-connection-wget.sh")),
            _ => ("bash", include_str!("test-connection.sh")),
        };
        let command = format!(
            "        - {shell}\n        - -c\n        - {}\n",
            yq(script.trim_end())
        );
        Some(self.t(
            include_str!("test-pod.yaml"),
            &[
                ("V", &v),
                ("CTX", &self.ctx(c)),
                ("PORT", &port),
                ("PATH", &yq(path)),
                ("COMMAND", &command),
            ],
        ))
    }
}

/// The chart's values: template expressions over `.Values`, and template lines where a
/// values map (labels, resources, security contexts) is written whole.
impl Source for Tpl<'_> {
    fn name(&self, component: &str) -> Yaml {
        Yaml::Expr(self.name_of(component))
    }
    fn labels(&self, component: &str) -> Yaml {
        self.include_lines("labels", component)
    }
    fn selector(&self, component: &str) -> Yaml {
        self.include_lines("selectorLabels", component)
    }
    fn comment(&self, text: &str) -> Option<Yaml> {
        Some(Yaml::Splice(format!("# {text}")))
    }
    /// An env value of service `own`: the text itself, or `print` of its parts piped through
    /// `quote`. `own`'s own ports are its container ports (where it listens); other services'
    /// ports are their Service ports.
    fn value(&self, own: &str, parts: &[Part]) -> Yaml {
        if parts.iter().all(|p| matches!(p, Part::Lit(_))) {
            let s: String = parts
                .iter()
                .map(|p| if let Part::Lit(s) = p { s.as_str() } else { "" })
                .collect();
            return Yaml::Str(s);
        }
        let mut items: Vec<String> = Vec::new();
        let mut lit = String::new();
        for p in parts {
            let item = match p {
                Part::Lit(s) => {
                    lit.push_str(s);
                    continue;
                }
                Part::Param(name) => match self.model.param(name).map(|p| p.kind) {
                    Some(ParamKind::Int { .. } | ParamKind::Port) => {
                        format!("(int64 $.Values.params.{} | toString)", camel(name))
                    }
                    _ => format!("(toString $.Values.params.{})", camel(name)),
                },
                Part::Host(svc) => {
                    format!("(include \"{}.componentName\" {})", self.n, self.ctx(svc))
                }
                Part::Port {
                    service,
                    port,
                    number,
                } if service == own => go_str(&number.to_string()),
                Part::Port {
                    service,
                    port,
                    number,
                } => self
                    .port_expr(service, port, *number)
                    .unwrap_or_else(|| go_str(&number.to_string())),
            };
            if !lit.is_empty() {
                items.push(go_str(&std::mem::take(&mut lit)));
            }
            items.push(item);
        }
        if !lit.is_empty() {
            items.push(go_str(&lit));
        }
        Yaml::Expr(format!("{{{{ print {} | quote }}}}", items.join(" ")))
    }
    fn service_type(&self, published: bool) -> Yaml {
        if published {
            Yaml::Expr("{{ .Values.service.type }}".into())
        } else {
            "ClusterIP".into()
        }
    }
    fn service_port(&self, p: &PortInfo) -> Yaml {
        match &p.publish {
            Some(Publish::Param { name, .. }) => {
                Yaml::Expr(format!("{{{{ int64 $.Values.params.{} }}}}", camel(name)))
            }
            Some(Publish::Fixed(n)) => Yaml::from(*n),
            None => Yaml::from(p.number),
        }
    }
    fn claim_name(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        Yaml::Expr(format!("{{{{ {} }}}}", self.default_claim(s, v)))
    }
    fn claim_ref(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        Yaml::Expr(format!(
            "{{{{ {}.existingClaim | default ({}) | quote }}}}",
            self.persistence("$.", s, v),
            self.default_claim(s, v)
        ))
    }
    fn claim_annotations(&self) -> Yaml {
        Yaml::map()
            .splice_entry("# Keep the data when the release is uninstalled; a reinstall adopts the claim again.")
            .with("helm.sh/resource-policy", "keep")
    }
    fn claim_storage_class(&self, spec: Yaml) -> Yaml {
        spec.splice_entry("{{- with .Values.persistence.storageClass }}\n{{- if eq . \"-\" }}")
            .with_alternative("storageClassName", "")
            .splice_entry("{{- else }}")
            .with_alternative("storageClassName", Yaml::Expr("{{ . | quote }}".into()))
            .splice_entry("{{- end }}\n{{- end }}")
    }
    fn claim_size(&self, s: &ServiceInfo, v: &VolumeInfo) -> Yaml {
        Yaml::Expr(format!(
            "{{{{ {}.size | quote }}}}",
            self.persistence(".", s, v)
        ))
    }
    fn ingress_name(&self) -> Yaml {
        Yaml::Expr(self.t("{{ include \"@N@.fullname\" . }}", &[]))
    }
    /// Bound by the template's first lines (`required`: an enabled Ingress needs a host).
    fn ingress_host(&self) -> Option<Yaml> {
        Some(Yaml::Expr("{{ $host | quote }}".into()))
    }
    fn ingress_metadata(&self, metadata: Yaml) -> Yaml {
        with_values(metadata, ".Values.ingress.annotations", "annotations")
    }
    fn ingress_spec(&self, host: &Yaml) -> Yaml {
        let secret = self.t(
            "{{ .Values.ingress.tls.secretName | default (printf \"%s-tls\" (include \"@N@.fullname\" .)) | quote }}",
            &[],
        );
        Yaml::map()
            .splice_entry("{{- with .Values.ingress.className }}")
            .with("ingressClassName", Yaml::Expr("{{ . | quote }}".into()))
            .splice_entry("{{- end }}\n{{- if .Values.ingress.tls.enabled }}")
            .with("tls", k8s::objects::ingress_tls(host, Yaml::Expr(secret)))
            .splice_entry("{{- end }}")
    }
    fn config_map_name(&self, component: &str) -> Yaml {
        Yaml::Expr(self.config_map_expr(component))
    }
    /// Roll the pods when their environment or a chart-managed Secret or ConfigMap changes.
    fn pod_annotations(&self, s: &ServiceInfo) -> Option<Yaml> {
        let c = &s.name;
        let mut hashed = Vec::new();
        if !s.env.is_empty() {
            hashed.push(format!("(include \"{}.{c}.env\" $)", self.n));
        }
        if !self.model.secrets.is_empty() {
            hashed.push("(include (print $.Template.BasePath \"/secret.yaml\") $)".to_string());
        }
        if !s.configs.is_empty() {
            hashed.push(format!(
                "(include (print $.Template.BasePath \"/{c}-configmap.yaml\") $)"
            ));
        }
        let checksum = if hashed.is_empty() {
            "{{ \"\" | sha256sum }}".to_string()
        } else {
            format!("{{{{ print {} | sha256sum }}}}", hashed.join(" "))
        };
        Some(
            Yaml::map()
                .with("checksum/config", Yaml::Expr(checksum))
                .splice_entry(format!(
                    "{{{{- with {}.podAnnotations }}}}\n{{{{- toYaml . | nindent @INDENT@ }}}}\n{{{{- end }}}}",
                    values_of(c)
                )),
        )
    }
    fn service_account(&self) -> Yaml {
        Yaml::Expr(self.t("{{ include \"@N@.serviceAccountName\" $ }}", &[]))
    }
    fn pod_security(&self, s: &ServiceInfo) -> Yaml {
        to_yaml_lines(&format!("{}.podSecurityContext", values_of(&s.name)))
    }
    fn image(&self, s: &ServiceInfo) -> Yaml {
        Yaml::Expr(format!(
            "{{{{ include \"{}.image\" {}.image | quote }}}}",
            self.n,
            values_of(&s.name)
        ))
    }
    fn pull_policy(&self, s: &ServiceInfo) -> Yaml {
        Yaml::Expr(format!("{{{{ {}.image.pullPolicy }}}}", values_of(&s.name)))
    }
    /// The list `_helpers.tpl` defines, so the checksum annotation hashes the same text.
    fn env(&self, s: &ServiceInfo) -> Yaml {
        Yaml::Splice(format!(
            "{{{{- include \"{}.{}.env\" $ | nindent @INDENT@ }}}}",
            self.n, s.name
        ))
    }
    fn resources(&self, s: &ServiceInfo) -> Yaml {
        to_yaml_lines(&format!("{}.resources", values_of(&s.name)))
    }
    fn container_security(&self, s: &ServiceInfo) -> Yaml {
        to_yaml_lines(&format!("{}.containerSecurityContext", values_of(&s.name)))
    }
    fn empty_dir_limit(&self, s: &ServiceInfo) -> Yaml {
        Yaml::Expr(format!(
            "{{{{ {}.emptyDirSizeLimit | quote }}}}",
            values_of(&s.name)
        ))
    }
    fn scheduling(&self, s: &ServiceInfo, pod: Yaml) -> Yaml {
        let v = values_of(&s.name);
        ["nodeSelector", "tolerations", "affinity"]
            .into_iter()
            .fold(pod, |pod, key| with_values(pod, &format!("{v}.{key}"), key))
    }
}

/// `$.Values.<service>`: the values of one service.
fn values_of(service: &str) -> String {
    format!("$.Values.{}", camel(service))
}

/// A values map written whole, under the key this is the value of.
fn to_yaml_lines(values: &str) -> Yaml {
    Yaml::Splice(format!("{{{{- toYaml {values} | nindent @INDENT@ }}}}"))
}

/// `map` with `key` holding the values at `values`, present only when they are set.
fn with_values(map: Yaml, values: &str, key: &str) -> Yaml {
    map.splice_entry(format!("{{{{- with {values} }}}}"))
        .with(key, to_yaml_lines("."))
        .splice_entry("{{- end }}")
}

const NETWORK_POLICY_ON: &str = "{{- if .Values.networkPolicy.enabled }}\n";
const END: &str = "{{- end }}\n";

const HELPERS: &str = r#"{{/* Chart name, overridable with nameOverride. */}}
{{- define "@N@.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> (or the release alone when it holds the chart name), at most 63 characters. */}}
{{- define "@N@.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart label value: name-version. */}}
{{- define "@N@.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Objects of one component: <fullname>-<component>. Call with (dict "ctx" $ "component" "NAME"). */}}
{{- define "@N@.componentName" -}}
{{- printf "%s-%s" (include "@N@.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: the immutable subset, with the component so no Service selects another component's pods. */}}
{{- define "@N@.selectorLabels" -}}
app.kubernetes.io/name: {{ include "@N@.name" .ctx | quote }}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/component: {{ .component | quote }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "@N@.labels" -}}
helm.sh/chart: {{ include "@N@.chart" .ctx | quote }}
{{ include "@N@.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: "@N@"
app.kubernetes.io/managed-by: {{ .ctx.Release.Service | quote }}
{{- end }}

{{/* The pods' ServiceAccount. */}}
{{- define "@N@.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "@N@.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the pods read: existingSecret, else <fullname>-secrets. */}}
{{- define "@N@.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "@N@.componentName" (dict "ctx" . "component" "secrets") }}
{{- end }}
{{- end }}

{{/* Image reference: repository[:tag][@digest]. Call with an image values map. */}}
{{- define "@N@.image" -}}
{{- $ref := .repository }}
{{- if .tag }}{{ $ref = printf "%s:%s" $ref .tag }}{{ end }}
{{- if .digest }}{{ $ref = printf "%s@%s" $ref .digest }}{{ end }}
{{- $ref }}
{{- end }}
"#;
