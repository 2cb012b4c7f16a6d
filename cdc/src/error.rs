//! The CDC's error vocabulary: one `cdc.error.<reason>` URI per failure, and the typed error
//! that library code returns and the WAMP layer turns into an ERROR message.

/// Error URIs, all `cdc.error.<reason>` with a lowercase reason (the test below checks).
pub mod uri {
    pub const INVALID_ARGUMENT: &str = "cdc.error.invalid_argument";
    pub const ALREADY_EXISTS: &str = "cdc.error.already_exists";
    pub const NO_SUCH_USER: &str = "cdc.error.no_such_user";
    pub const NO_SUCH_REALM: &str = "cdc.error.no_such_realm";
    pub const NO_SUCH_NODE: &str = "cdc.error.no_such_node";
    pub const NO_SUCH_WORKER: &str = "cdc.error.no_such_worker";
    pub const NO_SUCH_PROFILE: &str = "cdc.error.no_such_profile";
    pub const NO_SUCH_VERIFICATION: &str = "cdc.error.no_such_verification";
    pub const NOT_AUTHORIZED: &str = "cdc.error.not_authorized";
    pub const VERIFICATION_FAILED: &str = "cdc.error.verification_failed";
    pub const TOO_MANY_TRIES: &str = "cdc.error.too_many_tries";
    pub const EXPIRED: &str = "cdc.error.expired";
    pub const NODE_OFFLINE: &str = "cdc.error.node_offline";
    pub const NODE_TIMEOUT: &str = "cdc.error.node_timeout";
    pub const MAIL_FAILED: &str = "cdc.error.mail_failed";
    pub const INTERNAL_ERROR: &str = "cdc.error.internal_error";

    /// Every URI above, for the consistency test and the documentation.
    pub const ALL: &[&str] = &[
        INVALID_ARGUMENT,
        ALREADY_EXISTS,
        NO_SUCH_USER,
        NO_SUCH_REALM,
        NO_SUCH_NODE,
        NO_SUCH_WORKER,
        NO_SUCH_PROFILE,
        NO_SUCH_VERIFICATION,
        NOT_AUTHORIZED,
        VERIFICATION_FAILED,
        TOO_MANY_TRIES,
        EXPIRED,
        NODE_OFFLINE,
        NODE_TIMEOUT,
        MAIL_FAILED,
        INTERNAL_ERROR,
    ];
}

/// A failure of a management operation; the message is meant for the person who made the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdcError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    NoSuchUser(String),
    #[error("{0}")]
    NoSuchRealm(String),
    #[error("{0}")]
    NoSuchNode(String),
    #[error("{0}")]
    NoSuchWorker(String),
    #[error("{0}")]
    NoSuchProfile(String),
    #[error("{0}")]
    NoSuchVerification(String),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    VerificationFailed(String),
    #[error("{0}")]
    TooManyTries(String),
    #[error("{0}")]
    Expired(String),
    #[error("{0}")]
    NodeOffline(String),
    #[error("{0}")]
    NodeTimeout(String),
    #[error("{0}")]
    MailFailed(String),
    #[error("{0}")]
    Internal(String),
}

impl CdcError {
    /// The `cdc.error.*` URI of this error.
    pub fn uri(&self) -> &'static str {
        match self {
            CdcError::InvalidArgument(_) => uri::INVALID_ARGUMENT,
            CdcError::AlreadyExists(_) => uri::ALREADY_EXISTS,
            CdcError::NoSuchUser(_) => uri::NO_SUCH_USER,
            CdcError::NoSuchRealm(_) => uri::NO_SUCH_REALM,
            CdcError::NoSuchNode(_) => uri::NO_SUCH_NODE,
            CdcError::NoSuchWorker(_) => uri::NO_SUCH_WORKER,
            CdcError::NoSuchProfile(_) => uri::NO_SUCH_PROFILE,
            CdcError::NoSuchVerification(_) => uri::NO_SUCH_VERIFICATION,
            CdcError::NotAuthorized(_) => uri::NOT_AUTHORIZED,
            CdcError::VerificationFailed(_) => uri::VERIFICATION_FAILED,
            CdcError::TooManyTries(_) => uri::TOO_MANY_TRIES,
            CdcError::Expired(_) => uri::EXPIRED,
            CdcError::NodeOffline(_) => uri::NODE_OFFLINE,
            CdcError::NodeTimeout(_) => uri::NODE_TIMEOUT,
            CdcError::MailFailed(_) => uri::MAIL_FAILED,
            CdcError::Internal(_) => uri::INTERNAL_ERROR,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CdcError::InvalidArgument(message.into())
    }
}

impl From<mgmt_api::ArgError> for CdcError {
    fn from(e: mgmt_api::ArgError) -> Self {
        CdcError::InvalidArgument(e.0)
    }
}

// Database failures are internal: the caller did nothing wrong and gets no SQL details.
impl From<rusqlite::Error> for CdcError {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "registry database error");
        CdcError::Internal(format!("registry database error: {e}"))
    }
}

pub type Result<T, E = CdcError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_follow_one_pattern() {
        let mut seen = std::collections::HashSet::new();
        for u in uri::ALL {
            let reason = u.strip_prefix("cdc.error.").expect("cdc.error. prefix");
            assert!(!reason.is_empty(), "{u}");
            assert!(
                reason.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{u}"
            );
            assert!(seen.insert(*u), "duplicate {u}");
        }
    }

    #[test]
    fn every_variant_has_a_listed_uri() {
        let all = [
            CdcError::InvalidArgument(String::new()),
            CdcError::AlreadyExists(String::new()),
            CdcError::NoSuchUser(String::new()),
            CdcError::NoSuchRealm(String::new()),
            CdcError::NoSuchNode(String::new()),
            CdcError::NoSuchWorker(String::new()),
            CdcError::NoSuchProfile(String::new()),
            CdcError::NoSuchVerification(String::new()),
            CdcError::NotAuthorized(String::new()),
            CdcError::VerificationFailed(String::new()),
            CdcError::TooManyTries(String::new()),
            CdcError::Expired(String::new()),
            CdcError::NodeOffline(String::new()),
            CdcError::NodeTimeout(String::new()),
            CdcError::MailFailed(String::new()),
            CdcError::Internal(String::new()),
        ];
        assert_eq!(all.len(), uri::ALL.len());
        for e in all {
            assert!(uri::ALL.contains(&e.uri()), "{e:?}");
        }
    }
}
