//! Reading limit settings from their JSON-like form, with a clear error for anything else.

use serde_json::Value;

use super::LimitError;

fn invalid(msg: impl Into<String>) -> LimitError {
    LimitError::InvalidArgument(msg.into())
}

/// A list of CPU ids or indexes (non-negative integers).
pub fn parse_cpu_list(value: &Value) -> Result<Vec<usize>, LimitError> {
    let items = value
        .as_array()
        .ok_or_else(|| invalid(format!("cpus must be a list of integers, not {value}")))?;
    items
        .iter()
        .map(|v| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid(format!("a CPU must be a non-negative integer, not {v}")))
        })
        .collect()
}

/// A `cpu_affinity` setting: `null` (the base CPUs), `[cpu, …]` (absolute ids) or
/// `{"cpus": [..], "relative": bool}`. Returns the CPUs and whether they are relative.
pub fn parse_cpus_setting(value: &Value) -> Result<Option<(Vec<usize>, bool)>, LimitError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(_) => Ok(Some((parse_cpu_list(value)?, false))),
        Value::Object(m) => {
            if let Some(k) = m.keys().find(|k| *k != "cpus" && *k != "relative") {
                return Err(invalid(format!(
                    "unknown key \"{k}\" in a cpu_affinity setting (keys: cpus, relative)"
                )));
            }
            let cpus = m
                .get("cpus")
                .ok_or_else(|| invalid("a cpu_affinity setting needs \"cpus\""))?;
            let relative = match m.get("relative") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => return Err(invalid(format!("\"relative\" must be a boolean, not {v}"))),
            };
            Ok(Some((parse_cpu_list(cpus)?, relative)))
        }
        other => Err(invalid(format!(
            "a cpu_affinity setting is a list of CPUs, {{\"cpus\", \"relative\"}} or null, not {other}"
        ))),
    }
}

/// A `nice` setting: `null` or an integer.
pub fn parse_nice(value: &Value) -> Result<Option<i32>, LimitError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| invalid(format!("nice must be an integer in -20..=19, not {n}"))),
        other => Err(invalid(format!(
            "nice must be an integer or null, not {other}"
        ))),
    }
}

/// A `memory` setting: `null`, bytes as a positive integer, or a string with an optional binary
/// suffix (`K`, `M`, `G`, `T`, also written `KiB`, `MB`, …).
pub fn parse_bytes(value: &Value) -> Result<Option<u64>, LimitError> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(b), _) if b > 0 => Ok(Some(b)),
            (_, Some(i)) if i < 0 => {
                Err(invalid(format!("a memory limit cannot be negative ({i})")))
            }
            _ => Err(invalid(format!(
                "a memory limit is a positive whole number of bytes, not {n}"
            ))),
        },
        Value::String(s) => parse_size(s).map(Some),
        other => Err(invalid(format!(
            "a memory limit is bytes (integer or \"512M\") or null, not {other}"
        ))),
    }
}

fn parse_size(s: &str) -> Result<u64, LimitError> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if t.starts_with('-') {
        return Err(invalid(format!(
            "a memory limit cannot be negative ({s:?})"
        )));
    }
    let n: u64 = digits.parse().map_err(|_| {
        invalid(format!(
            "cannot read memory limit {s:?} (e.g. 536870912, \"512M\")"
        ))
    })?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        u => {
            return Err(invalid(format!(
                "unknown size unit {u:?} in {s:?} (K, M, G, T)"
            )));
        }
    };
    let bytes = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| invalid(format!("memory limit {s:?} is too large")))?;
    if bytes == 0 {
        return Err(invalid(
            "a memory limit of 0 bytes would stop the process at once",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes(&json!(null)).unwrap(), None);
        assert_eq!(parse_bytes(&json!(4096)).unwrap(), Some(4096));
        assert_eq!(parse_bytes(&json!("512M")).unwrap(), Some(512 << 20));
        assert_eq!(parse_bytes(&json!("2 GiB")).unwrap(), Some(2 << 30));
        for bad in [
            json!(-1),
            json!(0),
            json!(1.5),
            json!("-5M"),
            json!("5X"),
            json!(true),
        ] {
            let e = parse_bytes(&bad).unwrap_err();
            assert!(matches!(e, LimitError::InvalidArgument(_)), "{bad}: {e}");
        }
        assert!(
            parse_bytes(&json!(-1))
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
    }

    #[test]
    fn cpus_and_nice() {
        assert_eq!(
            parse_cpus_setting(&json!([1, 0])).unwrap(),
            Some((vec![1, 0], false))
        );
        assert_eq!(
            parse_cpus_setting(&json!({"cpus": [0], "relative": true})).unwrap(),
            Some((vec![0], true))
        );
        assert_eq!(parse_cpus_setting(&json!(null)).unwrap(), None);
        assert!(parse_cpus_setting(&json!([-1])).is_err());
        assert!(parse_cpus_setting(&json!({"cpu": [0]})).is_err());
        assert!(parse_cpus_setting(&json!("0")).is_err());
        assert_eq!(parse_nice(&json!(5)).unwrap(), Some(5));
        assert!(parse_nice(&json!("5")).is_err());
        assert!(parse_nice(&json!(1e20)).is_err());
    }
}
