//! router-core: a WAMP v2 router and client library.
//!
//! It knows WAMP — messages, serializers, transports, sessions, realms, routing, authentication
//! and authorization — and nothing of processes, config files or management centers.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod auth;
pub mod authorization;
mod authorizer;
pub mod broker;
mod call_queue;
mod cbor;
pub mod client;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod dealer;
mod json;
pub mod message;
mod meta;
mod msgpack;
pub mod payload;
pub mod peer;
pub mod realm;
pub mod router;
pub mod session;
pub mod session_stats;
pub mod transport;
mod ubjson;
pub mod uri;
pub mod util;
pub mod value;

pub use codec::Codec;
pub use message::{Id, Message, Payload, ProtocolViolation};
pub use realm::{Realm, RealmConfig};
pub use router::{ConnectionInfo, LocalLink, Router, RouterError};
pub use value::{Dict, List, Value};
