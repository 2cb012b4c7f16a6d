//! A crossbar-edge realm shared by several routers over a NATS cluster: the realm's
//! `cluster` config (`{"type": "nats", "servers": [...], ...}`, [`config`]) and the bus that
//! carries router-core's cluster frames over NATS ([`bus`]).
//!
//! Why NATS: it already routes between servers, survives one server of three going down, and
//! reconnects its clients to the others — what router-to-router links (Crossbar.io's rlinks)
//! had to build themselves. Core NATS (no JetStream) is enough: events are not persisted.
//!
//! Subjects: every member of a realm publishes its frames to, and subscribes to, one subject
//! per realm, `<subject_prefix>.<realm>.all` (the realm name escaped into one NATS token),
//! so one member's frames reach every other member in the order it sent them; each member
//! matches events against its own subscriptions (router-core's broker), which keeps WAMP's
//! character-wise prefix matching exact where NATS matches token by token.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod bus;
pub mod config;

pub use bus::NatsCluster;
pub use config::NatsClusterConfig;
