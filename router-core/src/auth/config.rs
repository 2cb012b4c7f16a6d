//! The `auth` dict of a Crossbar.io transport config, typed: which methods a transport enables.
//!
//! Accepts what Crossbar.io's `checkconfig.check_transport_auth` accepts for the `static`,
//! `dynamic` and `function` types of `anonymous`, `ticket`, `wampcra`, `cryptosign` and
//! `scram` and `tls`, and `cookie`. Everything Crossbar.io accepts but we do not implement
//! (`trustroots`, the `*-proxy` methods) is a [`ConfigError`] naming its key, so such a config is
//! refused at load instead of running with a method silently missing.
//!
//! `${VAR}` references in secrets (Crossbar.io's `maybe_from_env`) are resolved by the config
//! loader before the tree reaches this module.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{self, ConfigError};
use crate::uri::MatchPolicy;

/// The methods a transport enables, each with its static principal database.
///
/// An empty dict (all `None`) means the same as no `auth` at all, as in Crossbar.io (`if not
/// auth_config`): anyone may join as `anonymous`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawAuthConfig", into = "RawAuthConfig")]
pub struct AuthConfig {
    pub anonymous: Option<MethodConfig<AnonymousAuth>>,
    pub ticket: Option<MethodConfig<TicketAuth>>,
    pub wampcra: Option<MethodConfig<WampCraAuth>>,
    pub cryptosign: Option<MethodConfig<CryptosignAuth>>,
    pub scram: Option<MethodConfig<ScramAuth>>,
    pub tls: Option<MethodConfig<super::tls::TlsAuth>>,
    /// `cookie: {}`: a connection whose tracking cookie carries an earlier login joins as
    /// that login (the transport's `cookie` item does the tracking). Crossbar.io reads no
    /// keys from it; neither do we.
    pub cookie: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AuthConfig {
    /// Reads a transport's `auth` value, reporting errors with their key path (`ticket.type`).
    pub fn from_value(value: serde_json::Value) -> Result<AuthConfig, ConfigError> {
        config::from_value(value)
    }

    /// True when no method is configured (Crossbar.io's default then applies).
    pub fn is_empty(&self) -> bool {
        self.anonymous.is_none()
            && self.ticket.is_none()
            && self.wampcra.is_none()
            && self.cryptosign.is_none()
            && self.scram.is_none()
            && self.tls.is_none()
            && self.cookie.is_none()
    }

    /// The `function` methods, to be hosted (their `realm` set) before the authenticator is
    /// built.
    pub fn functions_mut(&mut self) -> impl Iterator<Item = &mut FunctionAuth> {
        fn function<T>(m: &mut Option<MethodConfig<T>>) -> Option<&mut FunctionAuth> {
            match m {
                Some(MethodConfig::Function(f)) => Some(f),
                _ => None,
            }
        }
        [
            function(&mut self.anonymous),
            function(&mut self.ticket),
            function(&mut self.wampcra),
            function(&mut self.cryptosign),
            function(&mut self.scram),
            function(&mut self.tls),
        ]
        .into_iter()
        .flatten()
    }
}

/// `anonymous: {type: "static", role?, authid?, realm?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousAuth {
    /// The role anonymous sessions get (`anonymous` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// One authid for every anonymous session; when absent each gets a random serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authid: Option<String>,
    /// Crossbar.io accepts and ignores this key; we use it only when HELLO names no realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// `ticket: {type: "static", principals: {<authid>: {ticket, role?}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketAuth {
    pub principals: BTreeMap<String, TicketPrincipal>,
    /// The role of principals that have none (Crossbar.io's `default-role`).
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPrincipal {
    pub ticket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

// Configs get logged; the ticket must not be.
impl fmt::Debug for TicketPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketPrincipal")
            .field("ticket", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// `wampcra: {type: "static", users: {<authid>: {secret, role?, salt?, iterations?, keylen?}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraAuth {
    pub users: BTreeMap<String, WampCraUser>,
    /// The role of users that have none (Crossbar.io's `default-role`).
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WampCraUser {
    /// The shared secret; with `salt`, `iterations` and `keylen` the PBKDF2 key is derived from it.
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(
        default,
        deserialize_with = "at_least_one",
        skip_serializing_if = "Option::is_none"
    )]
    pub iterations: Option<u32>,
    #[serde(
        default,
        deserialize_with = "at_least_one",
        skip_serializing_if = "Option::is_none"
    )]
    pub keylen: Option<u16>,
}

impl WampCraUser {
    /// `(salt, iterations, keylen)` when the secret is salted. Crossbar.io salts only when all
    /// three keys are present; a lone `salt` is ignored there, and so it is here, because the
    /// client must compute the same key as the router.
    pub fn salting(&self) -> Option<(&str, u32, u16)> {
        Some((self.salt.as_deref()?, self.iterations?, self.keylen?))
    }
}

impl fmt::Debug for WampCraUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WampCraUser")
            .field("secret", &"<redacted>")
            .field("role", &self.role)
            .field("salt", &self.salt)
            .field("iterations", &self.iterations)
            .field("keylen", &self.keylen)
            .finish()
    }
}

/// `cryptosign: {type: "static", principals: {<authid>: {realm?, role?, authorized_keys}}}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignAuth {
    pub principals: BTreeMap<String, CryptosignPrincipal>,
    /// The role of principals that have none (Crossbar.io's `default-role`).
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptosignPrincipal {
    /// The only realm this principal may join (and the realm it gets when HELLO names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Ed25519 public keys, 64 hex characters each.
    #[serde(deserialize_with = "public_keys")]
    pub authorized_keys: Vec<String>,
}

/// `scram: {type: "static", principals: {<authid>: {kdf, iterations, memory, salt,
/// stored-key, server-key, role?}}}`: what autobahn's `derive_scram_credential` (or
/// `crossbar auth scram`) prints. The router never sees the password or the KDF's output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScramAuth {
    pub principals: BTreeMap<String, ScramPrincipal>,
    /// The role of principals that have none (Crossbar.io's `default-role`).
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
}

/// One WAMP-SCRAM credential: the parameters the client derives its key with, and the two
/// keys the router checks the proof and signs its answer with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScramPrincipal {
    pub kdf: ScramKdf,
    /// The KDF's iterations (argon2's time cost).
    #[serde(deserialize_with = "positive_u32")]
    pub iterations: u32,
    /// argon2's memory cost in KiB (Crossbar.io requires it for both KDFs).
    #[serde(deserialize_with = "positive_u32")]
    pub memory: u32,
    /// Hex.
    #[serde(deserialize_with = "hex_bytes::<_, 1>", serialize_with = "as_hex")]
    pub salt: Vec<u8>,
    /// Hex, the SHA-256 of the client key (32 bytes).
    #[serde(
        rename = "stored-key",
        deserialize_with = "hex_bytes::<_, 32>",
        serialize_with = "as_hex"
    )]
    pub stored_key: Vec<u8>,
    /// Hex, 32 bytes.
    #[serde(
        rename = "server-key",
        deserialize_with = "hex_bytes::<_, 32>",
        serialize_with = "as_hex"
    )]
    pub server_key: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

// Configs get logged; the keys are password equivalents for the server side.
impl fmt::Debug for ScramPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramPrincipal")
            .field("kdf", &self.kdf)
            .field("iterations", &self.iterations)
            .field("memory", &self.memory)
            .field("keys", &"<redacted>")
            .field("role", &self.role)
            .finish()
    }
}

/// The key derivation functions of WAMP-SCRAM (autobahn's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScramKdf {
    #[serde(rename = "argon2id-13")]
    Argon2id13,
    #[serde(rename = "pbkdf2")]
    Pbkdf2,
}

impl ScramKdf {
    pub fn name(self) -> &'static str {
        match self {
            ScramKdf::Argon2id13 => "argon2id-13",
            ScramKdf::Pbkdf2 => "pbkdf2",
        }
    }

    pub fn from_name(name: &str) -> Option<ScramKdf> {
        match name {
            "argon2id-13" => Some(ScramKdf::Argon2id13),
            "pbkdf2" => Some(ScramKdf::Pbkdf2),
            _ => None,
        }
    }
}

/// A method that checks credentials by calling a WAMP procedure (`type: "dynamic"`), as
/// Crossbar.io's `_init_dynamic_authenticator` reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicAuth {
    /// The procedure called with `(realm, authid, details)`.
    pub authenticator: String,
    /// The realm the procedure is called on (default: the realm the client asked for).
    #[serde(
        default,
        rename = "authenticator-realm",
        skip_serializing_if = "Option::is_none"
    )]
    pub authenticator_realm: Option<String>,
    /// The role of the router's session that calls it (default `trusted`).
    #[serde(
        default,
        rename = "authenticator-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub authenticator_role: Option<String>,
    /// The role when the authenticator's answer names none.
    #[serde(
        default,
        rename = "default-role",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_role: Option<String>,
    /// `anonymous` only: the authid passed to the authenticator (default: a random serial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authid: Option<String>,
    /// crossbar-edge: seconds to wait for the authenticator's answer before the HELLO is
    /// refused (Crossbar.io waits forever). Default [`DynamicAuth::DEFAULT_TIMEOUT_SECS`].
    #[serde(
        default,
        rename = "authenticator-timeout",
        deserialize_with = "positive_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<f64>,
}

impl DynamicAuth {
    pub const DEFAULT_TIMEOUT_SECS: f64 = 10.0;

    /// How long to wait for the authenticator.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout.unwrap_or(Self::DEFAULT_TIMEOUT_SECS))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let loose =
            |u: &str| crate::uri::is_valid(u, crate::uri::UriCheck::Loose, MatchPolicy::Exact);
        if !loose(&self.authenticator) {
            return Err(ConfigError::new(
                "authenticator",
                format!("invalid procedure URI \"{}\"", self.authenticator),
            ));
        }
        Ok(())
    }
}

/// A method whose authenticator is a Python callable (`type: "function"`, Crossbar.io's
/// `create`: a factory called once with `config`, returning `authenticator(realm, authid,
/// details)`). The router worker runs it in a Python child that registers it as
/// [`FunctionAuth::procedure`] on [`FunctionAuth::realm`]; from then on it is called as a
/// dynamic authenticator is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionAuth {
    /// `package.module.function`.
    pub create: String,
    /// Passed to `create`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Crossbar.io passes its worker controller to `create`; there is none here (`None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_controller: Option<bool>,
    /// Where the host registered it; set by the router worker before the transport starts.
    #[serde(skip)]
    pub realm: Option<String>,
    /// See [`DynamicAuth::timeout`].
    #[serde(
        default,
        rename = "authenticator-timeout",
        deserialize_with = "positive_secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<f64>,
}

impl FunctionAuth {
    /// The procedure the host registers for `create` (one per callable, as Crossbar.io
    /// creates each authenticator once).
    pub fn procedure_for(create: &str) -> String {
        format!("crossbar.edge.authenticator.{create}")
    }

    pub fn procedure(&self) -> String {
        Self::procedure_for(&self.create)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let ok = self.create.contains('.')
            && self
                .create
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if !ok {
            return Err(ConfigError::new(
                "create",
                format!(
                    "\"{}\" is not a Python callable (package.module.function)",
                    self.create
                ),
            ));
        }
        Ok(())
    }

    /// The dynamic authenticator this amounts to once hosted.
    pub fn as_dynamic(&self) -> Result<DynamicAuth, ConfigError> {
        let realm = self.realm.clone().ok_or_else(|| {
            ConfigError::new(
                "type",
                "a \"function\" authenticator needs a router worker to host it",
            )
        })?;
        Ok(DynamicAuth {
            authenticator: self.procedure(),
            authenticator_realm: Some(realm),
            authenticator_role: None,
            default_role: None,
            authid: None,
            timeout: self.timeout,
        })
    }
}

/// One method's config: a static principal database, a dynamic authenticator, or a function.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodConfig<T> {
    Static(T),
    Dynamic(DynamicAuth),
    Function(FunctionAuth),
}

impl<T> MethodConfig<T> {
    /// The static database, if the method is static.
    pub fn as_static(&self) -> Option<&T> {
        match self {
            MethodConfig::Static(t) => Some(t),
            MethodConfig::Dynamic(_) | MethodConfig::Function(_) => None,
        }
    }

    /// `static` or `dynamic`, as in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            MethodConfig::Static(_) => "static",
            MethodConfig::Dynamic(_) => "dynamic",
            MethodConfig::Function(_) => "function",
        }
    }
}

/// A method's static config.
trait StaticMethod: DeserializeOwned + Serialize {
    /// Crossbar.io has `function` authenticators for this method.
    const FUNCTION: bool = true;

    /// Refuses keys Crossbar.io accepts for this method but we do not implement.
    fn check_unsupported(
        _obj: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ConfigError> {
        Ok(())
    }
}

impl StaticMethod for AnonymousAuth {
    const FUNCTION: bool = false;
}
impl StaticMethod for TicketAuth {}
impl StaticMethod for WampCraAuth {}
impl StaticMethod for ScramAuth {}
impl StaticMethod for super::tls::TlsAuth {}
impl StaticMethod for CryptosignAuth {
    fn check_unsupported(
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ConfigError> {
        if obj.contains_key("trustroots") {
            return Err(ConfigError::new(
                "trustroots",
                "WAMP-Cryptosign trustroots (certificate chains) are not supported by crossbar-edge; \
                 list the keys under \"principals\"",
            ));
        }
        Ok(())
    }
}

/// A method config in the file's shape: `type: "static"` with the fields of `T`, or
/// `type: "dynamic"` with those of [`DynamicAuth`].
struct Method<T>(MethodConfig<T>);

impl<'de, T: StaticMethod> Deserialize<'de> for Method<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        config::deserialize_tagged(d, "type", |kind, mut value| {
            if let Some(obj) = value.as_object_mut() {
                obj.remove("type");
            }
            match kind {
                "static" => {
                    if let Some(obj) = value.as_object() {
                        T::check_unsupported(obj)?;
                    }
                    config::from_value::<T>(value).map(|t| Method(MethodConfig::Static(t)))
                }
                "dynamic" => {
                    let dynamic = config::from_value::<DynamicAuth>(value)?;
                    dynamic.validate()?;
                    Ok(Method(MethodConfig::Dynamic(dynamic)))
                }
                "function" if !T::FUNCTION => Err(ConfigError::new(
                    "type",
                    "WAMP-Anonymous has no \"function\" type (Crossbar.io has none either): use \"static\" or \"dynamic\"",
                )),
                "function" => {
                    let function = config::from_value::<FunctionAuth>(value)?;
                    function.validate()?;
                    Ok(Method(MethodConfig::Function(function)))
                }
                other => Err(config::unknown_variant(
                    "type",
                    other,
                    &["static", "dynamic", "function"],
                )),
            }
        })
    }
}

impl<T: StaticMethod> Serialize for Method<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let (mut value, kind) = match &self.0 {
            MethodConfig::Static(t) => (serde_json::to_value(t), "static"),
            MethodConfig::Dynamic(d) => (serde_json::to_value(d), "dynamic"),
            MethodConfig::Function(f) => (serde_json::to_value(f), "function"),
        };
        let value = value.as_mut().map_err(S::Error::custom)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("type".into(), kind.into());
        }
        value.serialize(s)
    }
}

/// The `auth` dict as written, including the keys Crossbar.io knows and we refuse.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anonymous: Option<Method<AnonymousAuth>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<Method<TicketAuth>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wampcra: Option<Method<WampCraAuth>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cryptosign: Option<Method<CryptosignAuth>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scram: Option<Method<ScramAuth>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<Method<super::tls::TlsAuth>>,
    // Present only to turn these keys into errors; never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cookie: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(
        default,
        rename = "cryptosign-proxy",
        skip_serializing,
        deserialize_with = "unsupported_method"
    )]
    _cryptosign_proxy: Option<()>,
    #[serde(
        default,
        rename = "anonymous-proxy",
        skip_serializing,
        deserialize_with = "unsupported_method"
    )]
    _anonymous_proxy: Option<()>,
}

impl From<RawAuthConfig> for AuthConfig {
    fn from(raw: RawAuthConfig) -> Self {
        AuthConfig {
            anonymous: raw.anonymous.map(|m| m.0),
            ticket: raw.ticket.map(|m| m.0),
            wampcra: raw.wampcra.map(|m| m.0),
            cryptosign: raw.cryptosign.map(|m| m.0),
            scram: raw.scram.map(|m| m.0),
            tls: raw.tls.map(|m| m.0),
            cookie: raw.cookie,
        }
    }
}

impl From<AuthConfig> for RawAuthConfig {
    fn from(c: AuthConfig) -> Self {
        RawAuthConfig {
            anonymous: c.anonymous.map(Method),
            ticket: c.ticket.map(Method),
            wampcra: c.wampcra.map(Method),
            cryptosign: c.cryptosign.map(Method),
            scram: c.scram.map(Method),
            tls: c.tls.map(Method),
            cookie: c.cookie,
            ..RawAuthConfig::default()
        }
    }
}

fn unsupported_method<'de, D: Deserializer<'de>>(_d: D) -> Result<Option<()>, D::Error> {
    Err(D::Error::custom(
        "authentication method not supported by crossbar-edge (supported: anonymous, ticket, wampcra, cryptosign, scram, tls, cookie)",
    ))
}

fn positive_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v > 0.0 && v.is_finite() && v <= 86_400.0) {
        return Err(D::Error::custom(
            "must be a number of seconds above 0 (at most 86400)",
        ));
    }
    Ok(Some(v))
}

fn at_least_one<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default + PartialEq,
{
    let v = T::deserialize(d)?;
    if v == T::default() {
        return Err(D::Error::custom("must be at least 1"));
    }
    Ok(Some(v))
}

fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == 0 {
        return Err(D::Error::custom("must be at least 1"));
    }
    Ok(v)
}

/// Hex text of at least `MIN` bytes (and exactly `MIN` when `MIN` is a key length of 32).
fn hex_bytes<'de, D: Deserializer<'de>, const MIN: usize>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    let bytes = hex::decode(&text).map_err(|e| D::Error::custom(format!("not hex: {e}")))?;
    let ok = if MIN == 32 {
        bytes.len() == 32
    } else {
        bytes.len() >= MIN
    };
    if !ok {
        return Err(D::Error::custom(if MIN == 32 {
            format!("must be 32 bytes (64 hex characters), not {}", bytes.len())
        } else {
            "must not be empty".to_owned()
        }));
    }
    Ok(bytes)
}

fn as_hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

fn public_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let keys = Vec::<String>::deserialize(d)?;
    for (i, k) in keys.iter().enumerate() {
        if let Err(e) = super::cryptosign::parse_public_key(k) {
            return Err(D::Error::custom(format!("[{i}]: {e}")));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d";

    fn err(v: serde_json::Value) -> ConfigError {
        AuthConfig::from_value(v).unwrap_err()
    }

    #[test]
    fn reads_all_static_methods() {
        let c = AuthConfig::from_value(json!({
            "anonymous": {"type": "static", "role": "public"},
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "secret!", "role": "user"}}},
            "wampcra": {"type": "static", "users": {
                "peter": {"secret": "prq7+YkJ1/KlW1X0YczMHw==", "role": "user",
                          "salt": "salt123", "iterations": 100, "keylen": 16}}},
            "cryptosign": {"type": "static", "principals": {
                "client01@example.com": {"realm": "devices", "role": "device", "authorized_keys": [KEY]}}}
        }))
        .unwrap();
        assert_eq!(
            c.anonymous
                .as_ref()
                .unwrap()
                .as_static()
                .unwrap()
                .role
                .as_deref(),
            Some("public")
        );
        assert_eq!(
            c.ticket.as_ref().unwrap().as_static().unwrap().principals["joe"].ticket,
            "secret!"
        );
        let peter = &c.wampcra.as_ref().unwrap().as_static().unwrap().users["peter"];
        assert_eq!(peter.salting(), Some(("salt123", 100, 16)));
        let p = &c
            .cryptosign
            .as_ref()
            .unwrap()
            .as_static()
            .unwrap()
            .principals["client01@example.com"];
        assert_eq!(p.realm.as_deref(), Some("devices"));
        assert!(!c.is_empty());

        // Round trip: serialization writes `type: static` back.
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["ticket"]["type"], "static");
        assert_eq!(AuthConfig::from_value(v).unwrap(), c);
    }

    #[test]
    fn reads_dynamic_methods() {
        let c = AuthConfig::from_value(json!({
            "ticket": {"type": "dynamic", "authenticator": "com.example.authenticate",
                       "authenticator-realm": "auth", "default-role": "user"},
            "anonymous": {"type": "dynamic", "authenticator": "com.example.anon",
                          "authid": "guest", "authenticator-timeout": 2.5}
        }))
        .unwrap();
        let MethodConfig::Dynamic(t) = c.ticket.as_ref().unwrap() else {
            panic!("ticket is dynamic");
        };
        assert_eq!(t.authenticator, "com.example.authenticate");
        assert_eq!(t.authenticator_realm.as_deref(), Some("auth"));
        assert_eq!(t.default_role.as_deref(), Some("user"));
        assert_eq!(t.timeout(), std::time::Duration::from_secs(10));
        let MethodConfig::Dynamic(a) = c.anonymous.as_ref().unwrap() else {
            panic!("anonymous is dynamic");
        };
        assert_eq!(a.timeout(), std::time::Duration::from_millis(2500));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["ticket"]["type"], "dynamic");
        assert_eq!(AuthConfig::from_value(v).unwrap(), c);

        let e = err(json!({"ticket": {"type": "dynamic"}}));
        assert_eq!(e.path, "ticket");
        assert!(e.message.contains("authenticator"), "{e}");
        let e =
            err(json!({"ticket": {"type": "dynamic", "authenticator": "com.x", "principals": {}}}));
        assert_eq!(e.path, "ticket.principals");
        let e = err(json!({"ticket": {"type": "dynamic", "authenticator": "com x"}}));
        assert_eq!(e.path, "ticket.authenticator");
        let e = err(
            json!({"ticket": {"type": "dynamic", "authenticator": "com.x", "authenticator-timeout": 0}}),
        );
        assert_eq!(e.path, "ticket.authenticator-timeout");
    }

    #[test]
    fn reads_scram_principals() {
        let key = "ab".repeat(32);
        let c = AuthConfig::from_value(json!({"scram": {"type": "static", "principals": {
            "alice": {"kdf": "argon2id-13", "iterations": 4096, "memory": 512, "salt": "00ff",
                      "stored-key": key, "server-key": key, "role": "user"}}}}))
        .unwrap();
        let p = &c.scram.as_ref().unwrap().as_static().unwrap().principals["alice"];
        assert_eq!(
            (p.kdf, p.salt.as_slice()),
            (ScramKdf::Argon2id13, &[0, 255][..])
        );
        assert!(
            !format!("{c:?}").contains(&key),
            "keys are not debug-printed"
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["scram"]["principals"]["alice"]["stored-key"],
            key.as_str()
        );
        assert_eq!(AuthConfig::from_value(v).unwrap(), c);

        let bad = |field: &str, value: serde_json::Value| {
            let mut p = json!({"kdf": "pbkdf2", "iterations": 1, "memory": 1, "salt": "00",
                               "stored-key": key, "server-key": key});
            p[field] = value;
            err(json!({"scram": {"type": "static", "principals": {"a": p}}}))
        };
        assert_eq!(bad("kdf", json!("md5")).path, "scram.principals.a.kdf");
        assert_eq!(bad("memory", json!(0)).path, "scram.principals.a.memory");
        assert_eq!(bad("salt", json!("xyz")).path, "scram.principals.a.salt");
        let e = bad("server-key", json!("abcd"));
        assert_eq!(e.path, "scram.principals.a.server-key");
        assert!(e.message.contains("32 bytes"), "{e}");
    }

    #[test]
    fn empty_dict_is_empty() {
        assert!(AuthConfig::from_value(json!({})).unwrap().is_empty());
    }

    #[test]
    fn lone_salt_is_not_salting() {
        let c = AuthConfig::from_value(json!({"wampcra": {"type": "static", "users": {
            "a": {"secret": "s", "salt": "x"}}}}))
        .unwrap();
        assert_eq!(
            c.wampcra.unwrap().as_static().unwrap().users["a"].salting(),
            None
        );
    }

    #[test]
    fn unsupported_types_and_methods_name_their_key() {
        let mut c = AuthConfig::from_value(
            json!({"ticket": {"type": "function", "create": "auth.create", "config": {"a": 1}}}),
        )
        .unwrap();
        let f = c.functions_mut().next().unwrap();
        assert_eq!(f.procedure(), "crossbar.edge.authenticator.auth.create");
        assert!(f.as_dynamic().is_err(), "not hosted yet");
        f.realm = Some("realm1".into());
        assert_eq!(
            f.as_dynamic().unwrap().authenticator_realm.as_deref(),
            Some("realm1")
        );
        let e = err(json!({"ticket": {"type": "function", "create": "nodots"}}));
        assert_eq!(e.path, "ticket.create");
        let e = err(json!({"ticket": {"type": "function", "create": "a.b", "bogus": 1}}));
        assert!(e.to_string().contains("bogus"), "{e}");

        let e = err(json!({"wampcra": {"type": "ldap"}}));
        assert_eq!(e.path, "wampcra.type");
        assert!(
            e.message
                .contains("expected one of: static, dynamic, function"),
            "{e}"
        );

        for m in ["cryptosign-proxy", "anonymous-proxy"] {
            let e = err(json!({ m: {"type": "static"} }));
            assert_eq!(e.path, m);
            assert!(e.message.contains("not supported"), "{e}");
        }

        let e = err(json!({"kerberos": {}}));
        assert_eq!(e.path, "kerberos");
        assert!(e.message.contains("unknown field"), "{e}");

        let e = err(
            json!({"cryptosign": {"type": "static", "trustroots": {"r": {"certificate": "c.json"}}}}),
        );
        assert_eq!(e.path, "cryptosign.trustroots");
    }

    #[test]
    fn field_errors_have_paths() {
        let e = err(json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": 5}}}}));
        assert_eq!(e.path, "ticket.principals.joe.ticket");

        let e = err(
            json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "x": 1}}}}),
        );
        assert_eq!(e.path, "ticket.principals.joe.x");

        let e = err(json!({"anonymous": {"role": "x"}}));
        assert_eq!(e.path, "anonymous.type");

        let e = err(json!({"anonymous": {"type": "static", "principals": {}}}));
        assert_eq!(e.path, "anonymous.principals");

        let e = err(
            json!({"wampcra": {"type": "static", "users": {"a": {"secret": "s", "iterations": 0}}}}),
        );
        assert_eq!(e.path, "wampcra.users.a.iterations");

        let e = err(
            json!({"wampcra": {"type": "static", "users": {"a": {"secret": "s", "keylen": 70000}}}}),
        );
        assert_eq!(e.path, "wampcra.users.a.keylen");

        let e = err(json!({"cryptosign": {"type": "static", "principals": {
            "a": {"role": "r", "authorized_keys": [KEY, "abc"]}}}}));
        assert_eq!(e.path, "cryptosign.principals.a.authorized_keys");
        assert!(e.message.starts_with("[1]:"), "{e}");

        let e = err(json!({"cryptosign": {"type": "static"}}));
        assert_eq!(e.path, "cryptosign");
        assert!(e.message.contains("principals"), "{e}");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let c = AuthConfig::from_value(json!({
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "hunter2"}}},
            "wampcra": {"type": "static", "users": {"ann": {"secret": "swordfish"}}}
        }))
        .unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && !s.contains("swordfish"), "{s}");
    }
}
