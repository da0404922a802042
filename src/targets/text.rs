//! Filling the template files that hold the bundles' prose and scripts (`README` sections,
//! the Helm test pod, workflow scripts): `@NAME@` placeholders replaced in one pass, so that
//! substituted text (which may hold declared strings) is never scanned again. Also the small
//! text helpers several targets share: shell quoting, sizes and CPU amounts.

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

/// [`fill`] for a template whose last line holds only placeholders for closing sections that
/// end their own lines (or are empty): the file's final newline is not part of the text, so an
/// empty closing section leaves nothing behind.
pub fn fill_closing(text: &str, vars: &[(&str, &str)]) -> String {
    fill(text.strip_suffix('\n').unwrap_or(text), vars)
}

/// Text inside a double-quoted shell string (or an env file's double-quoted value):
/// `\ " $ `` ` escaped.
pub fn dq(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Shell-quote for POSIX sh: single quotes, with `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Human size: `512Mi` style, exact, for READMEs and Compose.
pub fn bytes_text(b: u64, units: [&str; 3]) -> String {
    if b.is_multiple_of(1 << 30) {
        format!("{}{}", b >> 30, units[2])
    } else if b.is_multiple_of(1 << 20) {
        format!("{}{}", b >> 20, units[1])
    } else if b.is_multiple_of(1 << 10) {
        format!("{}{}", b >> 10, units[0])
    } else {
        format!("{b}")
    }
}

/// Millicores as decimal cores: 250 → "0.25", 1000 → "1".
pub fn cores_text(millis: u64) -> String {
    let whole = millis / 1000;
    let frac = millis % 1000;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
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
