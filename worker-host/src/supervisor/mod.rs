//! Worker processes from the outside and the inside: spawning and stopping them
//! ([`spawn`]), the WAMP control pipe over their stdin/stdout ([`pipe`]), turning their
//! output into log records ([`output`]) and pacing restarts ([`backoff`]).
//!
//! It knows processes and pipes, not config files: the agent decides what to run and when.

pub mod backoff;
pub mod output;
pub mod pipe;
pub mod spawn;

pub use backoff::Backoff;
pub use spawn::{ProcessSpec, StdinMode, spawn, terminate};
