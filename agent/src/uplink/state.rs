//! What the uplink is doing now, published through a `tokio::sync::watch` channel so that
//! `get_status` and `crossbar-edge status` read it without asking the uplink task.

use router_core::value::Dict;
use serde_json::{Value, json};

/// The uplink's state. `Connected` carries what the WELCOME said: the management realm, the
/// node id the master knows this node by, and the pairing's extra data.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum UplinkState {
    /// Not connected (before the first attempt, between attempts, or no uplink configured).
    #[default]
    Disconnected,
    /// An attempt is under way (`attempt` counts from 1 since the last established session).
    Connecting { url: String, attempt: u32 },
    Connected {
        url: String,
        realm: String,
        node_id: String,
        session_id: u64,
        authextra: Dict,
    },
    /// The master refused the node key (`fabric.auth-failed.node-unpaired`); retrying slowly.
    Unpaired { url: String, pubkey: String },
}

impl UplinkState {
    /// `disconnected`, `connecting`, `connected`, `unpaired`.
    pub fn name(&self) -> &'static str {
        match self {
            UplinkState::Disconnected => "disconnected",
            UplinkState::Connecting { .. } => "connecting",
            UplinkState::Connected { .. } => "connected",
            UplinkState::Unpaired { .. } => "unpaired",
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self, UplinkState::Connected { .. })
    }

    /// For status reports: `{state, url, management_realm, management_node_id,
    /// management_session_id, management_node_extra}` (the names of Crossbar.io's edge
    /// `get_status`; null when not connected).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "state": self.name(),
            "url": null,
            "management_realm": null,
            "management_node_id": null,
            "management_session_id": null,
            "management_node_extra": null,
        });
        match self {
            UplinkState::Disconnected => {}
            UplinkState::Connecting { url, attempt } => {
                v["url"] = url.as_str().into();
                v["attempt"] = (*attempt).into();
            }
            UplinkState::Unpaired { url, pubkey } => {
                v["url"] = url.as_str().into();
                v["pubkey"] = pubkey.as_str().into();
            }
            UplinkState::Connected {
                url,
                realm,
                node_id,
                session_id,
                authextra,
            } => {
                v["url"] = url.as_str().into();
                v["management_realm"] = realm.as_str().into();
                v["management_node_id"] = node_id.as_str().into();
                v["management_session_id"] = (*session_id).into();
                v["management_node_extra"] =
                    Value::from(router_core::value::Value::Dict(authextra.clone()));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        assert_eq!(UplinkState::Disconnected.to_json()["state"], "disconnected");
        let c = UplinkState::Connected {
            url: "ws://m/ws".into(),
            realm: "mrealm1".into(),
            node_id: "node1".into(),
            session_id: 7,
            authextra: router_core::dict! {"location" => "x"},
        };
        let j = c.to_json();
        assert_eq!(j["state"], "connected");
        assert_eq!(j["management_realm"], "mrealm1");
        assert_eq!(j["management_node_id"], "node1");
        assert_eq!(j["management_node_extra"]["location"], "x");
    }
}
