//! The controller's management API, `crossbar.<procedure>`: one file per family
//! ([`node`]: status, stats, shutdown, key; [`workers`]: start/stop/list/log;
//! [`super::config_ops`]: save/upload/download of the config file), served as one table of
//! [`mgmt_api::procedures::controller`] items.

mod node;
mod stats;
mod workers;

use std::sync::Arc;

use mgmt_api::vocabulary::{CONTROLLER_PREFIX, error};
use router_core::client::{ClientError, Session};

pub use mgmt_api::{ApiError, Args};

use super::Controller;

type Entry = mgmt_api::Entry<Controller>;

/// Every procedure of the controller with its handler.
fn procedures() -> Vec<Entry> {
    let mut table = node::procedures();
    table.extend(workers::procedures());
    table.extend(super::config_ops::procedures());
    table
}

/// Registers every `crossbar.*` procedure of the controller (held weakly: the registrations
/// must not keep a stopped controller alive).
pub(crate) async fn register_all(ctl: &Arc<Controller>, s: &Session) -> Result<(), ClientError> {
    mgmt_api::serve(
        s,
        CONTROLLER_PREFIX,
        ctl,
        &procedures(),
        error::RUNTIME_ERROR,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_controller_procedure_has_a_handler() {
        let (extra, missing) = mgmt_api::serve::table_mismatch(
            &super::procedures(),
            mgmt_api::procedures::controller::ALL,
        );
        assert!(
            extra.is_empty() && missing.is_empty(),
            "{extra:?} {missing:?}"
        );
    }
}
