//! crossbar-cdc: the management center. Users, management realms and nodes are registered
//! (each step confirmed by a PIN sent by mail), and management clients drive the nodes paired
//! with their realm through the seed API (`cdc.manage.*@1`, `cdc.remote.*@1`).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod config;
pub mod error;
mod fsutil;
pub mod mail;
pub mod names;
pub mod pin_image;
pub mod registry;
pub mod verification;

#[cfg(test)]
mod testutil;
