//! The node's management protocol, written once and shared by the node (agent and
//! worker-host implement the handlers) and the CDC (which forwards to them): the URI prefixes,
//! statuses, events and error URIs ([`vocabulary`]), one reading of a call's arguments
//! ([`args`]), one error ([`error`]), every procedure as an item ([`procedures`]) and one way to
//! serve a table of them ([`serve`]).
//!
//! Adding a procedure: add its item to the API's list in [`procedures`], add `(item,
//! handler!(…))` to that API's table on the node, and map it in the CDC's forwarding table (or
//! list it there as node-local); each side's unit test walks [`procedures::all`] and fails
//! until both are done.

pub mod args;
pub mod error;
pub mod procedures;
pub mod serve;
pub mod vocabulary;

pub use args::{ArgError, Args};
pub use error::ApiError;
pub use procedures::{Api, Procedure};
pub use serve::{Answer, Entry, Handler, serve};
