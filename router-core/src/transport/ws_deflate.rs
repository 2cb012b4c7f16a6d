//! permessage-deflate (RFC 7692) for the router's WebSocket connections, as Crossbar.io
//! negotiates it when a transport has `options.compression.deflate`.
//!
//! tungstenite 0.30 has no extension support (it refuses a frame with RSV1 set), so the
//! extension lives one layer below it: [`DeflateStream`] wraps the connection's byte stream
//! and shows tungstenite only uncompressed frames.
//! - **Inbound**, a message whose first frame has RSV1 set is collected across its
//!   continuation frames, inflated as one (§7.2.2: append `00 00 ff ff`, then inflate), and
//!   handed up as one unfragmented frame, masked with a zero key (the payload unchanged), so
//!   tungstenite still sees a masked client frame. Inflating stops at the transport's
//!   `max_message_size`: a small frame cannot expand past it. Other frames pass unchanged.
//! - **Outbound**, every data message tungstenite writes is deflated (§7.2.1: compress, sync
//!   flush, drop the trailing `00 00 ff ff`) and written as one frame with RSV1 set.
//!
//! Context takeover is kept in both directions unless the negotiation ends it; the server's
//! window is what the offer and `max_window_bits` allow (zlib-rs, through flate2). The
//! deflate stream is flate2's, the framing is RFC 6455's and written here (as small as the
//! guard in [`super::ws_guard`]).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::config::DeflateConfig;

/// What a negotiation agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so we reset the inflater).
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window (9–15; zlib has no raw 8-bit window, so 8 is sent as 9).
    pub server_max_window_bits: u8,
    /// The window the server asks the client to stay within (`request_max_window_bits`).
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of the response.
    pub fn response_header(&self) -> String {
        let mut h = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            h.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            h.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            h.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if let Some(b) = self.client_max_window_bits {
            h.push_str(&format!("; client_max_window_bits={b}"));
        }
        h
    }
}

/// The first `permessage-deflate` offer of `Sec-WebSocket-Extensions` (all its header
/// values) this server can accept under `config` (its response header:
/// [`DeflateParams::response_header`]). Mirrors
/// autobahn's `PerMessageDeflateOfferAccept` as Crossbar.io configures it: `no_context_takeover`
/// and `max_window_bits` restrict the server, `request_no_context_takeover` and
/// `request_max_window_bits` ask the client (and skip offers that cannot honour them).
pub fn negotiate<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<DeflateParams> {
    for offer in offers.into_iter().flat_map(|v| v.split(',')) {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let mut server_no_ctx = false;
        let mut accepts_client_no_ctx = false;
        let mut server_bits: Option<u8> = None;
        let mut accepts_client_bits = false;
        let mut valid = true;
        for p in parts.filter(|p| !p.is_empty()) {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            let bits = || {
                value
                    .and_then(|v| v.parse::<u8>().ok())
                    .filter(|b| (8..=15).contains(b))
            };
            match name {
                "server_no_context_takeover" if value.is_none() => server_no_ctx = true,
                "client_no_context_takeover" if value.is_none() => accepts_client_no_ctx = true,
                "server_max_window_bits" => match bits() {
                    Some(b) => server_bits = Some(b),
                    None => valid = false,
                },
                "client_max_window_bits" => {
                    if value.is_some() && bits().is_none() {
                        valid = false;
                    }
                    accepts_client_bits = true;
                }
                _ => valid = false,
            }
        }
        let request_bits = config.request_max_window_bits.filter(|b| *b != 0);
        let request_no_ctx = config.request_no_context_takeover.unwrap_or(false);
        if !valid
            || (request_bits.is_some() && !accepts_client_bits)
            || (request_no_ctx && !accepts_client_no_ctx)
        {
            continue;
        }
        let own_bits = config.max_window_bits.filter(|b| *b != 0).unwrap_or(15);
        let server_max_window_bits = server_bits.unwrap_or(15).min(own_bits).clamp(9, 15);
        let params = DeflateParams {
            server_no_context_takeover: server_no_ctx
                || config.no_context_takeover.unwrap_or(false),
            client_no_context_takeover: request_no_ctx,
            server_max_window_bits,
            client_max_window_bits: request_bits,
        };
        return Some(params);
    }
    None
}

/// Agreed parameters, set once by the upgrade (in the handshake callback) and read by the
/// stream when the first frame arrives.
pub type DeflateSlot = Arc<OnceLock<DeflateParams>>;

/// Where the stream starts (as [`super::ws_guard::Start`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// In the HTTP request (reading) or response (writing); how much of `\r\n\r\n` was seen.
    Http(u8),
    /// Frames, decided once: compressed (`Some`) or passed through.
    Frames,
}

/// A WebSocket server stream with permessage-deflate under tungstenite (see the module docs).
pub struct DeflateStream<S> {
    inner: S,
    slot: DeflateSlot,
    max_message: usize,
    read_phase: Phase,
    write_phase: Phase,
    /// Bytes read from `inner`, not yet a whole frame.
    rraw: BytesMut,
    /// Frames ready for tungstenite.
    rout: BytesMut,
    /// A compressed message being collected: its opcode and compressed bytes.
    rmsg: Option<(u8, Vec<u8>)>,
    inflater: Option<Decompress>,
    /// Bytes tungstenite wrote, not yet a whole frame.
    wraw: BytesMut,
    /// Frames ready for `inner`.
    wout: BytesMut,
    /// A message tungstenite fragmented: its opcode and payload so far.
    wmsg: Option<(u8, Vec<u8>)>,
    deflater: Option<Compress>,
    read_eof: bool,
}

impl<S> DeflateStream<S> {
    /// `http`: the stream starts with the upgrade request and response (the `websocket`
    /// transport's own handshake), else with frames (a Web path upgraded by the HTTP server).
    pub fn new(inner: S, slot: DeflateSlot, http: bool, max_message: Option<usize>) -> Self {
        let phase = if http { Phase::Http(0) } else { Phase::Frames };
        DeflateStream {
            inner,
            slot,
            max_message: max_message.unwrap_or(usize::MAX),
            read_phase: phase,
            write_phase: phase,
            rraw: BytesMut::new(),
            rout: BytesMut::new(),
            rmsg: None,
            inflater: None,
            wraw: BytesMut::new(),
            wout: BytesMut::new(),
            wmsg: None,
            deflater: None,
            read_eof: false,
        }
    }

    fn params(&self) -> Option<DeflateParams> {
        self.slot.get().copied()
    }
}

/// Advances the `\r\n\r\n` matcher over `bytes`; how many bytes belong to the HTTP head (all
/// of them if it does not end in `bytes`).
fn http_end(seen: &mut u8, bytes: &[u8]) -> Option<usize> {
    for (i, &b) in bytes.iter().enumerate() {
        *seen = match (*seen, b) {
            (0 | 2, b'\r') => *seen + 1,
            (1 | 3, b'\n') => *seen + 1,
            (_, b'\r') => 1,
            _ => 0,
        };
        if *seen == 4 {
            return Some(i + 1);
        }
    }
    None
}

/// A parsed frame header: FIN, RSV1, opcode, mask key, header and payload lengths.
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

fn parse_header(b: &[u8]) -> Option<Header> {
    if b.len() < 2 {
        return None;
    }
    let masked = b[1] & 0x80 != 0;
    let (len, mut at) = match b[1] & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if masked {
        let m: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    Some(Header {
        fin: b[0] & 0x80 != 0,
        rsv1: b[0] & 0x40 != 0,
        opcode: b[0] & 0x0f,
        mask,
        header_len: at,
        payload_len: usize::try_from(len).unwrap_or(usize::MAX),
    })
}

/// Appends a frame header (`mask`: a client frame's key; the router's frames are unmasked).
fn put_header(out: &mut BytesMut, b0: u8, len: usize, mask: Option<[u8; 4]>) {
    let m = if mask.is_some() { 0x80 } else { 0 };
    out.extend_from_slice(&[b0]);
    if len < 126 {
        out.extend_from_slice(&[m | len as u8]);
    } else if len <= 0xffff {
        out.extend_from_slice(&[m | 126]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[m | 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Inflates one message's `data` into `out`, at most `limit` bytes. True if the sender ended
/// its deflate stream (a final block), so the next message starts a new one.
fn inflate(d: &mut Decompress, data: &[u8], limit: usize, out: &mut Vec<u8>) -> io::Result<bool> {
    let too_big = || {
        invalid(format!(
            "inflated WebSocket message exceeds the maximum message size ({limit} bytes)"
        ))
    };
    let mut input = data;
    loop {
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(too_big());
            }
            out.reserve(out.len().clamp(4096, 1 << 20));
        }
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|e| invalid(format!("bad permessage-deflate data: {e}")))?;
        let used = (d.total_in() - in0) as usize;
        input = &input[used..];
        if out.len() > limit {
            return Err(too_big());
        }
        if status == Status::StreamEnd {
            return Ok(true);
        }
        // Everything read, and the output had room to spare: the message is complete.
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(false);
        }
        if used == 0 && d.total_out() == out0 && out.len() < out.capacity() {
            return Err(invalid("bad permessage-deflate data: no progress"));
        }
    }
}

fn deflate(c: &mut Compress, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(64));
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        input = &input[(c.total_in() - before) as usize..];
        // Done when everything is in and the sync flush fit (room left over).
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    Ok(out)
}

impl<S> DeflateStream<S> {
    /// Turns whole frames at the front of `rraw` into frames for tungstenite in `rout`.
    fn process_read(&mut self, p: DeflateParams) -> io::Result<()> {
        while let Some(h) = parse_header(&self.rraw) {
            let total = h.header_len.saturating_add(h.payload_len);
            if self.rraw.len() < total {
                break;
            }
            let frame = self.rraw.split_to(total);
            let control = h.opcode >= 8;
            if control {
                if h.rsv1 {
                    return Err(invalid("RSV1 set on a control frame"));
                }
                self.rout.extend_from_slice(&frame);
                continue;
            }
            if h.opcode != 0 && self.rmsg.is_some() {
                return Err(invalid("a new message inside a compressed one"));
            }
            if h.rsv1 && h.opcode == 0 {
                return Err(invalid("RSV1 set on a continuation frame"));
            }
            if !h.rsv1 && self.rmsg.is_none() {
                self.rout.extend_from_slice(&frame);
                continue;
            }
            let (opcode, buf) = self.rmsg.get_or_insert_with(|| (h.opcode, Vec::new()));
            let payload = &frame[h.header_len..];
            let start = buf.len();
            buf.extend_from_slice(payload);
            if let Some(k) = h.mask {
                for (i, b) in buf[start..].iter_mut().enumerate() {
                    *b ^= k[i % 4];
                }
            }
            if buf.len() > self.max_message {
                return Err(invalid(
                    "compressed WebSocket message exceeds the maximum size",
                ));
            }
            if !h.fin {
                continue;
            }
            let opcode = *opcode;
            let (_, mut data) = self.rmsg.take().unwrap_or_default();
            data.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let d = self
                .inflater
                .get_or_insert_with(|| Decompress::new_with_window_bits(false, 15));
            let mut plain = Vec::with_capacity((data.len() * 3).min(self.max_message.max(1)));
            let ended = inflate(d, &data, self.max_message, &mut plain)?;
            if p.client_no_context_takeover || ended {
                d.reset(false);
            }
            put_header(&mut self.rout, 0x80 | opcode, plain.len(), Some([0; 4]));
            self.rout.extend_from_slice(&plain);
        }
        Ok(())
    }

    /// Turns whole frames at the front of `wraw` (tungstenite's, unmasked) into frames for
    /// the peer in `wout`.
    fn process_write(&mut self, p: DeflateParams) -> io::Result<()> {
        while let Some(h) = parse_header(&self.wraw) {
            let total = h.header_len.saturating_add(h.payload_len);
            if self.wraw.len() < total {
                break;
            }
            let frame = self.wraw.split_to(total);
            if h.opcode >= 8 {
                self.wout.extend_from_slice(&frame);
                continue;
            }
            let (opcode, buf) = self.wmsg.get_or_insert_with(|| (h.opcode, Vec::new()));
            buf.extend_from_slice(&frame[h.header_len..]);
            if !h.fin {
                continue;
            }
            let opcode = *opcode;
            let (_, data) = self.wmsg.take().unwrap_or_default();
            let bits = p.server_max_window_bits;
            let c = self.deflater.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::fast(), false, bits)
            });
            let packed = deflate(c, &data)?;
            if p.server_no_context_takeover {
                c.reset();
            }
            put_header(&mut self.wout, 0x80 | 0x40 | opcode, packed.len(), None);
            self.wout.extend_from_slice(&packed);
        }
        Ok(())
    }
}

impl<S: AsyncWrite + Unpin> DeflateStream<S> {
    /// Writes `wout` to `inner` until it is empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wout.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wout))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wout.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DeflateStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.rout.is_empty() {
                let n = this.rout.len().min(buf.remaining());
                buf.put_slice(&this.rout[..n]);
                this.rout.advance(n);
                return Poll::Ready(Ok(()));
            }
            let params = match this.read_phase {
                Phase::Http(_) => None,
                Phase::Frames => match this.params() {
                    Some(p) => Some(p),
                    // Nothing negotiated: the stream is plain from here on.
                    None => return Pin::new(&mut this.inner).poll_read(cx, buf),
                },
            };
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let got = rb.filled();
            if got.is_empty() {
                this.read_eof = true;
                if !this.rraw.is_empty() || this.rmsg.is_some() {
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                return Poll::Ready(Ok(()));
            }
            match (this.read_phase, params) {
                (Phase::Http(mut seen), _) => match http_end(&mut seen, got) {
                    Some(end) => {
                        this.rout.extend_from_slice(&got[..end]);
                        this.rraw.extend_from_slice(&got[end..]);
                        this.read_phase = Phase::Frames;
                        if let Some(p) = this.params() {
                            this.process_read(p)?;
                        } else {
                            let rest = this.rraw.split();
                            this.rout.extend_from_slice(&rest);
                        }
                    }
                    None => {
                        this.read_phase = Phase::Http(seen);
                        this.rout.extend_from_slice(got);
                    }
                },
                (Phase::Frames, Some(p)) => {
                    this.rraw.extend_from_slice(got);
                    this.process_read(p)?;
                }
                (Phase::Frames, None) => this.rout.extend_from_slice(got),
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeflateStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Backpressure: what was transformed goes out before more is taken.
        if this.wout.len() >= 64 * 1024 {
            ready!(this.poll_drain(cx))?;
        }
        match this.write_phase {
            Phase::Http(mut seen) => match http_end(&mut seen, buf) {
                Some(end) => {
                    this.wout.extend_from_slice(&buf[..end]);
                    this.write_phase = Phase::Frames;
                    // The rest (frames) comes with the next call.
                    return Poll::Ready(Ok(end));
                }
                None => {
                    this.write_phase = Phase::Http(seen);
                    this.wout.extend_from_slice(buf);
                }
            },
            Phase::Frames => match this.params() {
                Some(p) => {
                    this.wraw.extend_from_slice(buf);
                    this.process_write(p)?;
                }
                None => {
                    ready!(this.poll_drain(cx))?;
                    return Pin::new(&mut this.inner).poll_write(cx, buf);
                }
            },
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: serde_json::Value) -> DeflateConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn negotiation_follows_the_offer_and_the_config() {
        let c = cfg(serde_json::json!({}));
        let nego = |offers: &[&str], c: &DeflateConfig| {
            negotiate(offers.iter().copied(), c).map(|p| (p, p.response_header()))
        };
        let (p, h) = nego(&["permessage-deflate; client_max_window_bits"], &c).unwrap();
        assert_eq!(h, "permessage-deflate");
        assert!(!p.server_no_context_takeover && p.server_max_window_bits == 15);
        let (p, h) = nego(
            &["x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
            &c,
        )
        .unwrap();
        assert!(p.server_no_context_takeover);
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
        );
        assert!(negotiate(["permessage-deflate; bogus"], &c).is_none());
        assert!(negotiate(["x-webkit-deflate-frame"], &c).is_none());
        // The config asks the client: only offers that accept it qualify.
        let ask = cfg(
            serde_json::json!({"request_no_context_takeover": true, "request_max_window_bits": 12}),
        );
        assert!(negotiate(["permessage-deflate"], &ask).is_none());
        let (p, h) = nego(
            &["permessage-deflate; client_max_window_bits; client_no_context_takeover"],
            &ask,
        )
        .unwrap();
        assert!(p.client_no_context_takeover);
        assert_eq!(
            h,
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=12"
        );
        let own = cfg(serde_json::json!({"no_context_takeover": true, "max_window_bits": 11}));
        let (_, h) = nego(&["permessage-deflate"], &own).unwrap();
        assert_eq!(
            h,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11"
        );
    }

    /// What a client sends: `text` deflated (fresh context), masked, in `parts` frames.
    fn client_message(c: &mut Compress, text: &[u8], parts: usize) -> Vec<u8> {
        let packed = deflate(c, text).unwrap();
        let chunk = packed.len().div_ceil(parts).max(1);
        let mut out = BytesMut::new();
        let chunks: Vec<&[u8]> = packed.chunks(chunk).collect();
        for (i, part) in chunks.iter().enumerate() {
            let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
            let b0 = fin | if i == 0 { 0x40 | 0x1 } else { 0 };
            let key = [9, 8, 7, i as u8];
            put_header(&mut out, b0, part.len(), Some(key));
            out.extend(part.iter().enumerate().map(|(j, b)| b ^ key[j % 4]));
        }
        out.to_vec()
    }

    /// A stream with deflate negotiated (context takeover both ways), reading frames.
    fn stream(max_message: usize) -> DeflateStream<()> {
        let slot = DeflateSlot::default();
        slot.set(DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: None,
        })
        .unwrap();
        DeflateStream::new((), slot, false, Some(max_message))
    }

    #[test]
    fn inbound_messages_are_inflated_with_context_takeover() {
        let mut s = stream(1 << 20);
        let p = s.params().unwrap();
        let mut client = Compress::new(Compression::default(), false);
        let ping = [0x89u8, 0x80, 0, 0, 0, 0];
        let mut wire = client_message(&mut client, b"hello hello hello", 1);
        wire.extend_from_slice(&ping);
        wire.extend(client_message(&mut client, b"hello hello hello again", 3));
        for b in wire {
            s.rraw.extend_from_slice(&[b]);
            s.process_read(p).unwrap();
        }
        let mut frames = Vec::new();
        while let Some(h) = parse_header(&s.rout) {
            let f = s.rout.split_to(h.header_len + h.payload_len);
            frames.push((h.opcode, h.rsv1, f[h.header_len..].to_vec()));
        }
        assert_eq!(
            frames,
            vec![
                (1, false, b"hello hello hello".to_vec()),
                (9, false, vec![]),
                (1, false, b"hello hello hello again".to_vec()),
            ]
        );
    }

    #[test]
    fn outbound_messages_are_deflated_and_readable() {
        let mut s = stream(1 << 20);
        let p = s.params().unwrap();
        let mut plain = BytesMut::new();
        for text in [&b"[36,1,2,{},[\"x\"]]"[..], b"[36,1,2,{},[\"x\"]]", b""] {
            put_header(&mut plain, 0x81, text.len(), None);
            plain.extend_from_slice(text);
        }
        s.wraw = plain;
        s.process_write(p).unwrap();
        let mut d = Decompress::new(false);
        let mut texts = Vec::new();
        while let Some(h) = parse_header(&s.wout) {
            assert!(h.rsv1 && h.fin && h.mask.is_none());
            let f = s.wout.split_to(h.header_len + h.payload_len);
            let mut data = f[h.header_len..].to_vec();
            data.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(256);
            inflate(&mut d, &data, 1 << 20, &mut out).unwrap();
            texts.push(out);
        }
        assert_eq!(texts[0], b"[36,1,2,{},[\"x\"]]");
        assert_eq!(texts[1], texts[0]);
        assert!(texts[2].is_empty());
    }

    #[test]
    fn a_decompression_bomb_is_an_error() {
        let mut s = stream(64 * 1024);
        let p = s.params().unwrap();
        let mut client = Compress::new(Compression::best(), false);
        let bomb = vec![b'a'; 10 << 20];
        s.rraw
            .extend_from_slice(&client_message(&mut client, &bomb, 1));
        let e = s.process_read(p).unwrap_err();
        assert!(e.to_string().contains("maximum message size"), "{e}");
    }
}
