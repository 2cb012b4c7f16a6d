//! worker-host: the worker processes of a node — spawning and supervising them, their control
//! pipes, logs, limits and profiles, and the router/container/guest worker runtimes with their
//! `crossbar.worker.<id>.*` management APIs.
//!
//! It builds on router-core and knows nothing of the management center (CDC).
// One `unsafe` block: the pre-exec hook that ties a child's life to ours (supervisor::spawn).
#![deny(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod components;
pub mod limits;
pub mod log;
pub mod process_api;
pub mod profiler;
pub mod router_api;
pub mod router_worker;
pub mod supervisor;
