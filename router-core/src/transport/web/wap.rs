//! `wap` service (WAMP Application Pages): a route of the service calls a WAMP procedure and
//! renders a template with its result, as Crossbar.io's `WapResource` does with Werkzeug
//! and Jinja2; here with minijinja, which reads the same templates. The route's variables
//! (`/user/<name>`, `/n/<int:id>`) are the call's keyword arguments, a POST adds `data` and
//! `data_type`; the result (a dict) is the template's context. A client that accepts only
//! `application/json` gets the result as JSON. Errors are Crossbar.io's: 404 for no route,
//! 511 for a method a route does not take, 500 for a failed call.

use std::path::Path;
use std::sync::Weak;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::{Body, escape_html, escape_html_quoting, full};
use crate::client::CallOptions;
use crate::router::Router;
use crate::transport::config::{WapConfig, WapMethod};
use crate::transport::listener::TransportError;
use crate::value::{Dict, Value};

/// Largest POST body passed to the procedure.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One segment of a route rule.
enum Segment {
    Literal(String),
    /// `<name>` or `<string:name>`: one segment.
    Text(String),
    /// `<int:name>`.
    Int(String),
    /// `<float:name>`.
    Float(String),
    /// `<path:name>`: the rest of the path.
    Path(String),
}

struct Route {
    segments: Vec<Segment>,
    method: Method,
    call: Option<String>,
    template: String,
}

pub(crate) struct Wap {
    env: minijinja::Environment<'static>,
    routes: Vec<Route>,
    realm: String,
    role: String,
    router: Weak<Router>,
}

impl Wap {
    pub(crate) fn new(
        c: &WapConfig,
        base_dir: &Path,
        router: &Weak<Router>,
        label: &str,
    ) -> Result<Wap, TransportError> {
        let invalid = |key: &str, message: String| TransportError::Invalid {
            location: format!("paths.{label}.{key}"),
            message,
        };
        let realm = router
            .upgrade()
            .and_then(|r| r.realm(&c.wamp.realm))
            .ok_or_else(|| {
                invalid(
                    "wamp.realm",
                    format!("no realm \"{}\" on this router", c.wamp.realm),
                )
            })?;
        if !realm.has_role(&c.wamp.authrole) {
            return Err(invalid(
                "wamp.authrole",
                format!(
                    "no role \"{}\" on realm \"{}\"",
                    c.wamp.authrole, c.wamp.realm
                ),
            ));
        }
        let dir = base_dir.join(&c.templates);
        if !dir.is_dir() {
            return Err(invalid(
                "templates",
                format!("no template directory {}", dir.display()),
            ));
        }
        let mut env = minijinja::Environment::new();
        env.set_loader(minijinja::path_loader(&dir));
        // Jinja2's autoescape=True, as Crossbar.io sets it: every template escapes HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        // Strings escaped as Jinja2's markupsafe does (minijinja also escapes `/`).
        env.set_formatter(|out, state, value| {
            if !value.is_safe()
                && matches!(state.auto_escape(), minijinja::AutoEscape::Html)
                && let Some(s) = value.as_str()
            {
                return out
                    .write_str(&escape_html_quoting(s, "&#34;"))
                    .map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        let mut routes = Vec::with_capacity(c.routes.len());
        for (i, r) in c.routes.iter().enumerate() {
            // Loaded now, as Crossbar.io does, so a missing or broken template fails the start.
            env.get_template(&r.render).map_err(|e| {
                invalid(
                    &format!("routes[{i}].render"),
                    format!("template \"{}\": {e}", r.render),
                )
            })?;
            routes.push(Route {
                segments: parse_rule(&r.path)
                    .map_err(|e| invalid(&format!("routes[{i}].path"), e))?,
                method: match r.method {
                    WapMethod::Get => Method::GET,
                    WapMethod::Post => Method::POST,
                },
                call: r.call.clone(),
                template: r.render.clone(),
            });
        }
        Ok(Wap {
            env,
            routes,
            realm: c.wamp.realm.clone(),
            role: c.wamp.authrole.clone(),
            router: router.clone(),
        })
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>, rest: &str) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let json = req
            .headers()
            .get(header::ACCEPT)
            .is_some_and(|v| v.as_bytes() == b"application/json");
        let method = req.method().clone();
        if method != Method::GET && method != Method::POST {
            return error_page(
                StatusCode::from_u16(511).unwrap(),
                &not_allowed(&path),
                json,
            );
        }
        let rest = if rest.is_empty() { "/" } else { rest };
        let matched: Vec<(&Route, Dict)> = self
            .routes
            .iter()
            .filter_map(|r| r.matches(rest).map(|vars| (r, vars)))
            .collect();
        let Some((route, mut kwargs)) = matched
            .iter()
            .find(|(r, _)| r.method == method)
            .map(|(r, v)| (*r, v.clone()))
        else {
            return if matched.is_empty() {
                error_page(
                    StatusCode::NOT_FOUND,
                    &format!("Path \"{path}\" not found [werkzeug.routing.MapAdapter.match]"),
                    json,
                )
            } else {
                error_page(
                    StatusCode::from_u16(511).unwrap(),
                    &not_allowed(&path),
                    json,
                )
            };
        };
        if method == Method::POST {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let body: Bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return error_page(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "request body too large",
                        json,
                    );
                }
            };
            if !body.is_empty() {
                kwargs.insert(
                    "data".into(),
                    Value::from(String::from_utf8_lossy(&body).into_owned()),
                );
                kwargs.insert("data_type".into(), Value::from(content_type));
            }
        }
        let result = match &route.call {
            None => Value::Dict(Dict::new()),
            Some(procedure) => match self.call(procedure, kwargs).await {
                Ok(v) => v,
                Err(uri) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &uri, json),
            },
        };
        if json {
            let mut r = Response::new(full(serde_json::Value::from(result).to_string()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return r;
        }
        let context = minijinja::Value::from_serialize(serde_json::Value::from(result.clone()));
        let rendered = self
            .env
            .get_template(&route.template)
            .and_then(|t| t.render(context));
        match rendered {
            Ok(html) => {
                let mut r = Response::new(full(html));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }
            Err(e) => error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!(
                    "WapResource render error for WAMP result of type \"{}\": {e}",
                    result.type_name()
                ),
                false,
            ),
        }
    }

    /// Calls `procedure` with `kwargs` through the service session; the error URI on failure.
    async fn call(&self, procedure: &str, kwargs: Dict) -> Result<Value, String> {
        let realm = self
            .router
            .upgrade()
            .and_then(|r| r.realm(&self.realm))
            .ok_or_else(|| "wamp.error.no_such_realm".to_owned())?;
        let session = realm
            .service_session(&self.role)
            .await
            .map_err(|_| "could not call procedure - no session".to_owned())?;
        match session
            .call(procedure, Vec::new(), kwargs, CallOptions::default())
            .await
        {
            Ok(r) => Ok(r.value()),
            Err(e) => Err(e.error),
        }
    }
}

impl Route {
    /// The rule's variables when `path` matches it (a trailing slash is ignored).
    fn matches(&self, path: &str) -> Option<Dict> {
        let trimmed = path.trim_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut vars = Dict::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if let Segment::Path(name) = seg {
                let rest = parts.get(i..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                vars.insert(name.clone(), Value::from(decode(&rest)));
                return Some(vars);
            }
            let part = *parts.get(i)?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Text(name) => {
                    vars.insert(name.clone(), Value::from(decode(part)));
                }
                Segment::Int(name) => {
                    vars.insert(name.clone(), Value::from(part.parse::<i64>().ok()?));
                }
                Segment::Float(name) => {
                    vars.insert(name.clone(), Value::Float(part.parse::<f64>().ok()?));
                }
                _ => return None,
            }
        }
        (parts.len() == self.segments.len()).then_some(vars)
    }
}

/// A Werkzeug rule (`/user/<name>`, `/n/<int:id>`, `/f/<path:rest>`) as segments.
fn parse_rule(rule: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for part in rule
        .trim_start_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
    {
        if let Some(inner) = part.strip_prefix('<').and_then(|p| p.strip_suffix('>')) {
            let (conv, name) = inner.split_once(':').unwrap_or(("string", inner));
            let name = name.to_owned();
            out.push(match conv {
                "string" | "default" => Segment::Text(name),
                "int" => Segment::Int(name),
                "float" => Segment::Float(name),
                "path" => Segment::Path(name),
                other => return Err(format!("unknown converter \"{other}\" in \"{rule}\"")),
            });
        } else if part.contains('<') || part.contains('>') {
            return Err(format!("a variable must be a whole segment in \"{rule}\""));
        } else {
            out.push(Segment::Literal(part.to_owned()));
        }
    }
    Ok(out)
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn not_allowed(path: &str) -> String {
    format!("Method not allowed on path \"{path}\" [werkzeug.routing.MapAdapter.match]")
}

/// Crossbar.io's error page (or `{"error": …}` for a JSON client).
fn error_page(status: StatusCode, message: &str, json: bool) -> Response<Body> {
    let body = if json {
        serde_json::json!({ "error": message }).to_string()
    } else {
        format!(
            "\n<html>\n    <title>API Error</title>\n    <body>\n        <h3 style=\"color: #f00\">Crossbar WAMP Application Page Error</h3>\n        <pre>{}</pre>\n    </body>\n</html>\n",
            escape_html(message)
        )
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}
