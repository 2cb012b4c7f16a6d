//! `rawsocket_frames`: the RawSocket handshake and framing of `router-core` against the
//! specification, over an in-memory stream delivered in chunks.
//!
//! The first octet picks the router's maximum message size, the serializers it speaks and the
//! size of the chunks the client writes in (each followed by a yield, so the reader sees
//! headers and payloads split anywhere). The rest is what the client sends: the 4-octet
//! handshake, then frames. The router side is `rawsocket::accept` and the reader's
//! `read_frame` until it ends, then the writer echoes every message and closes. A reference
//! parser written from the specification (the module comment of `transport/rawsocket.rs`)
//! predicts the handshake answer, the messages, the PONG for each PING, and whether the
//! stream ends in an error; reader and reference must agree on all of it.

use bytes::Bytes;
use router_core::Codec;
use router_core::transport::rawsocket::{self, MAGIC};
use router_core::transport::wire::{WireRead, WireWrite};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{CLOSE_BOUND, runtime};

const MAX_SIZES: [usize; 4] = [512, 1000, 4096, rawsocket::MAX_LENGTH];
const CHUNKS: [usize; 8] = [usize::MAX, 1, 2, 3, 5, 7, 64, 1000];

pub fn rawsocket_frames(data: &[u8]) {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let max = MAX_SIZES[usize::from(ctl & 3)];
    let serializers: &[Codec] = if ctl & 4 == 0 {
        &Codec::ALL
    } else {
        &[Codec::Json, Codec::MsgPack]
    };
    let chunk = CHUNKS[usize::from(ctl >> 5)];
    let want = reference(input, serializers, max);
    let got = runtime().block_on(serve(input, serializers, max, chunk));
    assert_eq!(got, want, "router-core and the reference disagree");
}

/// What one connection shows: the handshake answer, the messages read, the PONG payloads
/// written, whether reading ended in an error, and the messages the writer echoed.
#[derive(Debug, PartialEq)]
struct Outcome {
    answer: Vec<u8>,
    accepted: bool,
    messages: Vec<Bytes>,
    pongs: Vec<Bytes>,
    error: bool,
    echoed: Vec<Bytes>,
}

async fn serve(input: &[u8], serializers: &[Codec], max: usize, chunk: usize) -> Outcome {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (mut client_rx, mut client_tx) = tokio::io::split(client);
    let data = input.to_vec();
    let feed = async move {
        for c in data.chunks(chunk.max(1)) {
            if client_tx.write_all(c).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        let _ = client_tx.shutdown().await;
    };
    let drain = async move {
        let mut out = Vec::new();
        let _ = client_rx.read_to_end(&mut out).await;
        out
    };
    let router_side = async move {
        let mut conn = match rawsocket::accept(server, serializers, max).await {
            Ok(c) => c,
            Err(_) => return (false, Vec::new(), false),
        };
        let mut messages = Vec::new();
        let error = loop {
            match conn.reader.read_frame().await {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        for m in &messages {
            // Over the peer's maximum: refused by the writer, not sent.
            let _ = conn.writer.write_frames(std::slice::from_ref(m)).await;
        }
        conn.writer.close().await;
        (true, messages, error)
        // `conn` (both halves) dropped here: the client's read ends.
    };
    let all = async { tokio::join!(feed, drain, router_side) };
    let ((), written, (accepted, messages, error)) = tokio::time::timeout(CLOSE_BOUND, all)
        .await
        .expect("the RawSocket connection did not end after the client closed");
    let (answer, frames) = written.split_at(written.len().min(4));
    let mut pongs = Vec::new();
    let mut echoed = Vec::new();
    for (kind, payload) in parse_frames(frames, usize::MAX).0 {
        match kind {
            0 => echoed.push(payload),
            2 => pongs.push(payload),
            k => panic!("the router wrote a frame of type {k}"),
        }
    }
    Outcome {
        answer: answer.to_vec(),
        accepted,
        messages,
        pongs,
        error,
        echoed,
    }
}

/// The specification's answer to `input`.
fn reference(input: &[u8], serializers: &[Codec], max: usize) -> Outcome {
    let mut out = Outcome {
        answer: Vec::new(),
        accepted: false,
        messages: Vec::new(),
        pongs: Vec::new(),
        error: false,
        echoed: Vec::new(),
    };
    let Some(hs) = input.get(..4) else {
        return out;
    };
    if hs[0] != MAGIC {
        return out;
    }
    if hs[2] != 0 || hs[3] != 0 {
        out.answer = vec![MAGIC, 3 << 4, 0, 0];
        return out;
    }
    let ser = hs[1] & 0x0F;
    if !serializers.iter().any(|c| c.rawsocket_id() == ser) {
        out.answer = vec![MAGIC, 1 << 4, 0, 0];
        return out;
    }
    // The router announces the smallest power of two from 512 B to 16 MiB that holds `max`,
    // and accepts what it announced; it sends at most what the client announced.
    let mut ours = 0u8;
    while ours < 15 && (512usize << ours) < max {
        ours += 1;
    }
    let max_in = 512usize << ours;
    let peer_max = 512usize << (hs[1] >> 4);
    out.answer = vec![MAGIC, (ours << 4) | ser, 0, 0];
    out.accepted = true;
    let (frames, error) = parse_frames(&input[4..], max_in);
    out.error = error;
    for (kind, payload) in frames {
        match kind {
            0 => {
                if payload.len() <= peer_max {
                    out.echoed.push(payload.clone());
                }
                out.messages.push(payload);
            }
            1 => out.pongs.push(payload),
            _ => {}
        }
    }
    out
}

/// Frames by the specification: `RRRR XTTT` and a 24-bit length (X: exactly 16 MiB), R zero,
/// T 0..=2, length at most `max`; the stream must end between frames. Returns the frames up
/// to the first error and whether there was one.
fn parse_frames(mut rest: &[u8], max: usize) -> (Vec<(u8, Bytes)>, bool) {
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let Some(h) = rest.get(..4) else {
            return (frames, true);
        };
        let low = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let len = match (h[0] & 0x08 != 0, low) {
            (true, 0) => rawsocket::MAX_LENGTH,
            (true, _) => return (frames, true),
            (false, n) => n,
        };
        let kind = h[0] & 0x07;
        if h[0] & 0xF0 != 0 || kind > 2 || len > max {
            return (frames, true);
        }
        let Some(payload) = rest.get(4..4 + len) else {
            return (frames, true);
        };
        frames.push((kind, Bytes::copy_from_slice(payload)));
        rest = &rest[4 + len..];
    }
    (frames, false)
}
