//! Worker log records: parsing what workers write, and the per-worker ring buffer.
//!
//! Native workers write one JSON object per line to stderr (tracing's JSON format); guests
//! write whatever they like, taken line by line. Both become a [`LogRecord`]. The controller
//! keeps the last N records per worker (default 1000, unlike Crossbar.io's 10) and publishes
//! each one live.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Default number of records kept per worker.
pub const DEFAULT_LOG_CAPACITY: usize = 1000;
/// Longest line kept; longer lines are cut (a runaway guest must not eat memory).
pub const MAX_LINE: usize = 16 * 1024;

/// One log record: `{time, level, text, worker, pid}` plus structured fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub time: String,
    pub level: String,
    pub text: String,
    pub worker: String,
    pub pid: u32,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl LogRecord {
    /// A record from one line of a native worker's stderr (tracing JSON), or the plain line
    /// if it is not JSON (a panic message, say).
    pub fn from_native_line(line: &str, worker: &str, pid: u32) -> LogRecord {
        let Ok(serde_json::Value::Object(mut obj)) =
            serde_json::from_str::<serde_json::Value>(line)
        else {
            return LogRecord::plain(line, "info", worker, pid);
        };
        let time = match obj.remove("timestamp") {
            Some(serde_json::Value::String(s)) => s,
            _ => now(),
        };
        let level = match obj.remove("level") {
            Some(serde_json::Value::String(s)) => s.to_ascii_lowercase(),
            _ => "info".into(),
        };
        let mut fields = match obj.remove("fields") {
            Some(serde_json::Value::Object(f)) => f,
            _ => serde_json::Map::new(),
        };
        let text = match fields.remove("message") {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if let Some(t) = obj.remove("target") {
            fields.insert("target".into(), t);
        }
        if let Some(s) = obj.remove("span") {
            fields.insert("span".into(), s);
        }
        LogRecord {
            time,
            level,
            text: truncate(text),
            worker: worker.into(),
            pid,
            fields,
        }
    }

    /// A record from one line of plain text (guest output).
    pub fn plain(line: &str, level: &str, worker: &str, pid: u32) -> LogRecord {
        LogRecord {
            time: now(),
            level: level.into(),
            text: truncate(line.trim_end().to_owned()),
            worker: worker.into(),
            pid,
            fields: serde_json::Map::new(),
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The last `capacity` records of one worker.
#[derive(Debug)]
pub struct LogBuffer {
    records: VecDeque<LogRecord>,
    capacity: usize,
}

impl LogBuffer {
    pub fn new(capacity: usize) -> Self {
        LogBuffer {
            records: VecDeque::with_capacity(capacity.min(64)),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, r: LogRecord) {
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    /// The newest `limit` records, oldest first.
    pub fn last(&self, limit: usize) -> Vec<LogRecord> {
        let skip = self.records.len().saturating_sub(limit);
        self.records.iter().skip(skip).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tracing_json() {
        let line = r#"{"timestamp":"2026-01-01T00:00:00.000Z","level":"WARN","fields":{"message":"hi","realm":"realm1"},"target":"worker_host::router"}"#;
        let r = LogRecord::from_native_line(line, "w1", 7);
        assert_eq!(r.level, "warn");
        assert_eq!(r.text, "hi");
        assert_eq!(r.fields["realm"], "realm1");
        assert_eq!(r.worker, "w1");
        let r = LogRecord::from_native_line("thread 'main' panicked", "w1", 7);
        assert_eq!(r.text, "thread 'main' panicked");
    }

    #[test]
    fn ring_buffer_honours_limit() {
        let mut b = LogBuffer::new(3);
        for i in 0..5 {
            b.push(LogRecord::plain(&format!("line {i}"), "info", "g", 1));
        }
        assert_eq!(b.len(), 3);
        let last2: Vec<String> = b.last(2).into_iter().map(|r| r.text).collect();
        assert_eq!(last2, vec!["line 3", "line 4"]);
        assert_eq!(b.last(100).len(), 3);
    }
}
