//! A worker's output, line by line: native workers' stderr (tracing JSON) and guests'
//! stdout/stderr become [`LogRecord`](crate::log::LogRecord)s.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::log::MAX_LINE;

/// Calls `on_line` for each non-empty line of `reader` until end of stream or a read error.
/// A line longer than [`MAX_LINE`] is cut there and the rest of it skipped, so a runaway
/// writer costs at most that much memory.
pub async fn read_lines<R: AsyncRead + Unpin>(reader: R, mut on_line: impl FnMut(&str)) {
    let mut reader = BufReader::new(reader);
    let mut line: Vec<u8> = Vec::new();
    let mut skipping = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        let (chunk, end_of_line) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if !skipping {
            let room = MAX_LINE.saturating_sub(line.len());
            line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            skipping = chunk.len() > room;
        }
        let used = chunk.len() + usize::from(end_of_line);
        reader.consume(used);
        if end_of_line {
            emit(&mut line, &mut on_line);
            skipping = false;
        } else if skipping {
            // Cut here; the rest of this line is dropped as it arrives.
            emit(&mut line, &mut on_line);
        }
    }
    emit(&mut line, &mut on_line);
}

fn emit(line: &mut Vec<u8>, on_line: &mut impl FnMut(&str)) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    if !text.trim().is_empty() {
        on_line(text);
    }
    line.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_lines_and_cuts_long_ones() {
        let mut input = b"one\n\ntwo\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend_from_slice(b"\nthree");
        let mut got = Vec::new();
        read_lines(&input[..], |l| got.push(l.to_owned())).await;
        assert_eq!(
            got.len(),
            4,
            "{:?}",
            got.iter().map(|l| l.len()).collect::<Vec<_>>()
        );
        assert_eq!(got[0], "one");
        assert_eq!(got[1], "two");
        assert_eq!(got[2].len(), MAX_LINE);
        assert_eq!(got[3], "three");
    }
}
