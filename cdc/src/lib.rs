//! crossbar-cdc: the management center. Users, management realms and nodes are registered
//! (each step confirmed by a PIN sent by mail), and management clients drive the nodes paired
//! with their realm through the seed API (`cdc.manage.*@1`, `cdc.remote.*@1`).
//!
//! Layers, bottom up: `registry` (SQLite) and `verification` (PIN rules) hold the state;
//! `mail` delivers PINs; `authenticator` and `roles` decide who joins which realm as what;
//! `app` runs the router with the global realm (`manage`) and one realm per management realm
//! (`mrealm`: `remote`, `liveness`, `events`); `server` listens.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod app;
pub mod args;
pub mod authenticator;
pub mod config;
pub mod error;
pub mod events;
mod fsutil;
pub mod liveness;
pub mod mail;
pub mod manage;
pub mod mrealm;
pub mod names;
pub mod pin_image;
pub mod registry;
pub mod remote;
pub mod roles;
pub mod server;
pub mod verification;

#[cfg(test)]
mod testutil;

pub use app::Cdc;
pub use config::CdcConfig;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why `init` failed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("registry: {0}")]
    Registry(#[from] error::CdcError),
}

/// `crossbar-cdc init`: writes the default configuration and creates the registry database.
/// An existing configuration is left alone (an error).
pub fn init(cbdir: &std::path::Path) -> Result<CdcConfig, InitError> {
    std::fs::create_dir_all(cbdir).map_err(|source| InitError::Dir {
        path: cbdir.to_path_buf(),
        source,
    })?;
    let path = cbdir.join(config::CONFIG_FILE);
    if path.exists() {
        return Err(config::ConfigError::Exists { path }.into());
    }
    let config = CdcConfig::new(cbdir);
    config.save()?;
    registry::Registry::open(&config.database_path())?;
    Ok(config)
}

pub use server::{RunError, run};
