//! One way to serve a table of procedures: each [`Procedure`] with the function that answers
//! it, registered under an API's prefix on a session of the management realm.
//!
//! Handlers receive the API's state as an `Arc`, held weakly by the registrations so that they
//! never keep a stopped API alive: once it is dropped, calls answer `gone`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};

use router_core::client::{CallError, ClientError, RegisterOptions, Registration, Session};
use router_core::message::Payload;
use router_core::value::Value;
use tracing::debug;

use crate::args::Args;
use crate::error::ApiError;
use crate::procedures::Procedure;

/// What a procedure answers: one positional result, or an error.
pub type Answer = Result<Value, ApiError>;
pub type HandlerFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;
/// What answers one procedure, given the API's state and the call's arguments.
pub type Handler<S> = fn(Arc<S>, Args) -> HandlerFuture;

/// A table entry: a procedure and its handler.
pub type Entry<S> = (Procedure, Handler<S>);

/// Builds a [`Handler`] from a closure-like body: `handler!(|api, args| api.list(&args).await)`
/// where the body is a `Result<T, ApiError>` for any `T: Into<Value>` (JSON included).
#[macro_export]
macro_rules! handler {
    (|$state:pat_param, $args:pat_param| $body:expr) => {
        |$state, $args| -> $crate::serve::HandlerFuture {
            ::std::boxed::Box::pin(async move { $crate::serve::answer($body) })
        }
    };
}

/// The [`Answer`] of a handler's result.
pub fn answer<T: Into<Value>, E: Into<ApiError>>(r: Result<T, E>) -> Answer {
    r.map(Into::into).map_err(Into::into)
}

/// Registers every entry of `table` as `<prefix>.<name>` on `session`. `gone` is the error
/// URI answered once `state` has been dropped.
pub async fn serve<S: Send + Sync + 'static>(
    session: &Session,
    prefix: &str,
    state: &Arc<S>,
    table: &[Entry<S>],
    gone: &'static str,
) -> Result<Vec<Registration>, ClientError> {
    let mut registrations = Vec::with_capacity(table.len());
    for &(procedure, handler) in table {
        let weak: Weak<S> = Arc::downgrade(state);
        let uri: Arc<str> = format!("{prefix}.{}", procedure.name).into();
        let reg = session
            .register(&uri.clone(), RegisterOptions::default(), move |inv| {
                let (weak, uri) = (weak.clone(), uri.clone());
                async move {
                    let state = weak.upgrade().ok_or_else(|| {
                        CallError::with_message(gone, "this management API has stopped")
                    })?;
                    let args = Args::from_invocation(&inv);
                    debug!(procedure = %uri, "management call");
                    match handler(state, args).await {
                        Ok(v) => Ok(Payload::args(vec![v])),
                        Err(e) => {
                            debug!(procedure = %uri, error = %e, "management call failed");
                            Err(e.into())
                        }
                    }
                }
            })
            .await?;
        registrations.push(reg);
    }
    Ok(registrations)
}

/// The procedures of `table` that are not in `expected`, and those of `expected` missing from
/// it (for each API's completeness test).
pub fn table_mismatch<S>(
    table: &[Entry<S>],
    expected: &[Procedure],
) -> (Vec<&'static str>, Vec<&'static str>) {
    let extra = table
        .iter()
        .filter(|(p, _)| !expected.contains(p))
        .map(|(p, _)| p.name)
        .collect();
    let missing = expected
        .iter()
        .filter(|p| !table.iter().any(|(q, _)| q == *p))
        .map(|p| p.name)
        .collect();
    (extra, missing)
}

/// The registrations of an API served after its state was built (the handlers need the
/// state's `Arc`): set once, kept alive with the state, listed by URI.
#[derive(Default)]
pub struct Registrations(std::sync::OnceLock<Vec<Registration>>);

impl Registrations {
    /// Keeps `registrations` (only the first call counts: an API is served once).
    pub fn set(&self, registrations: Vec<Registration>) {
        let _ = self.0.set(registrations);
    }

    /// The registered procedure URIs.
    pub fn uris(&self) -> Vec<String> {
        self.0
            .get()
            .map(|r| r.iter().map(|r| r.procedure.clone()).collect())
            .unwrap_or_default()
    }
}
