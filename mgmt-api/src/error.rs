//! The error of a management call: a `crossbar.error.*` URI ([`crate::vocabulary::error`]), a
//! message for the person who made the call and, rarely, more positional arguments
//! (`cannot_start` carries the worker's log).

use router_core::client::CallError;
use router_core::value::{Dict, Value};

use crate::args::ArgError;
use crate::vocabulary::error;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{uri}: {message}")]
pub struct ApiError {
    pub uri: &'static str,
    pub message: String,
    pub extra: Vec<Value>,
}

impl ApiError {
    pub fn new(uri: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            uri,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(error::INVALID_ARGUMENT, message)
    }

    pub fn runtime(message: impl Into<String>) -> ApiError {
        ApiError::new(error::RUNTIME_ERROR, message)
    }

    /// The same error with one more positional argument after the message.
    pub fn with_arg(mut self, v: impl Into<Value>) -> ApiError {
        self.extra.push(v.into());
        self
    }

    /// The same error with `location` (a key path in a worker item) in front of the message.
    pub fn at(mut self, location: &str) -> ApiError {
        self.message = format!("{location}: {}", self.message);
        self
    }
}

impl From<ArgError> for ApiError {
    fn from(e: ArgError) -> ApiError {
        ApiError::invalid_argument(e.0)
    }
}

impl From<ApiError> for CallError {
    fn from(e: ApiError) -> CallError {
        let mut args = vec![Value::String(e.message)];
        args.extend(e.extra);
        CallError::with_args(e.uri, args, Dict::new())
    }
}
