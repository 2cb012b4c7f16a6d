//! URI rules: validation (strict and loose, with the empty components that patterns allow)
//! and pattern matching for prefix and wildcard subscriptions/registrations.

/// How a subscription, registration or permission matches URIs.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MatchPolicy {
    #[default]
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
    pub fn parse(s: &str) -> Option<MatchPolicy> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }
}

/// URI checking mode of a realm (`options.uri_check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriCheck {
    Strict,
    #[default]
    Loose,
}

fn strict_component(c: &str) -> bool {
    c.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn loose_component(c: &str) -> bool {
    !c.chars()
        .any(|ch| ch.is_whitespace() || ch == '.' || ch == '#')
}

/// [`is_valid`] for an exact URI in one pass over its bytes (every CALL and PUBLISH checks
/// one); `None` if it is not ASCII, for the general rules to decide.
fn exact_ascii(uri: &str, check: UriCheck) -> Option<bool> {
    // Whether the current component is still empty; an empty URI is one empty component.
    let mut empty = true;
    for b in uri.bytes() {
        match b {
            b'.' if empty => return Some(false),
            b'.' => empty = true,
            0x80.. => return None,
            _ => {
                let ok = match check {
                    UriCheck::Strict => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
                    // What `char::is_whitespace` says for ASCII (it includes \x0b).
                    UriCheck::Loose => !matches!(b, b'#' | b' ' | b'\t'..=b'\r'),
                };
                if !ok {
                    return Some(false);
                }
                empty = false;
            }
        }
    }
    Some(!empty)
}

/// Checks a URI used with `policy`: exact URIs have no empty component; prefix URIs may end
/// with one (`com.example.`) or be empty altogether; wildcard URIs may have empty components
/// anywhere.
pub fn is_valid(uri: &str, check: UriCheck, policy: MatchPolicy) -> bool {
    let comp_ok = |c: &str| match check {
        UriCheck::Strict => strict_component(c),
        UriCheck::Loose => loose_component(c),
    };
    match policy {
        MatchPolicy::Exact => {
            if let Some(valid) = exact_ascii(uri, check) {
                return valid;
            }
            !uri.is_empty() && uri.split('.').all(|c| !c.is_empty() && comp_ok(c))
        }
        MatchPolicy::Prefix => {
            if uri.is_empty() {
                return true;
            }
            let comps: Vec<&str> = uri.split('.').collect();
            let last = comps.len() - 1;
            comps
                .iter()
                .enumerate()
                .all(|(i, c)| (i == last && c.is_empty()) || (!c.is_empty() && comp_ok(c)))
        }
        MatchPolicy::Wildcard => uri.split('.').all(|c| c.is_empty() || comp_ok(c)),
    }
}

/// Does `uri` match the wildcard `pattern` (empty components match any one component)?
pub fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('.');
    let mut u = uri.split('.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) => {
                if !pc.is_empty() && pc != uc {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Does `uri` match `pattern` under `policy`? Prefix matching is a plain string prefix, as the
/// spec says (`com.a.emergency` matches `com.a.emergency-low`).
pub fn matches(policy: MatchPolicy, pattern: &str, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => wildcard_matches(pattern, uri),
    }
}

/// Converts Crossbar.io's "starred" URIs (`com.example.*`) into a URI and a match policy.
pub fn convert_starred(uri: &str) -> (String, MatchPolicy) {
    let stars = uri.matches('*').count();
    if stars == 0 {
        (uri.to_owned(), MatchPolicy::Exact)
    } else if stars == 1 && uri.ends_with('*') {
        (uri[..uri.len() - 1].to_owned(), MatchPolicy::Prefix)
    } else {
        (uri.replace('*', ""), MatchPolicy::Wildcard)
    }
}

/// Ordering key among wildcard registrations: the spec prefers the pattern whose matched
/// (non-wildcard) components come first, component by component. Returns the positions of
/// non-empty components; a lexicographically greater key is the better match.
pub fn wildcard_rank(pattern: &str) -> Vec<bool> {
    pattern.split('.').map(|c| !c.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        use MatchPolicy::*;
        use UriCheck::*;
        assert!(is_valid("com.example.add", Strict, Exact));
        assert!(!is_valid("com.Example.add", Strict, Exact));
        assert!(is_valid("com.Example.add-2", Loose, Exact));
        assert!(!is_valid("com..add", Loose, Exact));
        assert!(!is_valid("", Loose, Exact));
        assert!(!is_valid("com.ex ample", Loose, Exact));
        assert!(is_valid("com.example.", Loose, Prefix));
        assert!(is_valid("", Loose, Prefix));
        assert!(!is_valid("com..x", Loose, Prefix));
        assert!(is_valid("com..x", Loose, Wildcard));
        assert!(is_valid("..", Loose, Wildcard));
    }

    #[test]
    fn exact_ascii_agrees_with_the_general_rules() {
        let alphabet = ['a', 'Z', '0', '_', '.', '#', ' ', '\t', '\x0b', '-', 'é'];
        let mut uris = vec![String::new()];
        // Every string of up to 4 characters of the alphabet.
        for _ in 0..4 {
            let longer: Vec<String> = uris
                .iter()
                .flat_map(|u| alphabet.iter().map(move |c| format!("{u}{c}")))
                .collect();
            uris.extend(longer);
        }
        for uri in &uris {
            for check in [UriCheck::Strict, UriCheck::Loose] {
                let comp_ok = |c: &str| match check {
                    UriCheck::Strict => strict_component(c),
                    UriCheck::Loose => loose_component(c),
                };
                let general =
                    !uri.is_empty() && uri.split('.').all(|c| !c.is_empty() && comp_ok(c));
                assert_eq!(
                    is_valid(uri, check, MatchPolicy::Exact),
                    general,
                    "{uri:?} {check:?}"
                );
            }
        }
    }

    #[test]
    fn matching() {
        assert!(matches(
            MatchPolicy::Prefix,
            "com.a.emergency",
            "com.a.emergency-low"
        ));
        assert!(matches(
            MatchPolicy::Wildcard,
            "com..update",
            "com.x.update"
        ));
        assert!(!matches(
            MatchPolicy::Wildcard,
            "com..update",
            "com.x.y.update"
        ));
        assert!(!matches(MatchPolicy::Wildcard, "com..update", "com.x"));
        assert_eq!(
            convert_starred("com.example.*"),
            ("com.example.".into(), MatchPolicy::Prefix)
        );
        assert_eq!(convert_starred("*"), ("".into(), MatchPolicy::Prefix));
        assert_eq!(
            convert_starred("com.*.x"),
            ("com..x".into(), MatchPolicy::Wildcard)
        );
    }
}
