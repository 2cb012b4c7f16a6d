//! MQTT topics ↔ WAMP URIs, as Crossbar.io maps them: levels (`/`) become URI components
//! (`.`); a filter's `#` (at the end) is a prefix subscription, `+` (a whole level) a
//! wildcard one. A filter with both cannot be said in WAMP and is refused.

use crate::uri::{self, MatchPolicy, UriCheck};

/// A topic name (PUBLISH) as a WAMP URI: `a/b/c` → `a.b.c`.
pub fn name_to_uri(topic: &str) -> Result<String, String> {
    if topic.contains(['#', '+']) {
        return Err(format!(
            "invalid MQTT topic name \"{topic}\": contains wildcard characters"
        ));
    }
    let uri = topic.replace('/', ".");
    if !uri::is_valid(&uri, UriCheck::Loose, MatchPolicy::Exact) {
        return Err(format!(
            "invalid WAMP URI \"{uri}\" after conversion from MQTT topic name \"{topic}\""
        ));
    }
    Ok(uri)
}

/// A topic filter (SUBSCRIBE) as a WAMP URI and match policy: `a/+/c` → (`a..c`, wildcard),
/// `a/#` → (`a.`, prefix), `#` → (``, prefix).
pub fn filter_to_uri(filter: &str) -> Result<(String, MatchPolicy), String> {
    let (pattern, policy) = if filter.contains('+') {
        if filter.contains('#') {
            return Err(format!(
                "MQTT topic filter \"{filter}\" contains both single-level and multi-level wildcards, which WAMP cannot express"
            ));
        }
        if filter
            .split('/')
            .any(|level| level != "+" && level.contains('+'))
        {
            return Err(format!(
                "invalid MQTT topic filter \"{filter}\": a + wildcard must stand for a whole level"
            ));
        }
        (filter.replace('+', ""), MatchPolicy::Wildcard)
    } else if let Some(head) = filter.strip_suffix('#') {
        if head.contains('#') || !(head.is_empty() || head.ends_with('/')) {
            return Err(format!(
                "invalid MQTT topic filter \"{filter}\": # must be the last level"
            ));
        }
        (head.to_owned(), MatchPolicy::Prefix)
    } else if filter.contains('#') {
        return Err(format!(
            "invalid MQTT topic filter \"{filter}\": # must be the last level"
        ));
    } else {
        (filter.to_owned(), MatchPolicy::Exact)
    };
    let uri = pattern.replace('/', ".");
    if !uri::is_valid(&uri, UriCheck::Loose, policy) {
        return Err(format!(
            "invalid WAMP URI \"{uri}\" (match {}) after conversion from MQTT topic filter \"{filter}\"",
            policy.as_str()
        ));
    }
    Ok((uri, policy))
}

/// A WAMP URI as an MQTT topic name: `a.b.c` → `a/b/c`.
pub fn uri_to_name(uri: &str) -> String {
    uri.replace('.', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_levels_to_components() {
        assert_eq!(
            name_to_uri("sensors/kitchen/temp").unwrap(),
            "sensors.kitchen.temp"
        );
        assert_eq!(name_to_uri("plain").unwrap(), "plain");
        assert!(name_to_uri("a/+/b").is_err());
        assert!(name_to_uri("a/#").is_err());
        assert!(name_to_uri("/leading").is_err());
        assert!(name_to_uri("a//b").is_err());
        assert!(name_to_uri("with space").is_err());
        assert_eq!(uri_to_name("sensors.kitchen.temp"), "sensors/kitchen/temp");
    }

    #[test]
    fn filters_map_to_match_policies() {
        assert_eq!(
            filter_to_uri("a/b").unwrap(),
            ("a.b".to_owned(), MatchPolicy::Exact)
        );
        assert_eq!(
            filter_to_uri("a/#").unwrap(),
            ("a.".to_owned(), MatchPolicy::Prefix)
        );
        assert_eq!(
            filter_to_uri("#").unwrap(),
            (String::new(), MatchPolicy::Prefix)
        );
        assert_eq!(
            filter_to_uri("a/+/c").unwrap(),
            ("a..c".to_owned(), MatchPolicy::Wildcard)
        );
        assert_eq!(
            filter_to_uri("+/b").unwrap(),
            (".b".to_owned(), MatchPolicy::Wildcard)
        );
        assert!(filter_to_uri("a/+/#").is_err());
        assert!(filter_to_uri("a/b#").is_err());
        assert!(filter_to_uri("a/#/b").is_err());
        assert!(filter_to_uri("a/x+/b").is_err());
    }
}
