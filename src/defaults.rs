//! The starter declarations `luciac init` writes, compiled into the binary so someone who
//! installed only the binary starts from a working, tested declaration (`tests/examples.rs`
//! builds every template and runs the validators on it).

/// One starter: a name for `--template`, a line for `--help`, and its files.
pub struct Template {
    pub name: &'static str,
    pub about: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

/// The first is what `luciac init` writes without `--template`.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "lucia",
        about: "Lucia's own stack: the AgentHost with Redis and MongoDB",
        files: &[
            ("lucia.kdl", include_str!("../lucia.kdl")),
            ("profiles/dev.kdl", include_str!("../profiles/dev.kdl")),
            ("profiles/prod.kdl", include_str!("../profiles/prod.kdl")),
        ],
    },
    Template {
        name: "blank",
        about: "one web service to start from",
        files: &[
            ("lucia.kdl", include_str!("../templates/blank/lucia.kdl")),
            (
                "profiles/dev.kdl",
                include_str!("../templates/blank/profiles/dev.kdl"),
            ),
            (
                "profiles/prod.kdl",
                include_str!("../templates/blank/profiles/prod.kdl"),
            ),
        ],
    },
    Template {
        name: "app-db",
        about: "a web app with a PostgreSQL database sharing one password",
        files: &[
            ("lucia.kdl", include_str!("../templates/app-db/lucia.kdl")),
            (
                "profiles/dev.kdl",
                include_str!("../templates/app-db/profiles/dev.kdl"),
            ),
            (
                "profiles/prod.kdl",
                include_str!("../templates/app-db/profiles/prod.kdl"),
            ),
        ],
    },
];

/// The template called `name`.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// What `luciac init` writes without `--template`.
pub const FILES: &[(&str, &str)] = TEMPLATES[0].files;
