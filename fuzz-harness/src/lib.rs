//! fuzz-harness: the logic of every fuzz target, in one place.
//!
//! The libFuzzer binaries in `fuzz/fuzz_targets/` are one line each, calling the function of
//! the same name here; `tests/corpus.rs` replays every file of `fuzz/corpus/<target>/` through
//! the same function under a plain `cargo test`, so the corpus (seeds, what fuzzing found, and
//! every input that once crashed) is checked on every CI run without a fuzzing engine.
//!
//! Each function takes arbitrary bytes and panics only on a bug: a panic in the product code,
//! or a broken property the target checks (a decoded message that does not survive
//! re-encoding, a RawSocket reader that disagrees with the specification, a router that sends
//! an undecodable frame or keeps a closed connection open). `fuzz/README.md` lists what each
//! target covers.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod cdc_args;
mod codec;
mod config;
mod keys;
mod rawsocket;
mod session;
pub mod support;
mod web;

pub use cdc_args::cdc_args;
pub use codec::codec_decode;
pub use config::{config_json, config_yaml};
pub use keys::key_file;
pub use rawsocket::rawsocket_frames;
pub use session::session_messages;
pub use web::{web_request, websocket_handshake};

/// A target: arbitrary bytes in, a panic only on a bug.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay and the seed writer.
pub const TARGETS: &[(&str, Target)] = &[
    ("codec_decode", codec_decode),
    ("rawsocket_frames", rawsocket_frames),
    ("session_messages", session_messages),
    ("websocket_handshake", websocket_handshake),
    ("web_request", web_request),
    ("config_json", config_json),
    ("config_yaml", config_yaml),
    ("key_file", key_file),
    ("cdc_args", cdc_args),
];
