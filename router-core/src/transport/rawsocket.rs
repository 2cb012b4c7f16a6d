//! RawSocket: WAMP's 4-byte handshake and length-prefixed framing over any byte stream (TCP,
//! TLS, a Unix socket, or the stdin/stdout pipes of a worker process).
//!
//! Handshake: the client sends `0x7F, LLLL SSSS, 0, 0` (it accepts messages up to 2^(9+L)
//! bytes, speaks serializer S); the router echoes S with its own L, or answers `0x7F, EEEE 0000,
//! 0, 0` with an error code E. Frames: `RRRR XTTT` + 24-bit big-endian length, then the payload.
//! TTT is 0 for a WAMP message, 1 for PING (answered with a PONG echoing the payload), 2 for
//! PONG; R must be zero; X is the 25th length bit (set only for a frame of exactly 16 MiB).
//!
//! The reader keeps no buffer between bursts: an idle connection waits with a 4-byte read into
//! the stack, and a frame's length is checked against the maximum before anything is
//! allocated for it.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio_util::io::poll_read_buf;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::codec::Codec;
use crate::transport::wire::{WireError, WireRead, WireWrite};

/// The first octet of every RawSocket handshake; no HTTP request starts with it.
pub const MAGIC: u8 = 0x7F;
/// The largest message RawSocket can carry (L = 15).
pub const MAX_LENGTH: usize = 1 << 24;
/// The smallest maximum a peer can announce (L = 0).
pub const MIN_LENGTH: usize = 1 << 9;

const FRAME_MESSAGE: u8 = 0;
const FRAME_PING: u8 = 1;
const FRAME_PONG: u8 = 2;

/// Handshake error codes (the high nibble of the second octet of an error reply).
pub mod error_code {
    pub const SERIALIZER_UNSUPPORTED: u8 = 1;
    pub const MAX_LENGTH_UNACCEPTABLE: u8 = 2;
    pub const RESERVED_BITS_USED: u8 = 3;
    pub const MAX_CONNECTIONS_REACHED: u8 = 4;

    /// The meaning of an error code, for messages.
    pub fn describe(code: u8) -> &'static str {
        match code {
            SERIALIZER_UNSUPPORTED => "serializer unsupported",
            MAX_LENGTH_UNACCEPTABLE => "maximum message length unacceptable",
            RESERVED_BITS_USED => "use of reserved bits (unsupported feature)",
            MAX_CONNECTIONS_REACHED => "maximum connection count reached",
            _ => "unknown error",
        }
    }
}

/// Why a RawSocket handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("i/o error in the RawSocket handshake: {0}")]
    Io(#[from] io::Error),
    #[error("not a RawSocket handshake: first octet 0x{0:02x}, expected 0x7f")]
    BadMagic(u8),
    #[error("the peer asked for serializer {0}, which this transport does not speak")]
    UnsupportedSerializer(u8),
    #[error("the peer used reserved bits in the RawSocket handshake")]
    ReservedBits,
    #[error("the router refused the RawSocket handshake with error {code} ({})", error_code::describe(*code))]
    Refused { code: u8 },
    #[error("the router answered with serializer {got}, but we asked for {asked}")]
    SerializerMismatch { asked: u8, got: u8 },
}

/// The L nibble announcing `max` (rounded up to a power of two, clamped to 512 B..16 MiB).
pub fn length_exponent(max: usize) -> u8 {
    let mut l = 0u8;
    while l < 15 && (MIN_LENGTH << l) < max {
        l += 1;
    }
    l
}

/// The maximum message length an L nibble announces.
pub fn length_from_exponent(l: u8) -> usize {
    MIN_LENGTH << (l & 0x0F)
}

/// Router side of the handshake on separate read and write halves. Returns the serializer and
/// the peer's maximum message length. On a refusal the error reply has been sent.
pub async fn server_handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    serializers: &[Codec],
    max_message_size: usize,
) -> Result<(Codec, usize), HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut hs = [0u8; 4];
    reader.read_exact(&mut hs).await?;
    if hs[0] != MAGIC {
        // Not RawSocket at all: there is nobody to send an error reply to.
        return Err(HandshakeError::BadMagic(hs[0]));
    }
    let refuse = |code: u8| [MAGIC, code << 4, 0, 0];
    if hs[2] != 0 || hs[3] != 0 {
        let _ = write_all_flush(writer, &refuse(error_code::RESERVED_BITS_USED)).await;
        return Err(HandshakeError::ReservedBits);
    }
    let ser = hs[1] & 0x0F;
    let Some(codec) = Codec::from_rawsocket_id(ser).filter(|c| serializers.contains(c)) else {
        let _ = write_all_flush(writer, &refuse(error_code::SERIALIZER_UNSUPPORTED)).await;
        return Err(HandshakeError::UnsupportedSerializer(ser));
    };
    let peer_max = length_from_exponent(hs[1] >> 4);
    let ours = length_exponent(max_message_size);
    write_all_flush(writer, &[MAGIC, (ours << 4) | ser, 0, 0]).await?;
    Ok((codec, peer_max))
}

/// Client side of the handshake. Returns the router's maximum message length.
pub async fn client_handshake<R, W>(
    reader: &mut R,
    writer: &mut W,
    codec: Codec,
    max_message_size: usize,
) -> Result<usize, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let ser = codec.rawsocket_id();
    let l = length_exponent(max_message_size);
    write_all_flush(writer, &[MAGIC, (l << 4) | ser, 0, 0]).await?;
    let mut hs = [0u8; 4];
    reader.read_exact(&mut hs).await?;
    if hs[0] != MAGIC {
        return Err(HandshakeError::BadMagic(hs[0]));
    }
    let got = hs[1] & 0x0F;
    if got == 0 {
        return Err(HandshakeError::Refused { code: hs[1] >> 4 });
    }
    if got != ser {
        return Err(HandshakeError::SerializerMismatch { asked: ser, got });
    }
    Ok(length_from_exponent(hs[1] >> 4))
}

async fn write_all_flush<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

/// A RawSocket connection after the handshake.
pub struct RawSocketConnection<R, W> {
    pub codec: Codec,
    /// The largest message the peer accepts.
    pub peer_max: usize,
    pub reader: RawSocketReader<R, W>,
    pub writer: RawSocketWriter<W>,
}

/// Accepts a RawSocket connection (router side) on a duplex stream.
pub async fn accept<S>(
    stream: S,
    serializers: &[Codec],
    max_message_size: usize,
) -> Result<RawSocketConnection<ReadHalf<S>, WriteHalf<S>>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    accept_split(r, w, serializers, max_message_size).await
}

/// Accepts a RawSocket connection (router side) on separate halves, e.g. a worker's pipes.
pub async fn accept_split<R, W>(
    mut reader: R,
    mut writer: W,
    serializers: &[Codec],
    max_message_size: usize,
) -> Result<RawSocketConnection<R, W>, HandshakeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let (codec, peer_max) =
        server_handshake(&mut reader, &mut writer, serializers, max_message_size).await?;
    let max_in = length_from_exponent(length_exponent(max_message_size));
    let (reader, writer) = framed(reader, writer, max_in, peer_max);
    Ok(RawSocketConnection {
        codec,
        peer_max,
        reader,
        writer,
    })
}

/// Opens a RawSocket connection (client side) on a duplex stream.
pub async fn connect<S>(
    stream: S,
    codec: Codec,
    max_message_size: usize,
) -> Result<RawSocketConnection<ReadHalf<S>, WriteHalf<S>>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(stream);
    connect_split(r, w, codec, max_message_size).await
}

/// Opens a RawSocket connection (client side) on separate halves, e.g. stdin/stdout.
pub async fn connect_split<R, W>(
    mut reader: R,
    mut writer: W,
    codec: Codec,
    max_message_size: usize,
) -> Result<RawSocketConnection<R, W>, HandshakeError>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let peer_max = client_handshake(&mut reader, &mut writer, codec, max_message_size).await?;
    let max_in = length_from_exponent(length_exponent(max_message_size));
    let (reader, writer) = framed(reader, writer, max_in, peer_max);
    Ok(RawSocketConnection {
        codec,
        peer_max,
        reader,
        writer,
    })
}

/// RawSocket framing without a handshake (both ends agreed out of band): messages up to
/// `max_recv` bytes are accepted, messages over `max_send` bytes are refused.
pub fn framed<R, W>(
    reader: R,
    writer: W,
    max_recv: usize,
    max_send: usize,
) -> (RawSocketReader<R, W>, RawSocketWriter<W>)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    // The write side is shared with the reader, which must answer PINGs.
    let shared = Arc::new(Mutex::new(WriteSide {
        io: writer,
        pending: VecDeque::new(),
        waiting: Vec::new(),
    }));
    (
        RawSocketReader {
            io: reader,
            buf: BytesMut::new(),
            writer: shared.clone(),
            max_len: max_recv.min(MAX_LENGTH),
            shutdown: None,
            pong_pending: false,
        },
        RawSocketWriter {
            io: shared,
            max_len: max_send.min(MAX_LENGTH),
        },
    )
}

fn header(kind: u8, len: usize) -> [u8; 4] {
    // Only a frame of exactly 2^24 bytes sets the X bit; its 24-bit length field is zero.
    let x = if len == MAX_LENGTH { 0x08 } else { 0 };
    let l = (len & 0x00FF_FFFF) as u32;
    [x | kind, (l >> 16) as u8, (l >> 8) as u8, l as u8]
}

/// How much a burst of reads asks the kernel for at once: many small frames per syscall.
const READ_CHUNK: usize = 16 * 1024;
/// What an idle connection reads onto the stack when data arrives: most messages fit.
const IDLE_READ: usize = 2048;

/// The receiving half of a RawSocket connection.
///
/// Reads are buffered, so a burst of frames costs one syscall rather than three per frame;
/// the buffer exists only while bytes are pending, so an idle connection holds none (it
/// waits for the next burst with a read onto the stack). The framing is a poll
/// function over that buffer rather than nested `async fn`s: what a session keeps while it
/// waits for its next message is a few words, not the states of every read it might make.
pub struct RawSocketReader<R, W> {
    io: R,
    /// Bytes read but not yet returned as frames; unallocated between bursts.
    buf: BytesMut,
    writer: Arc<Mutex<WriteSide<W>>>,
    max_len: usize,
    /// Once cancelled, reads report end of stream (the transport is stopping).
    shutdown: Option<Shutdown>,
    /// A PONG is queued on the write side and must be written before reading on.
    pong_pending: bool,
}

/// The transport's stop signal, as the reader watches it.
struct Shutdown {
    token: CancellationToken,
    /// Boxed: needed only while a read waits, and every connection has one.
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// A frame for the reader's caller (PONGs are dropped inside).
enum Frame {
    Message(Bytes),
    Ping(Bytes),
}

impl<R, W> RawSocketReader<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    /// Makes reads report end of stream once `token` is cancelled.
    pub fn set_shutdown(&mut self, token: CancellationToken) {
        self.shutdown = Some(Shutdown {
            cancelled: Box::pin(token.clone().cancelled_owned()),
            token,
        });
    }

    /// The payload length a frame header announces, checked against the maximum.
    fn frame_len(&self, h: [u8; 4]) -> Result<usize, WireError> {
        if h[0] & 0xF0 != 0 {
            return Err(WireError::Protocol(format!(
                "reserved bits set in RawSocket frame header (0x{:02x})",
                h[0]
            )));
        }
        let low = ((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize;
        let len = if h[0] & 0x08 != 0 {
            if low != 0 {
                return Err(WireError::Protocol(
                    "RawSocket frame length over 16 MiB".into(),
                ));
            }
            MAX_LENGTH
        } else {
            low
        };
        if len > self.max_len {
            return Err(WireError::TooLarge {
                size: len,
                max: self.max_len,
            });
        }
        Ok(len)
    }

    /// The next frame, reading as much as the kernel has ready. `None` on a clean end of
    /// stream (one that falls between two frames).
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Frame>, WireError>> {
        loop {
            if self.buf.len() >= 4 {
                let h = [self.buf[0], self.buf[1], self.buf[2], self.buf[3]];
                // Checked before anything is allocated for the payload.
                let len = self.frame_len(h)?;
                let kind = h[0] & 0x07;
                if kind > FRAME_PONG {
                    return Poll::Ready(Err(WireError::Protocol(format!(
                        "unknown RawSocket frame type {kind}"
                    ))));
                }
                if self.buf.len() >= 4 + len {
                    let _ = self.buf.split_to(4);
                    let payload = self.buf.split_to(len).freeze();
                    if self.buf.is_empty() {
                        // Drained: let the allocation go with the last frame that shares it.
                        self.buf = BytesMut::new();
                    }
                    match kind {
                        FRAME_MESSAGE => return Poll::Ready(Ok(Some(Frame::Message(payload)))),
                        FRAME_PING => return Poll::Ready(Ok(Some(Frame::Ping(payload)))),
                        // Nothing waits for PONGs (the router does not ping): dropped.
                        _ => continue,
                    }
                }
                self.buf
                    .reserve((4 + len - self.buf.len()).max(READ_CHUNK / 4));
            } else if self.buf.is_empty() {
                // Wait for the next burst without holding a buffer: what comes is read onto
                // the stack, and only then given an allocation of its size (one read for a
                // lone message, where reading its header first would take two).
                let mut first = [MaybeUninit::<u8>::uninit(); IDLE_READ];
                let mut rb = ReadBuf::uninit(&mut first);
                ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
                let got = rb.filled();
                if got.is_empty() {
                    return Poll::Ready(Ok(None));
                }
                let need = match got {
                    [a, b, c, d, ..] => 4 + self.frame_len([*a, *b, *c, *d])?,
                    _ => 4,
                };
                self.buf.reserve(need.max(got.len()));
                self.buf.put_slice(got);
                continue;
            } else {
                self.buf.reserve(READ_CHUNK / 4);
            }
            if ready!(poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf))? == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()));
            }
        }
    }

    /// [`Self::poll_frame`], or end of stream once the transport stops.
    fn poll_frame_or_stop(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Frame>, WireError>> {
        if let Some(s) = &self.shutdown
            && s.token.is_cancelled()
        {
            return Poll::Ready(Ok(None));
        }
        let frame = self.poll_frame(cx);
        if frame.is_pending()
            && let Some(s) = &mut self.shutdown
            && s.cancelled.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Ok(None));
        }
        frame
    }

    /// The next WAMP message; PINGs are answered on the way (the PONG is written before the
    /// next frame is read).
    fn poll_read_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, WireError>> {
        loop {
            if self.pong_pending {
                ready!(poll_drain(&self.writer, cx))?;
                self.pong_pending = false;
            }
            match ready!(self.poll_frame_or_stop(cx))? {
                None => return Poll::Ready(Ok(None)),
                Some(Frame::Message(payload)) => return Poll::Ready(Ok(Some(payload))),
                Some(Frame::Ping(payload)) => {
                    self.writer.lock().push_frame(FRAME_PONG, payload);
                    self.pong_pending = true;
                }
            }
        }
    }
}

impl<R, W> WireRead for RawSocketReader<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    // A poll function, not an `async fn`: a session waiting for its next message holds one
    // pointer for it.
    fn read_frame(&mut self) -> impl Future<Output = Result<Option<Bytes>, WireError>> + Send {
        poll_fn(|cx| self.poll_read_frame(cx))
    }
}

/// The write side of a connection, shared by the writer and the reader (which answers
/// PINGs). Whole frames are queued under the lock and written from the front of the queue
/// by whoever polls, so frames of the two never interleave and no lock is held across an
/// await.
struct WriteSide<W> {
    io: W,
    /// Bytes to write, in order: coalesced small frames, or the header and payload of a
    /// large one (not copied).
    pending: VecDeque<Bytes>,
    /// Tasks waiting for `pending` to drain besides the one the socket will wake.
    waiting: Vec<Waker>,
}

impl<W> WriteSide<W> {
    fn push_frame(&mut self, kind: u8, payload: Bytes) {
        if payload.len() <= COALESCE_LIMIT {
            let mut buf = BytesMut::with_capacity(4 + payload.len());
            buf.put_slice(&header(kind, payload.len()));
            buf.put_slice(&payload);
            self.pending.push_back(buf.freeze());
        } else {
            self.pending
                .push_back(Bytes::copy_from_slice(&header(kind, payload.len())));
            self.pending.push_back(payload);
        }
    }
}

/// Writes out everything queued and flushes.
fn poll_drain<W: AsyncWrite + Unpin>(
    side: &Mutex<WriteSide<W>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let mut ws = side.lock();
    let ws = &mut *ws;
    while let Some(front) = ws.pending.front_mut() {
        match Pin::new(&mut ws.io).poll_write(cx, front) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => {
                if n == front.len() {
                    ws.pending.pop_front();
                } else {
                    front.advance(n);
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                // The socket wakes only its last poller; whoever drains wakes the rest.
                if !ws.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    ws.waiting.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
        }
    }
    ready!(Pin::new(&mut ws.io).poll_flush(cx))?;
    // An idle connection keeps no buffers.
    ws.pending = VecDeque::new();
    for w in std::mem::take(&mut ws.waiting) {
        w.wake();
    }
    Poll::Ready(Ok(()))
}

/// The sending half of a RawSocket connection.
pub struct RawSocketWriter<W> {
    io: Arc<Mutex<WriteSide<W>>>,
    max_len: usize,
}

/// Batches up to this size are copied into one buffer and written with one syscall; larger
/// frames are queued as they are, to avoid copying big payloads.
const COALESCE_LIMIT: usize = 64 * 1024;

impl<W: AsyncWrite + Send + Unpin + 'static> RawSocketWriter<W> {
    /// Sends a PING with `payload` (the peer answers with a PONG the reader skips).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), WireError> {
        self.io
            .lock()
            .push_frame(FRAME_PING, Bytes::copy_from_slice(payload));
        poll_fn(|cx| poll_drain(&self.io, cx)).await?;
        Ok(())
    }
}

impl<W: AsyncWrite + Send + Unpin + 'static> WireWrite for RawSocketWriter<W> {
    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        let mut total = 0usize;
        for f in frames {
            if f.len() > self.max_len {
                return Err(WireError::TooLarge {
                    size: f.len(),
                    max: self.max_len,
                });
            }
            total += 4 + f.len();
        }
        {
            let mut ws = self.io.lock();
            if total <= COALESCE_LIMIT {
                let mut buf = BytesMut::with_capacity(total);
                for f in frames {
                    buf.put_slice(&header(FRAME_MESSAGE, f.len()));
                    buf.put_slice(f);
                }
                ws.pending.push_back(buf.freeze());
            } else {
                for f in frames {
                    ws.push_frame(FRAME_MESSAGE, f.clone());
                }
            }
        }
        poll_fn(|cx| poll_drain(&self.io, cx)).await?;
        Ok(())
    }

    async fn close(&mut self) {
        let _ = poll_fn(|cx| {
            ready!(poll_drain(&self.io, cx))?;
            Pin::new(&mut self.io.lock().io).poll_shutdown(cx)
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    #[test]
    fn exponents() {
        assert_eq!(length_exponent(0), 0);
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(513), 1);
        assert_eq!(length_exponent(1 << 20), 11);
        assert_eq!(length_exponent(1 << 24), 15);
        assert_eq!(length_exponent(usize::MAX), 15);
        assert_eq!(length_from_exponent(15), MAX_LENGTH);
    }

    /// Frames arriving many per write, split at every byte, with PINGs between them, come out
    /// whole and in order; an end of stream inside a frame is an error, between frames not.
    #[tokio::test]
    async fn buffered_reads_keep_frame_boundaries() {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for i in 0..200usize {
            let payload = vec![(i % 251) as u8; i * 37 % 5000];
            stream.extend_from_slice(&header(FRAME_MESSAGE, payload.len()));
            stream.extend_from_slice(&payload);
            expected.push(payload);
            if i % 50 == 0 {
                stream.extend_from_slice(&header(FRAME_PING, 3));
                stream.extend_from_slice(b"abc");
            }
        }
        for chunk in [1usize, 3, 4096, stream.len()] {
            let (mut a, b) = duplex(1 << 20);
            let (r, w) = tokio::io::split(b);
            let (mut reader, _writer) = framed(r, w, MAX_LENGTH, MAX_LENGTH);
            let data = stream.clone();
            let feed = tokio::spawn(async move {
                for c in data.chunks(chunk) {
                    a.write_all(c).await.unwrap();
                }
                a.write_all(&[0, 0, 0, 9, 1, 2]).await.unwrap();
                // Keep the PONGs flowing out of the way, then end the stream mid-frame.
                a.shutdown().await.unwrap();
                let mut sink = Vec::new();
                let _ = a.read_to_end(&mut sink).await;
                sink
            });
            for want in &expected {
                let got = reader.read_frame().await.unwrap().unwrap();
                assert_eq!(&got[..], &want[..], "chunk {chunk}");
            }
            assert!(reader.read_frame().await.is_err(), "truncated frame");
            drop(reader);
            drop(_writer);
            let pongs = feed.await.unwrap();
            assert_eq!(pongs.len(), 4 * (4 + 3), "chunk {chunk}");
        }
        let (mut a, b) = duplex(64);
        let (r, w) = tokio::io::split(b);
        let (mut reader, _w) = framed(r, w, MAX_LENGTH, MAX_LENGTH);
        a.write_all(&[0, 0, 0, 1, 7]).await.unwrap();
        a.shutdown().await.unwrap();
        assert_eq!(&reader.read_frame().await.unwrap().unwrap()[..], &[7]);
        assert!(reader.read_frame().await.unwrap().is_none(), "clean end");
    }

    #[tokio::test]
    async fn handshake_and_frames() {
        let (a, b) = duplex(1 << 16);
        let server = tokio::spawn(async move { accept(a, &Codec::ALL, 1 << 20).await });
        let mut client = connect(b, Codec::MsgPack, 1 << 16).await.unwrap();
        let mut server = server.await.unwrap().unwrap();
        assert_eq!(server.codec, Codec::MsgPack);
        assert_eq!(server.peer_max, 1 << 16);
        assert_eq!(client.peer_max, 1 << 20);
        let frames = [Bytes::from_static(b"one"), Bytes::from_static(b"")];
        client.writer.write_frames(&frames).await.unwrap();
        assert_eq!(
            &server.reader.read_frame().await.unwrap().unwrap()[..],
            b"one"
        );
        assert_eq!(&server.reader.read_frame().await.unwrap().unwrap()[..], b"");
        client.writer.close().await;
        assert!(server.reader.read_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn ping_is_answered_pong_ignored() {
        let (a, mut b) = duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut c = accept(a, &Codec::ALL, 1 << 20).await.unwrap();
            c.reader.read_frame().await
        });
        b.write_all(&[MAGIC, 0xF1, 0, 0]).await.unwrap();
        let mut reply = [0u8; 4];
        b.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, [MAGIC, (11 << 4) | 1, 0, 0]);
        // PING "abc", PONG "zz", then a message.
        b.write_all(&[1, 0, 0, 3, b'a', b'b', b'c', 2, 0, 0, 2, b'z', b'z'])
            .await
            .unwrap();
        let mut pong = [0u8; 7];
        b.read_exact(&mut pong).await.unwrap();
        assert_eq!(pong, [2, 0, 0, 3, b'a', b'b', b'c']);
        b.write_all(&[0, 0, 0, 2, b'[', b']']).await.unwrap();
        let got = server.await.unwrap().unwrap().unwrap();
        assert_eq!(&got[..], b"[]");
    }

    #[tokio::test]
    async fn handshake_errors() {
        // Unsupported serializer (5 = flatbuffers) → error 1.
        let (a, mut b) = duplex(64);
        let server = tokio::spawn(async move { accept(a, &Codec::ALL, 1 << 20).await });
        b.write_all(&[MAGIC, 0xF5, 0, 0]).await.unwrap();
        let mut reply = [0u8; 4];
        b.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, [MAGIC, 0x10, 0, 0]);
        assert!(matches!(
            server.await.unwrap(),
            Err(HandshakeError::UnsupportedSerializer(5))
        ));
        // Serializer not enabled on this transport → error 1.
        let (a, mut b) = duplex(64);
        let server = tokio::spawn(async move { accept(a, &[Codec::Cbor], 1 << 20).await });
        b.write_all(&[MAGIC, 0xF1, 0, 0]).await.unwrap();
        b.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, [MAGIC, 0x10, 0, 0]);
        assert!(server.await.unwrap().is_err());
        // Reserved bits → error 3.
        let (a, mut b) = duplex(64);
        let server = tokio::spawn(async move { accept(a, &Codec::ALL, 1 << 20).await });
        b.write_all(&[MAGIC, 0xF1, 0, 1]).await.unwrap();
        b.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply, [MAGIC, 0x30, 0, 0]);
        assert!(server.await.unwrap().is_err());
        // Bad magic: no reply, just an error.
        let (a, mut b) = duplex(64);
        let server = tokio::spawn(async move { accept(a, &Codec::ALL, 1 << 20).await });
        b.write_all(b"GET ").await.unwrap();
        assert!(matches!(
            server.await.unwrap(),
            Err(HandshakeError::BadMagic(b'G'))
        ));
        // The client reports a refusal.
        let (a, b) = duplex(64);
        tokio::spawn(async move { accept(a, &[Codec::Json], 1 << 20).await });
        let e = connect(b, Codec::Cbor, 1 << 20).await.err().unwrap();
        assert!(matches!(e, HandshakeError::Refused { code: 1 }), "{e}");
    }

    #[tokio::test]
    async fn oversize_and_bad_frames() {
        for (frame, expect_large) in [
            (vec![0u8, 0x10, 0, 1], true), // 1 MiB + 1 > 1 MiB max
            (vec![0x08, 0, 0, 0], true),   // exactly 16 MiB
            (vec![0x10, 0, 0, 1], false),  // reserved bit
            (vec![0x05, 0, 0, 1], false),  // unknown type
            (vec![0x08, 0, 0, 1], false),  // X bit with a nonzero low length
        ] {
            let (a, mut b) = duplex(64);
            let server = tokio::spawn(async move {
                let mut c = accept(a, &Codec::ALL, 1 << 20).await.unwrap();
                c.reader.read_frame().await
            });
            b.write_all(&[MAGIC, 0xF1, 0, 0]).await.unwrap();
            let mut reply = [0u8; 4];
            b.read_exact(&mut reply).await.unwrap();
            b.write_all(&frame).await.unwrap();
            match server.await.unwrap() {
                Err(WireError::TooLarge { .. }) => assert!(expect_large, "{frame:?}"),
                Err(WireError::Protocol(_)) => assert!(!expect_large, "{frame:?}"),
                other => panic!("{frame:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn truncated_payload_is_an_error() {
        let (a, mut b) = duplex(64);
        let (r, w) = tokio::io::split(a);
        let (mut reader, _w) = framed(r, w, 1024, 1024);
        b.write_all(&[0, 0, 0, 10, b'x']).await.unwrap();
        drop(b);
        assert!(matches!(reader.read_frame().await, Err(WireError::Io(_))));
    }

    #[tokio::test]
    async fn outgoing_limit() {
        let (a, _b) = duplex(64);
        let (r, w) = tokio::io::split(a);
        let (_r, mut writer) = framed(r, w, 1024, 4);
        let e = writer
            .write_frames(&[Bytes::from_static(b"12345")])
            .await
            .unwrap_err();
        assert!(matches!(e, WireError::TooLarge { size: 5, max: 4 }));
    }

    #[tokio::test]
    async fn separate_pipes() {
        // Like a worker's stdin/stdout: one pipe each way.
        let (to_router, from_worker) = duplex(1024);
        let (to_worker, from_router) = duplex(1024);
        let router = tokio::spawn(async move {
            accept_split(from_worker, to_worker, &Codec::ALL, MAX_LENGTH).await
        });
        let mut worker = connect_split(from_router, to_router, Codec::Cbor, MAX_LENGTH)
            .await
            .unwrap();
        let mut router = router.await.unwrap().unwrap();
        worker
            .writer
            .write_frames(&[Bytes::from_static(b"\x80")])
            .await
            .unwrap();
        assert_eq!(
            &router.reader.read_frame().await.unwrap().unwrap()[..],
            b"\x80"
        );
        router
            .writer
            .write_frames(&[Bytes::from_static(b"ok")])
            .await
            .unwrap();
        assert_eq!(
            &worker.reader.read_frame().await.unwrap().unwrap()[..],
            b"ok"
        );
    }

    #[test]
    fn header_encoding() {
        assert_eq!(header(0, 3), [0, 0, 0, 3]);
        assert_eq!(header(1, 0x010203), [1, 1, 2, 3]);
        assert_eq!(header(0, MAX_LENGTH), [0x08, 0, 0, 0]);
    }
}
