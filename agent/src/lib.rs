//! crossbar-edge: the node agent — CLI, node directory and keys, config model, node run.
//!
//! Entry points: [`cli::main`] (the binary), [`node::run`] (a node from a validated config
//! until shutdown). Config: [`config::NodeConfig`]; keys: [`keys::NodeKey`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod config;
pub mod keys;
pub mod node;
pub mod nodedir;
pub mod pidfile;
pub mod uplink;

pub use node::{RunConfig, RunError, run};
