//! One profile run: the pprof sampler on a thread of its own, and the rendering of its report
//! as folded stacks, a flamegraph SVG and pprof protobuf bytes.
//!
//! The run holds the sampler for up to an hour and symbolizes the report afterwards, both
//! blocking work; a dedicated thread keeps it off the async runtime. Sampling stops before
//! rendering, so the rendering does not show up in the profile.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use pprof::protos::Message as _;
use pprof::{Frames, ProfilerGuardBuilder, Report};

/// Samples per second of CPU time (Crossbar.io's vmprof samples every 10 ms).
pub const FREQUENCY_HZ: i32 = 100;

/// What a finished profile holds.
#[derive(Clone, Debug, Default)]
pub struct ProfileOutput {
    /// One line per distinct stack: `thread;outermost;…;innermost count`.
    pub folded: String,
    /// An SVG flamegraph of the folded stacks (empty if there were no samples).
    pub flamegraph: String,
    /// The report in pprof's protobuf format (`go tool pprof` reads it).
    pub pprof: Vec<u8>,
    pub samples: u64,
}

/// Runs one profile on the calling thread: sample until `runtime` passes or `stop` fires (or
/// its sender is dropped), then render. `on_started` is called once sampling runs.
pub(crate) fn run(
    runtime: Duration,
    stop: mpsc::Receiver<()>,
    on_started: impl FnOnce(),
    on_stopping: impl FnOnce(),
) -> Result<ProfileOutput, String> {
    // Unwinding through these libraries from a signal handler can deadlock (pprof's advice).
    let guard = ProfilerGuardBuilder::default()
        .frequency(FREQUENCY_HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .map_err(|e| format!("cannot start the pprof sampler: {e}"))?;
    on_started();
    let _ = stop.recv_timeout(runtime);
    on_stopping();
    let report = guard.report().build();
    drop(guard);
    let report = report.map_err(|e| format!("cannot build the pprof report: {e}"))?;
    std::panic::catch_unwind(AssertUnwindSafe(|| render(&report)))
        .map_err(|_| "rendering the profile panicked".to_owned())?
}

fn render(report: &Report) -> Result<ProfileOutput, String> {
    let mut lines: Vec<String> = report
        .data
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(frames, n)| format!("{} {n}", folded_stack(frames)))
        .collect();
    lines.sort_unstable();
    let samples = report.data.values().map(|n| (*n).max(0) as u64).sum();
    let flamegraph = if lines.is_empty() {
        String::new()
    } else {
        let mut opts = pprof::flamegraph::Options::default();
        opts.title = "crossbar-edge worker profile".into();
        let mut svg = Vec::new();
        pprof::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut svg)
            .map_err(|e| format!("cannot draw the flamegraph: {e}"))?;
        String::from_utf8(svg).map_err(|e| format!("flamegraph is not UTF-8: {e}"))?
    };
    let pprof = report
        .pprof()
        .map_err(|e| format!("cannot encode the pprof profile: {e}"))?
        .encode_to_vec();
    let mut folded = lines.join("\n");
    if !folded.is_empty() {
        folded.push('\n');
    }
    Ok(ProfileOutput {
        folded,
        flamegraph,
        pprof,
        samples,
    })
}

/// `thread;outermost;…;innermost`, without the sampler's own signal-handler frames.
fn folded_stack(frames: &Frames) -> String {
    let mut names: Vec<String> = frames
        .frames
        .iter()
        .rev()
        .flat_map(|f| f.iter().rev())
        .map(|s| clean_symbol(&s.name()))
        .collect();
    if let Some(i) = names
        .iter()
        .position(|n| n == "__restore_rt" || n.contains("perf_signal_handler"))
    {
        names.truncate(i);
    }
    let mut line = clean_symbol(&frames.thread_name_or_id());
    for n in names {
        line.push(';');
        line.push_str(&n);
    }
    line
}

/// A symbol without its hash suffix (`::h0123456789abcdef`), safe in a folded line.
fn clean_symbol(name: &str) -> String {
    let name = match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    };
    // `;` separates frames (the count follows the last space, so spaces may stay).
    name.replace(';', ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols() {
        assert_eq!(clean_symbol("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(clean_symbol("a::hx"), "a::hx");
        assert_eq!(clean_symbol("<[u8; 4] as X>"), "<[u8, 4] as X>");
    }
}
