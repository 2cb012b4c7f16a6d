//! The roles of the CDC's realms and what each may do, as router-core role configs (the router
//! enforces them before a call reaches the CDC's procedures).
//!
//! Global realm `com.crossbario.cdc`: `anonymous` may call `create_user@1` and `verify@1`;
//! `user` (any cryptosign user) may call every `cdc.manage.*@1` (ownership is checked by the
//! procedures). Management realms: `guest` reads (status, list_*, query_*, logs, get_limit),
//! `devops` also starts, stops, sets, saves and uploads, `admin` and `owner` call everything;
//! each paired node has a role of its own, `node:<node_id>`, that may register and publish only
//! under `crossbarfabriccenter.node.<node_id>.` (plus the heartbeat topics and the realm's
//! status procedure), so a node can neither impersonate nor intercept another.

use router_core::authorization::{Allow, Disclose, Permission, RoleConfig};
use router_core::realm::RealmConfig;
use router_core::uri::MatchPolicy;

use crate::registry::realms::GLOBAL_REALM;

pub const ANONYMOUS: &str = "anonymous";
pub const USER: &str = "user";
pub const GUEST: &str = "guest";
pub const DEVOPS: &str = "devops";
pub const ADMIN: &str = "admin";
pub const OWNER: &str = "owner";
/// The prefix of node roles (`node:<node_id>`).
pub const NODE_ROLE_PREFIX: &str = "node:";

/// Prefix of the procedures and topics a node offers on its management realm, and its
/// heartbeats.
pub use mgmt_api::vocabulary::{
    NODE_HEARTBEAT, UPLINK_NODE_PREFIX, WORKER_HEARTBEAT, uplink_node_prefix,
};
pub const MREALM_GET_STATUS: &str = "crossbarfabriccenter.mrealm.get_status";

/// The role of node `node_id`.
pub fn node_role(node_id: &str) -> String {
    format!("{NODE_ROLE_PREFIX}{node_id}")
}

/// The node ID of a node role, if `role` is one.
pub fn node_of_role(role: &str) -> Option<&str> {
    role.strip_prefix(NODE_ROLE_PREFIX)
}

#[derive(Clone, Copy, Default)]
struct Rights {
    call: bool,
    register: bool,
    publish: bool,
    subscribe: bool,
}

const CALL: Rights = Rights {
    call: true,
    register: false,
    publish: false,
    subscribe: false,
};
const SUBSCRIBE: Rights = Rights {
    call: false,
    register: false,
    publish: false,
    subscribe: true,
};

fn perm(uri: &str, match_: MatchPolicy, r: Rights) -> Permission {
    Permission {
        id: None,
        uri: uri.to_owned(),
        match_: Some(match_),
        allow: Allow {
            call: r.call,
            register: r.register,
            publish: r.publish,
            subscribe: r.subscribe,
        },
        // The CDC's procedures need to know who calls (ownership checks, audit log), and
        // the CDC needs to know which node publishes.
        disclose: Disclose {
            caller: true,
            publisher: true,
        },
        cache: true,
        validate: None,
    }
}

fn role(name: &str, permissions: Vec<Permission>) -> RoleConfig {
    RoleConfig {
        id: None,
        name: name.to_owned(),
        permissions,
        authorizer: None,
        allow_by_default: false,
    }
}

/// The global realm with its roles.
pub fn global_realm() -> RealmConfig {
    let mut c = RealmConfig::new(GLOBAL_REALM);
    c.roles = vec![
        role(
            ANONYMOUS,
            vec![
                perm("cdc.manage.create_user@1", MatchPolicy::Exact, CALL),
                perm("cdc.manage.verify@1", MatchPolicy::Exact, CALL),
            ],
        ),
        role(USER, vec![perm("cdc.manage.", MatchPolicy::Prefix, CALL)]),
    ];
    c
}

/// Remote procedures a guest may call (read-only), as URI prefixes or exact URIs.
const GUEST_CALLS: &[(&str, MatchPolicy)] = &[
    ("cdc.remote.status@1", MatchPolicy::Exact),
    ("cdc.remote.list_", MatchPolicy::Prefix),
    ("cdc.remote.query_", MatchPolicy::Prefix),
    ("cdc.remote.get_limit@1", MatchPolicy::Exact),
    ("cdc.remote.map_worker_log_topic@1", MatchPolicy::Exact),
];

/// What devops may call beyond a guest.
const DEVOPS_CALLS: &[&str] = &[
    "cdc.remote.start_",
    "cdc.remote.stop_",
    "cdc.remote.set_",
    "cdc.remote.save_",
    "cdc.remote.upload_",
];

fn user_role(name: &str) -> RoleConfig {
    // Every user role receives the realm's events (status events and worker log topics).
    let mut perms = vec![perm("cdc.remote.", MatchPolicy::Prefix, SUBSCRIBE)];
    match name {
        GUEST | DEVOPS => {
            for (uri, m) in GUEST_CALLS {
                perms.push(perm(
                    uri,
                    *m,
                    Rights {
                        subscribe: true,
                        ..CALL
                    },
                ));
            }
            if name == DEVOPS {
                for uri in DEVOPS_CALLS {
                    perms.push(perm(
                        uri,
                        MatchPolicy::Prefix,
                        Rights {
                            subscribe: true,
                            ..CALL
                        },
                    ));
                }
            }
        }
        _ => {
            perms[0] = perm(
                "cdc.remote.",
                MatchPolicy::Prefix,
                Rights {
                    subscribe: true,
                    ..CALL
                },
            );
        }
    }
    role(name, perms)
}

/// The role of one paired node.
pub fn node_role_config(node_id: &str) -> RoleConfig {
    let all = Rights {
        call: false,
        register: true,
        publish: true,
        subscribe: true,
    };
    let publish = Rights {
        publish: true,
        ..Rights::default()
    };
    role(
        &node_role(node_id),
        vec![
            perm(&uplink_node_prefix(node_id), MatchPolicy::Prefix, all),
            perm(NODE_HEARTBEAT, MatchPolicy::Exact, publish),
            perm(WORKER_HEARTBEAT, MatchPolicy::Exact, publish),
            perm(MREALM_GET_STATUS, MatchPolicy::Exact, CALL),
        ],
    )
}

/// A management realm with its user roles and the roles of the nodes paired with it.
pub fn management_realm<'a>(
    name: &str,
    node_ids: impl IntoIterator<Item = &'a str>,
) -> RealmConfig {
    let mut c = RealmConfig::new(name);
    c.roles = [GUEST, DEVOPS, ADMIN, OWNER]
        .into_iter()
        .map(user_role)
        .chain(node_ids.into_iter().map(node_role_config))
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::authorization::{Action, Role};

    fn r(c: &RealmConfig, name: &str) -> Role {
        Role::from_config(c.roles.iter().find(|r| r.name == name).unwrap())
    }

    #[test]
    fn global_realm_roles() {
        let c = global_realm();
        let anon = r(&c, ANONYMOUS);
        assert!(
            anon.authorize("cdc.manage.create_user@1", Action::Call)
                .allow
        );
        assert!(anon.authorize("cdc.manage.verify@1", Action::Call).allow);
        assert!(
            !anon
                .authorize("cdc.manage.create_realm@1", Action::Call)
                .allow
        );
        assert!(
            !anon
                .authorize("cdc.manage.create_user@1", Action::Register)
                .allow
        );
        let user = r(&c, USER);
        assert!(
            user.authorize("cdc.manage.register_node@1", Action::Call)
                .allow
        );
        assert!(
            user.authorize("cdc.manage.register_node@1", Action::Call)
                .disclose
        );
        assert!(
            !user
                .authorize("cdc.remote.list_nodes@1", Action::Call)
                .allow
        );
    }

    #[test]
    fn management_realm_roles() {
        let c = management_realm("m1", ["node1"]);
        let guest = r(&c, GUEST);
        let devops = r(&c, DEVOPS);
        let admin = r(&c, ADMIN);
        let owner = r(&c, OWNER);
        for uri in [
            "cdc.remote.status@1",
            "cdc.remote.list_nodes@1",
            "cdc.remote.query_worker_log@1",
            "cdc.remote.map_worker_log_topic@1",
            "cdc.remote.get_limit@1",
        ] {
            for role in [&guest, &devops, &admin, &owner] {
                assert!(
                    role.authorize(uri, Action::Call).allow,
                    "{} {uri}",
                    role.name
                );
            }
        }
        for uri in [
            "cdc.remote.start_worker@1",
            "cdc.remote.stop_node@1",
            "cdc.remote.set_limit@1",
            "cdc.remote.save_config@1",
            "cdc.remote.upload_config@1",
        ] {
            assert!(!guest.authorize(uri, Action::Call).allow, "{uri}");
            assert!(devops.authorize(uri, Action::Call).allow, "{uri}");
            assert!(admin.authorize(uri, Action::Call).allow, "{uri}");
        }
        assert!(
            !devops
                .authorize("cdc.remote.download_config@1", Action::Call)
                .allow
        );
        assert!(
            admin
                .authorize("cdc.remote.download_config@1", Action::Call)
                .allow
        );
        for role in [&guest, &devops, &admin, &owner] {
            assert!(
                role.authorize("cdc.remote.on_node_status@1", Action::Subscribe)
                    .allow
            );
            assert!(
                role.authorize("cdc.remote.worker_log.node1.w1", Action::Subscribe)
                    .allow
            );
            assert!(
                !role
                    .authorize("cdc.remote.on_node_status@1", Action::Publish)
                    .allow
            );
            assert!(
                !role
                    .authorize("cdc.remote.list_nodes@1", Action::Register)
                    .allow
            );
            assert!(
                !role
                    .authorize("crossbarfabriccenter.node.node1.get_status", Action::Call)
                    .allow
            );
        }
    }

    #[test]
    fn nodes_stay_in_their_prefix() {
        let c = management_realm("m1", ["node1", "node10"]);
        let n1 = r(&c, &node_role("node1"));
        assert!(
            n1.authorize(
                "crossbarfabriccenter.node.node1.get_status",
                Action::Register
            )
            .allow
        );
        assert!(
            n1.authorize(
                "crossbarfabriccenter.node.node1.worker.w1.on_log",
                Action::Publish
            )
            .allow
        );
        assert!(n1.authorize(NODE_HEARTBEAT, Action::Publish).allow);
        assert!(n1.authorize(NODE_HEARTBEAT, Action::Publish).disclose);
        assert!(n1.authorize(MREALM_GET_STATUS, Action::Call).allow);
        assert!(
            !n1.authorize(
                "crossbarfabriccenter.node.node10.get_status",
                Action::Register
            )
            .allow
        );
        assert!(
            !n1.authorize("crossbarfabriccenter.node.node10.on_log", Action::Publish)
                .allow
        );
        assert!(
            !n1.authorize("cdc.remote.on_node_status@1", Action::Publish)
                .allow
        );
        assert!(!n1.authorize("cdc.remote.list_nodes@1", Action::Call).allow);
        assert!(!n1.authorize(NODE_HEARTBEAT, Action::Subscribe).allow);
        assert_eq!(node_of_role("node:node1"), Some("node1"));
        assert_eq!(node_of_role("guest"), None);
    }
}
