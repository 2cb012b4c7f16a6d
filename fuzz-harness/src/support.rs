//! What several targets share: a fresh runtime per input, the frame separator of multi-message
//! inputs, and comparing messages as text.

use std::time::Duration;

/// Separates the messages of one input (`session_messages`): four 0xFE octets, which no JSON
/// text holds (0xFE is never UTF-8) and the binary serializers rarely produce.
pub const SEP: &[u8] = &[0xFE; 4];

/// How long a connection may take to end after its peer closed, before the target calls it
/// a hang. Generous: a loaded CI machine must not make it a false alarm.
pub const CLOSE_BOUND: Duration = Duration::from_secs(10);

/// The parts of `data` between [`SEP`]s (empty parts kept: an empty frame is an input too).
pub fn split_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        out.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    out.push(rest);
    out
}

/// Joins frames with [`SEP`] (the seed writer's inverse of [`split_frames`]).
pub fn join_frames<B: AsRef<[u8]>>(frames: &[B]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(SEP);
        }
        out.extend_from_slice(f.as_ref());
    }
    out
}

/// A single-threaded runtime for one input: every task an input starts dies with it, so no
/// state leaks from one input into the next and a crash reproduces from its input alone.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A value as text, for comparisons: a NaN equals nothing, its text equals itself.
pub fn text<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// For frames that neither start nor end with 0xFE (next to a separator, it would be read
    /// as part of it).
    fn split_and_join_are_inverse() {
        for frames in [
            vec![&b""[..]],
            vec![b"a", b"", b"bc"],
            vec![b"x\xfex", b"y"],
        ] {
            assert_eq!(split_frames(&join_frames(&frames)), frames);
        }
    }
}
