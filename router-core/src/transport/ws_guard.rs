//! Fails a client's WebSocket connection as soon as a frame header breaks RFC 6455 §5.2–5.3,
//! before its payload arrives: reserved bits set (RSV1 is permessage-deflate's once it is
//! negotiated, see [`super::ws_deflate`]) or a frame that is not masked. tungstenite checks both only once the whole frame is in, so a header
//! that announces a large payload and then stops would otherwise keep the connection until the
//! ping timeout.
//!
//! [`FrameGuard`] sits under tungstenite on the server's stream and reads frame headers as the
//! bytes pass by (payloads are skipped by length, never copied or inspected).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::ws_deflate::DeflateSlot;

/// Where the stream starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// With the client's HTTP upgrade request (frames follow its blank line).
    HttpRequest,
    /// With the first frame (the upgrade was read by someone else).
    Frames,
}

#[derive(Debug)]
enum State {
    /// In the HTTP request; how many bytes of `\r\n\r\n` were seen last.
    Http(u8),
    /// Collecting a frame header: the bytes so far (at most 14).
    Header { buf: [u8; 14], len: usize },
    /// Skipping this many payload bytes.
    Payload(u64),
}

/// A stream wrapper that checks every client frame header (see the module docs).
pub struct FrameGuard<S> {
    inner: S,
    state: State,
    /// Set when permessage-deflate is negotiated: RSV1 is then allowed.
    deflate: DeflateSlot,
}

impl<S> FrameGuard<S> {
    pub fn new(inner: S, start: Start, deflate: DeflateSlot) -> Self {
        let state = match start {
            Start::HttpRequest => State::Http(0),
            Start::Frames => State::Header {
                buf: [0; 14],
                len: 0,
            },
        };
        FrameGuard {
            inner,
            state,
            deflate,
        }
    }

    /// Follows `bytes` through the stream's structure; the first violation found.
    fn scan(&mut self, mut bytes: &[u8]) -> Result<(), &'static str> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Http(seen) => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    *seen = match (*seen, b) {
                        (0 | 2, b'\r') => *seen + 1,
                        (1 | 3, b'\n') => *seen + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if *seen == 4 {
                        self.state = State::Header {
                            buf: [0; 14],
                            len: 0,
                        };
                    }
                }
                State::Payload(left) => {
                    let n = (*left).min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Header {
                            buf: [0; 14],
                            len: 0,
                        };
                    }
                }
                State::Header { buf, len } => {
                    buf[*len] = bytes[0];
                    *len += 1;
                    bytes = &bytes[1..];
                    if *len == 2 {
                        let reserved = if self.deflate.get().is_some() {
                            0x30
                        } else {
                            0x70
                        };
                        if buf[0] & reserved != 0 {
                            return Err("WebSocket frame with reserved bits set");
                        }
                        if buf[1] & 0x80 == 0 {
                            return Err("unmasked WebSocket frame from a client");
                        }
                    }
                    if *len < 2 {
                        continue;
                    }
                    let ext = match buf[1] & 0x7f {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    if *len < 2 + ext + 4 {
                        continue;
                    }
                    let payload = match ext {
                        0 => u64::from(buf[1] & 0x7f),
                        2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
                        _ => u64::from_be_bytes(buf[2..10].try_into().unwrap_or_default()),
                    };
                    self.state = if payload == 0 {
                        State::Header {
                            buf: [0; 14],
                            len: 0,
                        }
                    } else {
                        State::Payload(payload)
                    };
                }
            }
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => match this.scan(&buf.filled()[before..]) {
                Ok(()) => Poll::Ready(Ok(())),
                Err(why) => Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, why))),
            },
            other => other,
        }
    }
}

super::io::write_through!(FrameGuard);

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(b0: u8, masked: bool, len: usize) -> Vec<u8> {
        let mut f = vec![b0];
        let m = if masked { 0x80 } else { 0 };
        match len {
            0..=125 => f.push(m | len as u8),
            126..=65535 => {
                f.push(m | 126);
                f.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                f.push(m | 127);
                f.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        if masked {
            f.extend_from_slice(&[1, 2, 3, 4]);
        }
        f.extend(std::iter::repeat_n(0u8, len));
        f
    }

    #[test]
    fn good_frames_pass_in_any_split() {
        let mut stream = b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
        for len in [0, 5, 125, 126, 300, 70_000] {
            stream.extend(frame(0x82, true, len));
        }
        for chunk in [1, 3, 7, 1000, stream.len()] {
            let mut g = FrameGuard::new((), Start::HttpRequest, DeflateSlot::default());
            for part in stream.chunks(chunk) {
                g.scan(part).unwrap();
            }
            assert!(matches!(g.state, State::Header { len: 0, .. }), "{chunk}");
        }
    }

    #[test]
    fn bad_headers_fail_before_their_payload() {
        // The header alone is enough: the 1 MB payload never arrives.
        let rsv = &frame(0x82 | 0x40, true, 1 << 20)[..14];
        let mut g = FrameGuard::new((), Start::Frames, DeflateSlot::default());
        assert!(g.scan(&rsv[..2]).is_err());
        let unmasked = &frame(0x82, false, 1 << 20)[..10];
        let mut g = FrameGuard::new((), Start::Frames, DeflateSlot::default());
        assert!(g.scan(unmasked).is_err());
        // After a good frame too.
        let mut s = frame(0x81, true, 3);
        s.extend_from_slice(&[0x81 | 0x10, 0x83]);
        let mut g = FrameGuard::new((), Start::Frames, DeflateSlot::default());
        assert_eq!(g.scan(&s), Err("WebSocket frame with reserved bits set"));
    }
}
