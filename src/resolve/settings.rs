//! Typed `target` settings with their defaults.

use super::Resolver;
use crate::decl::{self, Decl, Scalar};
use crate::diag::{self, Diag};
use crate::model::{
    ComposeSettings, GithubSettings, HelmSettings, KubernetesSettings, KustomizeSettings,
    SystemdSettings, TargetSettings,
};

impl Resolver<'_> {
    pub(super) fn targets(&mut self, decl: &Decl) -> TargetSettings {
        // The systemd defaults follow the app: `/opt/<app>` and a system user named after it
        // (at most 31 characters, the longest name sysusers.d accepts).
        let app = decl.app.as_ref().map_or("app", |a| a.name.v.as_str());
        let user: String = app.chars().take(31).collect();
        let mut t = TargetSettings {
            compose: ComposeSettings {
                enabled: true,
                bind_address: None,
                log_max_size: "10m".into(),
                log_max_files: 3,
            },
            helm: HelmSettings { enabled: true },
            kubernetes: KubernetesSettings::default(),
            kustomize: KustomizeSettings {
                enabled: true,
                namespace: None,
            },
            systemd: SystemdSettings {
                enabled: true,
                prefix: format!("/opt/{app}"),
                user: user.trim_end_matches('-').to_string(),
                prefix_span: None,
                user_span: None,
            },
            github: GithubSettings {
                enabled: true,
                luciac_repository: default_luciac_repository(),
                branch: "main".into(),
            },
        };
        const NAMES: &[&str] = &[
            "compose",
            "helm",
            "kustomize",
            "kubernetes",
            "systemd",
            "github",
        ];
        for target in &decl.targets {
            let known: &[&str] = match known_settings(&target.name.v) {
                Some(k) => k,
                None => {
                    let other = target.name.v.as_str();
                    self.err(
                        Diag::error(diag::UNKNOWN_TARGET, format!("unknown target `{other}`"))
                            .label(target.name.span, "no such target")
                            .help(diag::unknown_help("target", other, NAMES.iter().copied())),
                    );
                    continue;
                }
            };
            for s in &target.settings {
                if !known.contains(&s.name.v.as_str()) {
                    self.err(
                        Diag::error(
                            diag::UNKNOWN_NODE,
                            format!("target `{}` has no setting `{}`", target.name.v, s.name.v),
                        )
                        .label(s.name.span, "unknown setting")
                        .help(diag::unknown_help(
                            "setting",
                            &s.name.v,
                            known.iter().copied(),
                        )),
                    );
                    continue;
                }
                self.setting(&mut t, &target.name.v, s);
            }
        }
        t
    }

    fn setting(&mut self, t: &mut TargetSettings, target: &str, s: &decl::Setting) {
        let key = s.name.v.as_str();
        if key == "ingress" {
            for (k, v) in &s.props {
                match (k.v.as_str(), &v.v) {
                    ("host", Scalar::Str(h)) => t.kubernetes.ingress_host = Some(h.clone()),
                    ("class", Scalar::Str(c)) => t.kubernetes.ingress_class = Some(c.clone()),
                    ("tls", Scalar::Bool(b)) => t.kubernetes.ingress_tls = *b,
                    ("tls-secret", Scalar::Str(c)) => {
                        t.kubernetes.ingress_tls_secret = Some(c.clone())
                    }
                    ("host" | "class" | "tls-secret", _) => self.err(
                        Diag::error(diag::WRONG_TYPE, format!("`{}` must be a string", k.v))
                            .label(v.span, "expected a string"),
                    ),
                    ("tls", _) => self.err(
                        Diag::error(diag::WRONG_TYPE, "`tls` must be #true or #false")
                            .label(v.span, "expected a boolean"),
                    ),
                    (other, _) => self.err(
                        Diag::error(
                            diag::UNKNOWN_PROPERTY,
                            format!("`ingress` has no property `{other}`"),
                        )
                        .label(k.span, "unknown property")
                        .help(diag::unknown_help(
                            "property",
                            other,
                            ["host", "class", "tls", "tls-secret"],
                        )),
                    ),
                }
            }
            return;
        }
        if !s.props.is_empty() || s.args.len() != 1 {
            self.err(
                Diag::error(
                    diag::MISSING_VALUE,
                    format!("`{key}` takes exactly one value"),
                )
                .label(s.span, "expected one value")
                .help(format!("write `{key} VALUE`")),
            );
            return;
        }
        let v = &s.args[0];
        let want_bool = matches!(key, "enabled" | "network-policy");
        let want_int = key == "log-max-files";
        match (&v.v, want_bool, want_int) {
            (Scalar::Bool(b), true, _) => match (target, key) {
                (_, "enabled") => match target {
                    "compose" => t.compose.enabled = *b,
                    "helm" => t.helm.enabled = *b,
                    "kustomize" => t.kustomize.enabled = *b,
                    "kubernetes" => {
                        t.helm.enabled = *b;
                        t.kustomize.enabled = *b;
                    }
                    "github" => t.github.enabled = *b,
                    _ => t.systemd.enabled = *b,
                },
                _ => t.kubernetes.network_policy = *b,
            },
            (Scalar::Int(n), _, true) if *n >= 1 && *n <= 100 => {
                t.compose.log_max_files = *n as u32
            }
            (Scalar::Str(text), false, false) => {
                let text = text.clone();
                match (target, key) {
                    ("compose", "bind-address") => t.compose.bind_address = Some(text),
                    ("compose", "log-max-size") => t.compose.log_max_size = text,
                    ("helm" | "kubernetes", "storage-class") => {
                        t.kubernetes.storage_class = Some(text)
                    }
                    ("helm" | "kubernetes", "namespace") => t.kubernetes.namespace = Some(text),
                    ("kustomize", "namespace") => t.kustomize.namespace = Some(text),
                    ("systemd", "prefix") => {
                        if !text.starts_with('/') || text.contains(char::is_whitespace) {
                            self.err(
                                Diag::error(
                                    diag::BAD_PATH,
                                    format!("`{text}` is not an absolute path"),
                                )
                                .label(v.span, "invalid prefix")
                                .help("use an absolute path such as `/opt/NAME`"),
                            );
                        }
                        t.systemd.prefix = text;
                        t.systemd.prefix_span = Some(v.span);
                    }
                    ("systemd", "user") => {
                        t.systemd.user = text;
                        t.systemd.user_span = Some(v.span);
                    }
                    ("github", "luciac-repository") => {
                        let ok = text.split('/').count() == 2
                            && text.split('/').all(|p| {
                                !p.is_empty()
                                    && p.chars()
                                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                            });
                        if !ok {
                            self.err(
                                Diag::error(diag::BAD_SETTING, format!("`{text}` is not a GitHub repository"))
                                    .label(v.span, "expected OWNER/NAME")
                                    .help("write the repository whose releases carry luciac, like `luciac/luciac`"),
                            );
                        }
                        t.github.luciac_repository = text;
                    }
                    ("github", "branch") => {
                        if text.is_empty()
                            || text
                                .chars()
                                .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c))
                        {
                            self.err(
                                Diag::error(
                                    diag::BAD_SETTING,
                                    format!("`{text}` is not a branch name"),
                                )
                                .label(v.span, "invalid branch"),
                            );
                        }
                        t.github.branch = text;
                    }
                    _ => {}
                }
            }
            _ => {
                let want = if want_bool {
                    "#true or #false"
                } else if want_int {
                    "a number from 1 to 100"
                } else {
                    "a string"
                };
                self.err(
                    Diag::error(diag::WRONG_TYPE, format!("`{key}` must be {want}"))
                        .label(v.span, format!("expected {want}")),
                );
            }
        }
    }
}

/// `owner/name` from this crate's `repository` URL: where luciac's releases live.
fn default_luciac_repository() -> String {
    env!("CARGO_PKG_REPOSITORY")
        .trim_end_matches('/')
        .rsplit('/')
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("/")
}

/// The settings each `target` block accepts; `None` for a target that does not exist. The
/// language server completes from the same table.
pub fn known_settings(target: &str) -> Option<&'static [&'static str]> {
    Some(match target {
        "compose" => &["enabled", "bind-address", "log-max-size", "log-max-files"],
        // `kubernetes` holds what Helm and Kustomize share; `helm` is the same block.
        "helm" | "kubernetes" => &[
            "enabled",
            "ingress",
            "storage-class",
            "network-policy",
            "namespace",
        ],
        "kustomize" => &["enabled", "namespace"],
        "systemd" => &["enabled", "prefix", "user"],
        "github" => &["enabled", "luciac-repository", "branch"],
        _ => return None,
    })
}
