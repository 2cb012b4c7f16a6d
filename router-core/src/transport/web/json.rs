//! `json` service: a fixed JSON document (Crossbar.io's `JsonResource`), optionally pretty,
//! with CORS headers by default and no-cache headers on request.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

use super::{Body, full, method_not_allowed, set_cors};
use crate::transport::config::JsonConfig;

pub(crate) struct JsonDoc {
    data: Bytes,
    cors: bool,
    no_cache: bool,
}

impl JsonDoc {
    pub fn new(c: &JsonConfig) -> Self {
        let data = if c.options.prettify {
            // Python's json.dumps(indent=3), as Crossbar.io renders it.
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            match serde::Serialize::serialize(&c.value, &mut ser) {
                Ok(()) => out,
                Err(_) => serde_json::to_vec(&c.value).unwrap_or_default(),
            }
        } else {
            serde_json::to_vec(&c.value).unwrap_or_default()
        };
        JsonDoc {
            data: data.into(),
            cors: c.options.allow_cross_origin.unwrap_or(true),
            no_cache: c.options.discourage_caching,
        }
    }

    pub fn handle<B>(&self, req: &Request<B>) -> Response<Body> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return method_not_allowed();
        }
        let mut r = Response::new(full(self.data.clone()));
        *r.status_mut() = StatusCode::OK;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if self.cors {
            set_cors(req.headers(), h);
        }
        if self.no_cache {
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
            );
        }
        r
    }

    #[cfg(test)]
    pub fn for_test(name: &str) -> Self {
        JsonDoc {
            data: Bytes::from(name.to_owned()),
            cors: false,
            no_cache: false,
        }
    }

    #[cfg(test)]
    pub fn test_name(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}
