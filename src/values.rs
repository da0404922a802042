//! Parsers for the typed scalars of the language: names, quantities, durations, URLs, images.
//!
//! Each returns a message fit for a diagnostic; the caller adds the span and code.

/// A DNS-1123 label: what Kubernetes object names, Compose service names and volume names
/// all accept. `max` is 63 for most names, 15 for port names (IANA service names).
pub fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "`{name}` is {} characters long; the limit is {max}",
            name.len()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "`{name}` may only hold lowercase letters, digits and `-`"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("`{name}` must start with a lowercase letter"));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err(format!("`{name}` must not end with `-` or contain `--`"));
    }
    Ok(())
}

/// A suggestion for an invalid name: lowercase, `_`/space/`.` to `-`.
pub fn suggest_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_string()
}

/// CPU as millicores: `250m`, `1`, `1.5`, `0.25`.
pub fn parse_cpu(s: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{s}` is not a CPU quantity; write millicores like `250m` or cores like `1` or `1.5`"
        )
    };
    if let Some(m) = s.strip_suffix('m') {
        let v: u64 = m.parse().map_err(|_| bad())?;
        return if v == 0 {
            Err("a CPU quantity must be above zero".into())
        } else {
            Ok(v)
        };
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 3
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let w: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().map_err(|_| bad())?
    };
    let v = w
        .checked_mul(1000)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(bad)?;
    if v == 0 {
        Err("a CPU quantity must be above zero".into())
    } else {
        Ok(v)
    }
}

/// Memory or storage size in bytes: `512Mi`, `1Gi`, `500M`, `1073741824`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a size; write it like `512Mi`, `1Gi` or `500M`");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1000,
        "M" => 1000_u64.pow(2),
        "G" => 1000_u64.pow(3),
        "T" => 1000_u64.pow(4),
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "m" | "mi" | "mb" | "MB" | "gb" | "GB" | "g" | "gi" => {
            return Err(format!(
                "`{s}`: unit `{unit}` is ambiguous; write `Mi`/`Gi` (powers of two) or `M`/`G` (powers of ten)"
            ));
        }
        _ => return Err(bad()),
    };
    let v = n.checked_mul(mult).ok_or_else(bad)?;
    if v == 0 {
        Err("a size must be above zero".into())
    } else {
        Ok(v)
    }
}

/// A duration in whole seconds: `30s`, `2m`, `1h`, `1500ms` (rounded up to seconds).
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a duration; write it like `30s`, `2m` or `1h`");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n.div_ceil(1000),
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs > 86_400 {
        Err(format!("`{s}` is longer than a day"))
    } else {
        Ok(secs)
    }
}

/// An absolute http(s) URL with a host.
pub fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("`{s}` must start with `http://` or `https://`"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{s}` has no host"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{s}` contains whitespace"));
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().map(|p| p == 0).unwrap_or(true)
    {
        return Err(format!("`{s}` has an invalid port `{port}`"));
    }
    Ok(())
}

/// Split `registry/repo:tag` into repository and tag. A digest inside the reference is an
/// error: it belongs in `digest=` so the lock can show it.
pub fn split_image(reference: &str) -> Result<(String, Option<String>), String> {
    if reference.contains('@') {
        return Err(format!(
            "`{reference}` holds a digest; move it to the `digest=` property"
        ));
    }
    if reference.is_empty()
        || reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase())
    {
        return Err(format!(
            "`{reference}` is not an image reference (lowercase, no spaces)"
        ));
    }
    let last_slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[last_slash..].rfind(':') {
        Some(i) => {
            let (repo, tag) = reference.split_at(last_slash + i);
            let tag = &tag[1..];
            if tag.is_empty()
                || tag.len() > 128
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(format!("`{tag}` is not a valid image tag"));
            }
            Ok((repo.to_string(), Some(tag.to_string())))
        }
        None => Ok((reference.to_string(), None)),
    }
}

pub fn check_digest(d: &str) -> Result<(), String> {
    match d.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`{d}` is not a digest; it must be `sha256:` followed by 64 lowercase hex digits"
        )),
    }
}

/// The environment-variable spelling of a name: `ha-url` → `HA_URL`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_cpu("250m"), Ok(250));
        assert_eq!(parse_cpu("1.5"), Ok(1500));
        assert_eq!(parse_cpu("0.25"), Ok(250));
        assert!(parse_cpu("1.2345").is_err());
        assert!(parse_cpu("abc").is_err());
        assert!(parse_cpu("0").is_err());
        assert_eq!(parse_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert!(parse_bytes("1gb").is_err());
        assert!(parse_bytes("99999999999999Ti").is_err());
        assert_eq!(parse_duration("2m"), Ok(120));
        assert_eq!(parse_duration("1500ms"), Ok(2));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("2d").is_err());
    }

    #[test]
    fn urls_images_names() {
        assert!(check_url("http://homeassistant.local:8123").is_ok());
        assert!(check_url("https://[::1]:8123/x").is_ok());
        assert!(check_url("homeassistant.local").is_err());
        assert!(check_url("http://:80").is_err());
        assert!(check_url("http://host:99999").is_err());
        assert_eq!(
            split_image("docker.io/library/redis:7.4-alpine"),
            Ok(("docker.io/library/redis".into(), Some("7.4-alpine".into())))
        );
        assert_eq!(
            split_image("localhost:5000/app"),
            Ok(("localhost:5000/app".into(), None))
        );
        assert!(split_image("redis@sha256:00").is_err());
        assert!(check_digest(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_digest("sha256:abc").is_err());
        assert!(check_name("agenthost", 63).is_ok());
        assert!(check_name("Agent_Host", 63).is_err());
        assert_eq!(suggest_name("Agent_Host"), "agent-host");
        assert_eq!(env_name("ha-url"), "HA_URL");
    }
}
