//! `redirect` service: answers every request with `302 Found` to a fixed URL (Twisted's
//! `request.redirect`, which Crossbar.io uses).

use http::{HeaderValue, Request, Response, StatusCode, header};

use super::{Body, page};
use crate::transport::config::RedirectConfig;
use crate::transport::listener::TransportError;

pub(crate) struct Redirect {
    location: HeaderValue,
    url: String,
}

impl Redirect {
    pub fn new(c: &RedirectConfig, label: &str) -> Result<Self, TransportError> {
        let location = HeaderValue::from_str(&c.url).map_err(|_| TransportError::Invalid {
            location: format!("paths.{label}.url"),
            message: format!("\"{}\" is not a valid header value", c.url),
        })?;
        Ok(Redirect {
            location,
            url: c.url.clone(),
        })
    }

    pub fn handle<B>(&self, _req: &Request<B>) -> Response<Body> {
        let body = format!(
            "<p>Moved to <a href=\"{u}\">{u}</a>.</p>",
            u = super::escape_html(&self.url)
        );
        let mut r = super::html_response(StatusCode::FOUND, page("Found", &body));
        r.headers_mut()
            .insert(header::LOCATION, self.location.clone());
        r
    }
}
