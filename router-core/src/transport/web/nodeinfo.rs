//! `nodeinfo` service: a small HTML page about the node (Crossbar.io's `cb_node_info.html`),
//! with facts the node provides through [`NodeInfoSource`].

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Request, Response, StatusCode};

use super::{Body, ConnMeta, escape_html, html_response, method_not_allowed, page};

/// Provides the rows of the node info page (`("Node Public Key", "…")`, …), e.g. from the
/// node controller's status.
#[async_trait]
pub trait NodeInfoSource: Send + Sync + 'static {
    async fn node_info(&self) -> Vec<(String, String)>;
}

pub(crate) struct NodeInfoPage {
    source: Option<Arc<dyn NodeInfoSource>>,
}

impl NodeInfoPage {
    pub fn new(source: Option<Arc<dyn NodeInfoSource>>) -> Self {
        NodeInfoPage { source }
    }

    pub async fn handle<B>(&self, req: &Request<B>, meta: &ConnMeta) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed();
        }
        let mut rows = vec![(
            "Release".to_owned(),
            format!("crossbar-edge {}", env!("CARGO_PKG_VERSION")),
        )];
        if let Some(s) = &self.source {
            rows.extend(s.node_info().await);
        }
        let mut table = String::from("<table>");
        for (k, v) in &rows {
            table.push_str(&format!(
                "<tr><td>{}</td><td><b>{}</b></td></tr>",
                escape_html(k),
                escape_html(v)
            ));
        }
        table.push_str("</table>");
        table.push_str(&format!(
            "<p><small>Served from router worker with PID {} to {}.</small></p>",
            std::process::id(),
            escape_html(&meta.peer)
        ));
        html_response(StatusCode::OK, page("Crossbar Node", &table))
    }
}
