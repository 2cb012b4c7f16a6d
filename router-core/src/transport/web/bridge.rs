//! The HTTP bridge: `publisher` (POST a JSON body → WAMP publish), `caller` (POST → WAMP
//! call → JSON result) and `webhook` (any POST → an event with the request's headers and
//! body), as Crossbar.io's `crossbar.bridge.rest` serves them.
//!
//! The checks run in Crossbar.io's order, with its status codes and messages: method,
//! content type and charset, body size, GitHub signature, the signed-request query fields,
//! signing key and signature, client address, TLS, UTF-8, JSON. Every response carries the
//! same CORS and no-cache headers. The WAMP side is the realm's service session with the
//! configured role, so the role's permissions apply to what the bridge does; a WAMP error
//! comes back with status 200 and `{"error", "args", "kwargs"}`, as in Crossbar.io.

use std::net::IpAddr;
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq as _;

use super::{Body, ConnMeta, empty, full, set_cors};
use crate::client::{CallOptions, ClientError, PublishOptions, Session};
use crate::router::Router;
use crate::transport::config::{BridgeConfig, RestOptions, WebhookOptions};
use crate::transport::listener::TransportError;
use crate::value::{Dict, List, Value};

/// Bodies above this are refused even without a `post_body_limit` (the WebSocket default
/// message size limit).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Crossbar.io's default `timestamp_delta_limit`, in seconds.
const DEFAULT_TIMESTAMP_DELTA: u32 = 300;

/// What a bridge path does with a request that passed the checks.
enum Action {
    Publish,
    Call,
    Webhook {
        topic: String,
        success: String,
        error: String,
    },
}

/// The request checks of one bridge service.
#[derive(Default)]
struct Checks {
    key: Option<String>,
    secret: Option<String>,
    require_tls: bool,
    require_ip: Vec<ipnet::IpNet>,
    post_body_limit: usize,
    timestamp_delta_limit: u32,
    github_secret: Option<String>,
    /// Publisher and caller take JSON; a webhook takes any body.
    json: bool,
}

/// A `publisher`, `caller` or `webhook` path.
pub(crate) struct Bridge {
    action: Action,
    checks: Checks,
    realm: String,
    role: String,
    router: Weak<Router>,
}

/// A refused request: status and Crossbar.io's message.
struct Deny(StatusCode, String);

impl Deny {
    fn bad(message: impl Into<String>) -> Deny {
        Deny(StatusCode::BAD_REQUEST, message.into())
    }
}

impl Bridge {
    fn new<O>(
        config: &BridgeConfig<O>,
        action: Action,
        checks: Checks,
        router: &Weak<Router>,
        label: &str,
    ) -> Result<Bridge, TransportError> {
        // Crossbar.io fails the transport when the realm is not running; so do we, and when
        // the role is missing (its session could do nothing).
        let invalid = |message: String| TransportError::Invalid {
            location: format!("paths.{label}"),
            message,
        };
        let realm = router
            .upgrade()
            .and_then(|r| r.realm(&config.realm))
            .ok_or_else(|| invalid(format!("no realm \"{}\" on this router", config.realm)))?;
        if !realm.has_role(&config.role) {
            return Err(invalid(format!(
                "no role \"{}\" on realm \"{}\"",
                config.role, config.realm
            )));
        }
        Ok(Bridge {
            action,
            checks,
            realm: config.realm.clone(),
            role: config.role.clone(),
            router: router.clone(),
        })
    }

    pub(crate) fn publisher(
        c: &BridgeConfig<RestOptions>,
        router: &Weak<Router>,
        label: &str,
    ) -> Result<Bridge, TransportError> {
        Bridge::new(c, Action::Publish, Checks::rest(&c.options), router, label)
    }

    pub(crate) fn caller(
        c: &BridgeConfig<RestOptions>,
        router: &Weak<Router>,
        label: &str,
    ) -> Result<Bridge, TransportError> {
        Bridge::new(c, Action::Call, Checks::rest(&c.options), router, label)
    }

    pub(crate) fn webhook(
        c: &BridgeConfig<WebhookOptions>,
        router: &Weak<Router>,
        label: &str,
    ) -> Result<Bridge, TransportError> {
        let o = &c.options;
        let action = Action::Webhook {
            topic: o.topic.clone(),
            success: o.success_response.clone().unwrap_or_else(|| "OK".into()),
            error: o.error_response.clone().unwrap_or_else(|| "NOT OK".into()),
        };
        let checks = Checks {
            post_body_limit: o.post_body_limit as usize,
            timestamp_delta_limit: DEFAULT_TIMESTAMP_DELTA,
            github_secret: o.github_secret.clone(),
            ..Checks::default()
        };
        Bridge::new(c, action, checks, router, label)
    }

    pub(crate) async fn handle(&self, req: Request<Incoming>, meta: &ConnMeta) -> Response<Body> {
        // What the CORS headers of the answer are made from (the request is consumed).
        let mut cors = HeaderMap::new();
        for h in [header::ORIGIN, header::ACCESS_CONTROL_REQUEST_HEADERS] {
            if let Some(v) = req.headers().get(&h) {
                cors.insert(h, v.clone());
            }
        }
        let method = req.method().clone();
        let mut resp = match method {
            Method::POST | Method::PUT => match self.serve(req, meta).await {
                Ok(r) => r,
                Err(Deny(status, message)) => denied(status, &message),
            },
            Method::OPTIONS => {
                let mut r = Response::new(empty());
                let allow = HeaderValue::from_static("POST,PUT,OPTIONS");
                r.headers_mut().insert(header::ALLOW, allow.clone());
                r.headers_mut()
                    .insert(header::ACCESS_CONTROL_ALLOW_METHODS, allow);
                r
            }
            other => denied(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "Method not accepted by the REST bridge. (b'{other}' not allowed, only POST, PUT)"
                ),
            ),
        };
        // Crossbar.io's headers on every answer, the webhook's plain text included.
        let h = resp.headers_mut();
        set_cors(&cors, h);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store,no-cache,must-revalidate,max-age=0"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        resp
    }

    async fn serve(&self, req: Request<Incoming>, meta: &ConnMeta) -> Result<Response<Body>, Deny> {
        let (parts, body) = req.into_parts();
        let c = &self.checks;
        check_content_type(&parts.headers, c.json)?;
        if parts.headers.get_all(header::CONTENT_LENGTH).iter().count() > 1 {
            return Err(Deny::bad(
                "Multiple versions of the same header is not allowed.",
            ));
        }
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(n) = declared
            && c.post_body_limit > 0
            && n > c.post_body_limit
        {
            return Err(Deny(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request too long. ({n} is longer than accepted {})",
                    c.post_body_limit
                ),
            ));
        }
        let body = read_body(body, c.post_body_limit).await?;
        if let Some(secret) = &c.github_secret {
            check_github_signature(&parts.headers, secret, &body)?;
        }
        let query = parts.uri.query().unwrap_or("");
        c.check_signature(query, &body)?;
        if !c.require_ip.is_empty() {
            let allowed =
                peer_ip(&meta.peer).is_some_and(|ip| c.require_ip.iter().any(|n| n.contains(&ip)));
            if !allowed {
                return Err(Deny::bad("Request denied based on IP address."));
            }
        }
        if c.require_tls && !meta.tls.secure {
            return Err(Deny::bad("Malformed request to the REST bridge."));
        }
        let text = std::str::from_utf8(&body)
            .map_err(|_| Deny::bad("Non-decodable request body, was not UTF-8."))?;
        let resp = match &self.action {
            Action::Webhook {
                topic,
                success,
                error,
            } => {
                self.webhook_event(topic, &parts.headers, text, success, error)
                    .await
            }
            action => {
                let doc: serde_json::Value = serde_json::from_str(text)
                    .map_err(|_| Deny::bad("Request body was invalid JSON."))?;
                let serde_json::Value::Object(doc) = doc else {
                    return Err(Deny::bad(
                        "Request body was valid JSON, but not well formed (must be a dict).",
                    ));
                };
                match action {
                    Action::Publish => self.publish(doc).await?,
                    _ => self.call(doc).await?,
                }
            }
        };
        Ok(resp)
    }

    async fn session(&self) -> Result<Session, Response<Body>> {
        let realm = self
            .router
            .upgrade()
            .and_then(|r| r.realm(&self.realm))
            .ok_or_else(runtime_error)?;
        realm
            .service_session(&self.role)
            .await
            .map_err(|_| runtime_error())
    }

    async fn publish(
        &self,
        doc: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Response<Body>, Deny> {
        let topic = required_str(&doc, "topic")?;
        let (args, kwargs) = arguments(&doc)?;
        let opts = publish_options(doc.get("options"))?;
        let session = match self.session().await {
            Ok(s) => s,
            Err(r) => return Ok(r),
        };
        Ok(match session.publish(&topic, args, kwargs, opts).await {
            Ok(id) => json_response(StatusCode::OK, &serde_json::json!({"id": id})),
            Err(e) => wamp_failure(e),
        })
    }

    async fn call(
        &self,
        doc: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Response<Body>, Deny> {
        let procedure = required_str(&doc, "procedure")?;
        let (args, kwargs) = arguments(&doc)?;
        let session = match self.session().await {
            Ok(s) => s,
            Err(r) => return Ok(r),
        };
        // No timeout of our own, as in Crossbar.io: a client that gives up closes the
        // connection, which drops this future and cancels the call.
        Ok(
            match session
                .call(&procedure, args, kwargs, CallOptions::default())
                .await
            {
                Ok(r) => {
                    let mut out = serde_json::Map::new();
                    if r.args.len() == 1 && r.kwargs.is_empty() {
                        out.insert("args".into(), json_list(r.args));
                    } else {
                        if !r.args.is_empty() {
                            out.insert("args".into(), json_list(r.args));
                        }
                        if !r.kwargs.is_empty() {
                            out.insert("kwargs".into(), Value::Dict(r.kwargs).into());
                        }
                        if out.is_empty() {
                            out.insert("args".into(), serde_json::json!([null]));
                        }
                    }
                    json_response(StatusCode::OK, &serde_json::Value::Object(out))
                }
                Err(e) => wamp_failure(ClientError::Wamp(e)),
            },
        )
    }

    async fn webhook_event(
        &self,
        topic: &str,
        headers: &HeaderMap,
        body: &str,
        success: &str,
        error: &str,
    ) -> Response<Body> {
        let mut by_name: Dict = Dict::new();
        for (name, value) in headers {
            let entry = by_name
                .entry(header_name(name.as_str()))
                .or_insert_with(|| Value::List(List::new()));
            if let Value::List(l) = entry {
                l.push(Value::from(
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                ));
            }
        }
        let mut event = Dict::new();
        event.insert("headers".into(), Value::Dict(by_name));
        event.insert("body".into(), Value::from(body));
        let text = |status, t: &str| {
            let mut r = Response::new(full(t.to_owned()));
            *r.status_mut() = status;
            r
        };
        let Ok(session) = self.session().await else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, error);
        };
        match session
            .publish(
                topic,
                vec![Value::Dict(event)],
                Dict::new(),
                PublishOptions::acknowledged(),
            )
            .await
        {
            Ok(_) => text(StatusCode::ACCEPTED, success),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, error),
        }
    }
}

impl Checks {
    fn rest(o: &RestOptions) -> Checks {
        Checks {
            key: o.key.clone(),
            secret: o.secret.clone(),
            require_tls: o.require_tls,
            require_ip: o.require_ip.clone(),
            post_body_limit: o.post_body_limit as usize,
            timestamp_delta_limit: o.timestamp_delta_limit.unwrap_or(DEFAULT_TIMESTAMP_DELTA),
            github_secret: None,
            json: true,
        }
    }

    /// The signed-request fields (`key`, `timestamp`, `seq`, `nonce`, `signature`): each one
    /// present is checked; with a `secret` all are required and the signature must match.
    fn check_signature(&self, query: &str, body: &[u8]) -> Result<(), Deny> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if !fields.iter().any(|(f, _)| *f == k) {
                fields.push((k.into_owned(), v.into_owned()));
            }
        }
        let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
        let signed = self.secret.is_some();
        let missing = |reason: &str| {
            Deny::bad(format!(
                "REST bridge signature was invalid (missing mandatory field - {reason})."
            ))
        };
        let invalid =
            |reason: String| Deny::bad(format!("REST bridge signature was invalid ({reason})."));
        let key = get("key");
        if signed && key.is_none() {
            return Err(missing("'key' field missing"));
        }
        match get("timestamp") {
            Some(ts) => {
                let t = parse_timestamp(ts).ok_or_else(|| {
                    invalid(format!(
                        "invalid timestamp '{ts}' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')"
                    ))
                })?;
                let limit = self.timestamp_delta_limit;
                let now = SystemTime::now();
                let delta = now
                    .duration_since(t)
                    .or_else(|_| t.duration_since(now))
                    .unwrap_or_default();
                if limit > 0 && delta > Duration::from_secs(u64::from(limit)) {
                    return Err(Deny::bad("Request expired, too old timestamp."));
                }
            }
            None if signed => {
                return Err(missing(
                    "signed request required, but mandatory 'timestamp' field missing",
                ));
            }
            None => {}
        }
        for (name, what) in [("seq", "sequence number"), ("nonce", "nonce")] {
            match get(name) {
                Some(v) if v.trim().parse::<i64>().is_err() => {
                    return Err(invalid(format!(
                        "invalid {what} '{v}' (must be an integer)"
                    )));
                }
                None if signed => return Err(missing(&format!("'{name}' field missing"))),
                _ => {}
            }
        }
        let signature = get("signature");
        if signed && signature.is_none() {
            return Err(missing("'signature' field missing"));
        }
        if let Some(secret) = &self.secret {
            if key != self.key.as_deref() {
                return Err(Deny(
                    StatusCode::UNAUTHORIZED,
                    "REST bridge signature key not valid.".into(),
                ));
            }
            // The raw query values, as Crossbar.io signs them.
            let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes keys of any length");
            for f in ["key", "timestamp", "seq", "nonce"] {
                mac.update(get(f).unwrap_or("").as_bytes());
            }
            mac.update(body);
            let expected =
                base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
            let got = signature.unwrap_or("");
            if !bool::from(expected.as_bytes().ct_eq(got.as_bytes())) {
                return Err(Deny(
                    StatusCode::UNAUTHORIZED,
                    "REST bridge signature secret not valid.".into(),
                ));
            }
        }
        Ok(())
    }
}

/// `Content-Type` must be `application/json` for JSON services (absent is fine), and a
/// charset, if any, UTF-8.
fn check_content_type(headers: &HeaderMap, json: bool) -> Result<(), Deny> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(ct.as_bytes()).to_ascii_lowercase();
    let parts: Vec<&str> = text.split(';').map(str::trim).collect();
    if json && parts[0] != "application/json" {
        return Err(Deny::bad(format!(
            "Non-accepted content type. (must be one of '[b'application/json']', not 'b'{}'')",
            parts[0]
        )));
    }
    let bad_encoding = || Deny::bad("Non-accepted request encoding, must be UTF-8.");
    let mut seen: Vec<&str> = Vec::new();
    for p in parts.iter().skip(1).filter(|p| p.contains('=')) {
        let kv: Vec<&str> = p.split('=').collect();
        if kv.len() != 2 || seen.contains(&kv[0]) {
            return Err(bad_encoding());
        }
        seen.push(kv[0]);
        if kv[0] == "charset" && !matches!(kv[1], "utf-8" | "utf8") {
            return Err(bad_encoding());
        }
    }
    Ok(())
}

/// Reads the body, refusing one over `limit` bytes (0: only [`MAX_BODY`]).
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Deny> {
    let cap = if limit > 0 {
        limit.min(MAX_BODY)
    } else {
        MAX_BODY
    };
    match Limited::new(body, cap).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Deny(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request too long. (more than {cap} bytes, the accepted limit)"),
        )),
        Err(_) => Err(Deny::bad("Malformed request to the REST bridge.")),
    }
}

fn check_github_signature(headers: &HeaderMap, secret: &str, body: &[u8]) -> Result<(), Deny> {
    let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    let expected = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
    let got = headers
        .get("x-hub-signature")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .unwrap_or_default();
    if bool::from(expected.as_bytes().ct_eq(got.as_bytes())) {
        Ok(())
    } else {
        Err(Deny::bad("Malformed request to the REST bridge."))
    }
}

/// `2011-10-14T16:59:51.123Z`: UTC with a fraction of a second, as Crossbar.io requires.
fn parse_timestamp(ts: &str) -> Option<SystemTime> {
    let (_, frac) = ts.strip_suffix('Z')?.rsplit_once('.')?;
    if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    humantime::parse_rfc3339(ts).ok()
}

/// The client's address from a peer in Crossbar.io's notation (`tcp4:127.0.0.1:52364`).
pub(crate) fn peer_ip(peer: &str) -> Option<IpAddr> {
    let rest = peer
        .strip_prefix("tcp4:")
        .or_else(|| peer.strip_prefix("tcp6:"))?;
    let (ip, _port) = rest.rsplit_once(':')?;
    ip.parse().ok()
}

fn required_str(
    doc: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<String, Deny> {
    match doc.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Deny::bad(format!(
            "Request body was valid JSON, but not well formed ('{key}' must be a string)."
        ))),
        None => Err(Deny::bad(format!(
            "Request body was valid JSON, but not well formed (missing key '{key}')."
        ))),
    }
}

/// `args` (a list) and `kwargs` (a dict) of the body; absent or empty values are none.
fn arguments(doc: &serde_json::Map<String, serde_json::Value>) -> Result<(List, Dict), Deny> {
    let malformed = |what: &str| {
        Deny::bad(format!(
            "Request body was valid JSON, but not well formed ({what})."
        ))
    };
    let args = match doc.get("args") {
        None | Some(serde_json::Value::Null) => List::new(),
        Some(v @ serde_json::Value::Array(_)) => match Value::from(v.clone()) {
            Value::List(l) => l,
            _ => List::new(),
        },
        Some(_) => return Err(malformed("'args' must be a list")),
    };
    let kwargs = match doc.get("kwargs") {
        None | Some(serde_json::Value::Null) => Dict::new(),
        Some(v @ serde_json::Value::Object(_)) => match Value::from(v.clone()) {
            Value::Dict(d) => d,
            _ => Dict::new(),
        },
        Some(_) => return Err(malformed("'kwargs' must be a dict")),
    };
    Ok((args, kwargs))
}

/// The body's publish `options`, always acknowledged (the publication id is the answer).
fn publish_options(options: Option<&serde_json::Value>) -> Result<PublishOptions, Deny> {
    let mut opts = PublishOptions::acknowledged();
    let Some(serde_json::Value::Object(o)) = options else {
        return match options {
            None | Some(serde_json::Value::Null) => Ok(opts),
            Some(_) => Err(Deny::bad(
                "Request body was valid JSON, but not well formed ('options' must be a dict).",
            )),
        };
    };
    let bad = |k: &str| {
        Deny::bad(format!(
            "Request body was valid JSON, but not well formed (invalid publish option '{k}')."
        ))
    };
    let ids = |k: &str, v: &serde_json::Value| -> Result<Vec<u64>, Deny> {
        v.as_array()
            .and_then(|a| a.iter().map(serde_json::Value::as_u64).collect())
            .ok_or_else(|| bad(k))
    };
    let strs = |k: &str, v: &serde_json::Value| -> Result<Vec<String>, Deny> {
        v.as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| bad(k))
    };
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "exclude_me" => opts.exclude_me = v.as_bool().ok_or_else(|| bad(k))?,
            "exclude" => opts.exclude = ids(k, v)?,
            "exclude_authid" => opts.exclude_authid = strs(k, v)?,
            "exclude_authrole" => opts.exclude_authrole = strs(k, v)?,
            "eligible" => opts.eligible = Some(ids(k, v)?),
            "eligible_authid" => opts.eligible_authid = Some(strs(k, v)?),
            "eligible_authrole" => opts.eligible_authrole = Some(strs(k, v)?),
            // Accepted as Crossbar.io does; this router keeps no retained events yet.
            "retain" | "forward_for" => {}
            _ => {}
        }
    }
    Ok(opts)
}

fn json_list(l: List) -> serde_json::Value {
    Value::List(l).into()
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = status;
    r
}

/// `{"error": …, "args": …, "kwargs": …}` in that key order, as Crossbar.io writes it.
fn error_response(status: StatusCode, error: &str, args: List, kwargs: Dict) -> Response<Body> {
    let text = format!(
        "{{\"error\":{},\"args\":{},\"kwargs\":{}}}",
        serde_json::Value::from(error),
        json_list(args),
        serde_json::Value::from(Value::Dict(kwargs))
    );
    let mut r = Response::new(full(text));
    *r.status_mut() = status;
    r
}

/// A refusal: `{"error": message, "args": [], "kwargs": {}}`.
fn denied(status: StatusCode, message: &str) -> Response<Body> {
    error_response(status, message, List::new(), Dict::new())
}

/// A WAMP error: status 200 with its URI and arguments; any other failure: 500.
fn wamp_failure(e: ClientError) -> Response<Body> {
    match e {
        ClientError::Wamp(e) => error_response(StatusCode::OK, &e.error, e.args, e.kwargs),
        _ => runtime_error(),
    }
}

fn runtime_error() -> Response<Body> {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "wamp.error.runtime_error",
        vec![Value::from("Sorry, Crossbar.io has encountered a problem.")],
        Dict::new(),
    )
}

/// A header name as Twisted capitalizes it (`Content-Type`, `X-Hub-Signature`, `ETag`).
fn header_name(lower: &str) -> String {
    const SPECIAL: &[&str] = &[
        "DNT",
        "ETag",
        "TE",
        "Content-MD5",
        "WWW-Authenticate",
        "X-XSS-Protection",
        "P3P",
    ];
    if let Some(s) = SPECIAL.iter().find(|s| s.eq_ignore_ascii_case(lower)) {
        return (*s).to_owned();
    }
    lower
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
