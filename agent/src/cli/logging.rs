//! Where the node's log lines go and what they look like: coloured for a terminal, plain for a
//! pipe or file, syslog-prefixed (`<6>…`) for journald, or one JSON object per line for log
//! shippers (`start --log-format json`).
//!
//! Lines go to stderr. Under systemd, stderr is a journal stream (`JOURNAL_STREAM` names its
//! device and inode); journald reads a leading `<N>` as the line's syslog priority and adds its
//! own timestamp, so in that case lines carry the prefix and no timestamp of ours.

use std::fmt;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The shape of log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours only on a terminal; `<N>` priorities under journald).
    #[default]
    Plain,
    /// One JSON object per line (timestamp, level, target, fields, span).
    Json,
}

/// Installs the global subscriber writing to stderr. Ignored if one is installed already
/// (in-process tests run several commands).
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::new(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Plain if stderr_is_journal() => builder
            .with_ansi(false)
            .event_format(JournalPrefix(
                tracing_subscriber::fmt::format().without_time(),
            ))
            .try_init(),
        LogFormat::Plain => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

/// Whether stderr is the journal stream systemd connected us to (and not, say, a file a
/// child of the service redirected it to: `JOURNAL_STREAM` is inherited, the fd may not be).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    value
        .to_str()
        .is_some_and(|v| journal_stream_is(v, meta.dev(), meta.ino()))
}

/// `JOURNAL_STREAM` is `<device>:<inode>` in decimal (`systemd.exec(5)`).
fn journal_stream_is(value: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = value.trim().split_once(':') else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

/// The syslog priority journald understands (`sd-daemon(3)`): err, warning, info, debug.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Puts `<priority>` in front of each event formatted by the inner format.
struct JournalPrefix<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_matches_device_and_inode() {
        assert!(journal_stream_is("64769:1234", 64769, 1234));
        assert!(journal_stream_is("64769:1234\n", 64769, 1234));
        assert!(!journal_stream_is("64769:1235", 64769, 1234));
        assert!(!journal_stream_is("1234", 64769, 1234));
        assert!(!journal_stream_is("a:b", 0, 0));
        assert!(!journal_stream_is("", 0, 0));
    }

    #[test]
    fn priorities_are_syslog_levels() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::TRACE), 7);
    }
}
