//! Crossbar.io's key file text format (`common/key.py`): a header line, a blank line, then
//! `tag: value` lines. Tags are case-insensitive (stored lowercase); `None` is written as
//! `unknown`; unknown and duplicate tags are errors.

use std::fmt::Write as _;

/// Why a key file's text is not in the tag-value format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("line {line}: expected \"tag: value\"")]
    Malformed { line: usize },
    #[error("invalid tag '{tag}'")]
    UnknownTag { tag: String },
    #[error("duplicate tag '{tag}'")]
    DuplicateTag { tag: String },
}

/// Parses the tags of a key file, in file order. Lines before the first blank line are the
/// header and are ignored, exactly as Crossbar.io's `_parse_node_key`.
pub fn parse(text: &str, allowed: &[&str]) -> Result<Vec<(String, String)>, TagError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut past_header = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            past_header = true;
        } else if past_header {
            let (tag, value) = line
                .split_once(':')
                .ok_or(TagError::Malformed { line: n + 1 })?;
            let tag = tag.trim().to_lowercase();
            if !allowed.contains(&tag.as_str()) {
                return Err(TagError::UnknownTag { tag });
            }
            if tags.iter().any(|(t, _)| *t == tag) {
                return Err(TagError::DuplicateTag { tag });
            }
            tags.push((tag, value.trim().to_owned()));
        }
    }
    Ok(tags)
}

/// Formats a key file: `header`, a blank line, one `tag: value` line per tag (`None` →
/// `unknown`), byte-identical to Crossbar.io's `_write_node_key`.
pub fn format(header: &str, tags: &[(&str, Option<&str>)]) -> String {
    let mut out = format!("{header}\n\n");
    for (tag, value) in tags {
        let _ = writeln!(out, "{tag}: {}", value.unwrap_or("unknown"));
    }
    out
}

/// The value of `tag`, if present.
pub fn get<'t>(tags: &'t [(String, String)], tag: &str) -> Option<&'t str> {
    tags.iter().find(|(t, _)| t == tag).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["a", "b-c"];

    #[test]
    fn parse_and_format() {
        let text = format("Header line", &[("a", Some("1")), ("b-c", None)]);
        assert_eq!(text, "Header line\n\na: 1\nb-c: unknown\n");
        let tags = parse(&text, ALLOWED).unwrap();
        assert_eq!(
            tags,
            vec![("a".into(), "1".into()), ("b-c".into(), "unknown".into())]
        );
        // Values may contain colons; tags are lowercased and trimmed.
        let tags = parse("h\n\n  A : x:y \n", ALLOWED).unwrap();
        assert_eq!(tags, vec![("a".into(), "x:y".into())]);
        // Header lines are never parsed.
        assert_eq!(parse("no-colon header\n\n", ALLOWED).unwrap(), vec![]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("h\n\nzzz: 1\n", ALLOWED),
            Err(TagError::UnknownTag { tag: "zzz".into() })
        );
        assert_eq!(
            parse("h\n\na: 1\nA: 2\n", ALLOWED),
            Err(TagError::DuplicateTag { tag: "a".into() })
        );
        assert_eq!(
            parse("h\n\na 1\n", ALLOWED),
            Err(TagError::Malformed { line: 3 })
        );
    }
}
