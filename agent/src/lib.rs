//! crossbar-edge: the node agent — CLI, node directory and keys, config model, node run.
//!
//! Entry points: [`cli::main`] (the binary), [`node::run`] (a node from a validated config
//! until shutdown), [`controller::Controller`] (the node controller and its management realm),
//! [`worker_main::exec_worker`] (inside a worker process). Config: [`config::NodeConfig`]; keys: [`keys::NodeKey`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cli;
pub mod config;
pub mod controller;
pub mod keys;
pub mod node;
pub mod nodedir;
pub mod notify;
pub mod pidfile;
pub mod uplink;
pub mod worker_main;

pub use node::{RunConfig, RunError, run};
