//! Filling the template files that hold the bundles' prose and scripts (`README` sections,
//! the Helm test pod, workflow scripts): `@NAME@` placeholders replaced in one pass, so that
//! substituted text (which may hold declared strings) is never scanned again.

/// Replace each `@KEY@` (uppercase letters) with its value; unknown keys and lone `@` stay.
pub fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let key = after
            .find('@')
            .map(|end| &after[..end])
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase()));
        let value = key.and_then(|k| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| *v));
        match (key, value) {
            (Some(k), Some(v)) => {
                out.push_str(v);
                rest = &after[k.len() + 1..];
            }
            _ => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn one_pass_and_unknown_keys_stay() {
        assert_eq!(fill("a @X@ b", &[("X", "@X@")]), "a @X@ b");
        assert_eq!(fill("me@host @Y@", &[]), "me@host @Y@");
        assert_eq!(fill("@X@@X@", &[("X", "1")]), "11");
    }
}
