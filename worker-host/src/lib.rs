//! worker-host: the worker processes of a node — spawning and supervising them, their control
//! pipes, logs, limits and profiles, and the router/container/guest worker runtimes with their
//! `crossbar.worker.<id>.*` management APIs.
//!
//! It builds on router-core and knows nothing of the management center (CDC).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod components;
pub mod log;
pub mod router_worker;
pub mod vocabulary;
