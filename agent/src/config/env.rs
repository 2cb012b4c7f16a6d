//! Environment variable references in config values, resolved before typing.
//!
//! Crossbar.io resolves them key by key: a string value that is exactly `${NAME}`
//! (`^\$\{(.+)\}$`) in ticket secrets, WAMP-CRA secrets and `options.disabled`; when `NAME`
//! is unset it logs a warning and uses `null`. A listening endpoint's `port` may be `$NAME`
//! (`^\$([a-zA-Z_][a-zA-Z0-9_]*)$`), and there an unset variable is an error. crossbar-edge
//! does the same for every string value of the config, not only those keys; a `${NAME}`
//! embedded in a longer string is left as it is, as in Crossbar.io. When `null` then lands
//! where a value is required, the typing error names the unset variable.

use serde_json::Value;

use router_core::config::ConfigError;

use super::path;

/// A `${NAME}` reference whose variable was unset, replaced by `null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsetVar {
    /// Key path of the value, e.g. `workers[0].options.disabled`.
    pub path: String,
    pub name: String,
}

/// The variable name in a whole-value `${NAME}` reference.
fn braced_ref(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.is_empty()).then_some(inner)
}

/// The variable name in a whole-value `$NAME` reference (endpoint ports).
fn bare_ref(s: &str) -> Option<&str> {
    let name = s.strip_prefix('$')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let ok = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(name)
}

/// Replaces environment references in `value` in place; returns the references that were
/// unset (now `null`). An unset or non-numeric `$NAME` port is an error.
pub fn substitute(
    value: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<UnsetVar>, ConfigError> {
    let mut unset = Vec::new();
    walk(value, "", false, lookup, &mut unset)?;
    for u in &unset {
        tracing::warn!(path = %u.path, var = %u.name, "environment variable not set; using null");
    }
    Ok(unset)
}

fn walk(
    value: &mut Value,
    at: &str,
    in_endpoint: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<UnsetVar>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            if let Some(name) = braced_ref(s) {
                *value = match lookup(name) {
                    Some(v) => Value::String(v),
                    None => {
                        unset.push(UnsetVar {
                            path: at.to_owned(),
                            name: name.to_owned(),
                        });
                        Value::Null
                    }
                };
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                walk(v, &path::index(at, i), false, lookup, unset)?;
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let kat = path::key(at, k);
                if in_endpoint
                    && k == "port"
                    && let Some(port) = v.as_str().and_then(bare_ref).map(str::to_owned)
                {
                    *v = endpoint_port(&port, &kat, lookup)?;
                    continue;
                }
                walk(v, &kat, k == "endpoint", lookup, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn endpoint_port(
    name: &str,
    at: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Value, ConfigError> {
    let raw = lookup(name)
        .ok_or_else(|| ConfigError::new(at, format!("environment variable '${name}' not set")))?;
    raw.trim().parse::<u16>().map(Value::from).map_err(|_| {
        ConfigError::new(
            at,
            format!("environment variable '${name}' is not a port number: \"{raw}\""),
        )
    })
}

/// Adds "(environment variable X is not set)" to an error at or below an unset reference.
pub(crate) fn explain(mut e: ConfigError, unset: &[UnsetVar]) -> ConfigError {
    if let Some(u) = unset.iter().find(|u| {
        e.path == u.path
            || e.path.starts_with(&format!("{}.", u.path))
            || e.path.starts_with(&format!("{}[", u.path))
    }) {
        e.message = format!("{} (environment variable {} is not set)", e.message, u.name);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cr3t".into()),
            "PORT" => Some("8080".into()),
            "BADPORT" => Some("http".into()),
            _ => None,
        }
    }

    #[test]
    fn whole_values_only() {
        let mut v =
            json!({"a": "${SECRET}", "b": ["x${SECRET}", "${SECRET}"], "c": "$SECRET", "d": "${}"});
        let unset = substitute(&mut v, &env).unwrap();
        assert!(unset.is_empty());
        assert_eq!(
            v,
            json!({"a": "s3cr3t", "b": ["x${SECRET}", "s3cr3t"], "c": "$SECRET", "d": "${}"})
        );
    }

    #[test]
    fn unset_becomes_null_and_is_reported() {
        let mut v = json!({"workers": [{"options": {"disabled": "${NOPE}"}}]});
        let unset = substitute(&mut v, &env).unwrap();
        assert_eq!(v, json!({"workers": [{"options": {"disabled": null}}]}));
        assert_eq!(
            unset,
            vec![UnsetVar {
                path: "workers[0].options.disabled".into(),
                name: "NOPE".into()
            }]
        );
    }

    #[test]
    fn endpoint_ports() {
        let mut v = json!({"endpoint": {"type": "tcp", "port": "$PORT"}, "port": "$PORT"});
        substitute(&mut v, &env).unwrap();
        assert_eq!(
            v,
            json!({"endpoint": {"type": "tcp", "port": 8080}, "port": "$PORT"})
        );

        let mut v = json!({"t": [{"endpoint": {"port": "$NOPE"}}]});
        let e = substitute(&mut v, &env).unwrap_err();
        assert_eq!(e.path, "t[0].endpoint.port");
        assert!(e.message.contains("'$NOPE' not set"), "{e}");

        let mut v = json!({"endpoint": {"port": "$BADPORT"}});
        assert_eq!(substitute(&mut v, &env).unwrap_err().path, "endpoint.port");
    }
}
