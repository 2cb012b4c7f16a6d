//! The management router: one realm, `crossbar`, with the `trusted` role (the controller,
//! `node.sock` clients, the uplink) and one confined role per native worker.

use std::sync::Arc;

use mgmt_api::vocabulary::{MANAGEMENT_REALM, worker_prefix, worker_role};
use router_core::auth::{TransportInfo, TrustedAuthenticator};
use router_core::authorization::{Allow, Disclose, Permission, RoleConfig};
use router_core::router::ConnectionInfo;
use router_core::uri::MatchPolicy;
use router_core::{Realm, RealmConfig, Router};

/// The role of every session that is trusted by how it connected.
pub const TRUSTED_ROLE: &str = "trusted";

/// Starts the management router with its realm and the `trusted` role.
pub fn management_router() -> Result<(Arc<Router>, Arc<Realm>), router_core::RouterError> {
    let router = Router::new();
    let realm = router.start_realm(RealmConfig::new(MANAGEMENT_REALM))?;
    realm.add_trusted_role(TRUSTED_ROLE);
    Ok((router, realm))
}

/// (Re)creates the role `crossbar.worker.<id>`: everything on its own prefix, nothing else.
pub fn add_worker_role(realm: &Realm, worker_id: &str) -> Result<(), router_core::RouterError> {
    let role = worker_role(worker_id);
    realm.remove_role(&role);
    realm.add_role(&RoleConfig {
        id: None,
        name: role,
        permissions: vec![Permission {
            id: Some("own_prefix".into()),
            uri: format!("{}.", worker_prefix(worker_id)),
            match_: Some(MatchPolicy::Prefix),
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true,
            },
            disclose: Disclose::default(),
            cache: false,
            validate: None,
        }],
        authorizer: None,
        allow_by_default: false,
    })
}

pub fn remove_worker_role(realm: &Realm, worker_id: &str) {
    realm.remove_role(&worker_role(worker_id));
}

/// A connection that joins `crossbar` as `trusted` (in-process sessions, `node.sock`).
pub fn trusted_connection(
    id: &str,
    kind: &'static str,
    peer: &str,
    authid: Option<&str>,
) -> ConnectionInfo {
    ConnectionInfo {
        transport: Arc::new(TransportInfo::new(id, kind, peer)),
        authenticator: Arc::new(TrustedAuthenticator {
            realm: MANAGEMENT_REALM.into(),
            authid: authid.map(str::to_owned),
            authrole: TRUSTED_ROLE.into(),
        }),
    }
}
