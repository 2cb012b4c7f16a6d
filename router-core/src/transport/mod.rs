//! Transports: how bytes become WAMP sessions.

pub mod wire;
