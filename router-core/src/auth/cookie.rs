//! Cookie tracking and WAMP cookie authentication, as Crossbar.io does them on WebSocket
//! transports (`cookie` on the transport, `auth.cookie` to authenticate by it).
//!
//! Every WebSocket upgrade on a transport with `cookie` carries a tracking cookie (`cbtid`):
//! the client's, if the store knows it, else a new one sent with `Set-Cookie`. A session that
//! joins by any other method records its identity on the cookie; a later connection with the
//! same cookie that offers `cookie` among its authmethods is welcomed with that identity
//! (`authprovider: cookie`) without credentials. Offering other methods instead revokes the
//! cookie's identity until the next successful login, and leaving with `wamp.close.logout`
//! deletes the cookie. The `file` store appends Crossbar.io's JSON lines (one record per change, the
//! last one wins), so a node restart keeps logged-in browsers logged in.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Identity;
use crate::config::ConfigError;
use crate::session::SessionHandle;
use crate::value::{Dict, Value};

/// A transport's `cookie` config (Crossbar.io's `check_transport_cookie`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieConfig {
    /// The cookie's name (default `cbtid`).
    #[serde(default)]
    pub name: Option<String>,
    /// Characters in a new cookie's ID, 6 to 64 (default 24).
    #[serde(default)]
    pub length: Option<usize>,
    /// Lifetime in seconds (default one week).
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub store: Option<StoreConfig>,
    #[serde(default)]
    pub secure: Option<bool>,
    #[serde(default)]
    pub http_strict: Option<bool>,
    #[serde(default)]
    pub same_site: Option<String>,
}

/// Where cookies are kept.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    Memory,
    File {
        /// Relative to the node directory.
        filename: PathBuf,
        #[serde(default)]
        purge_on_startup: bool,
    },
}

const DEFAULT_MAX_AGE: u64 = 86_400 * 7;

impl CookieConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(n) = &self.name
            && (n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
        {
            return Err(ConfigError::new(
                "name",
                format!("invalid cookie name \"{n}\" (letters, digits, _ - . only)"),
            ));
        }
        if let Some(l) = self.length
            && !(6..=64).contains(&l)
        {
            return Err(ConfigError::new(
                "length",
                format!("invalid cookie length {l}: must be >= 6 and <= 64"),
            ));
        }
        if let Some(a) = self.max_age
            && !(1..=86_400 * 360 * 10).contains(&a)
        {
            return Err(ConfigError::new(
                "max_age",
                format!("invalid cookie max_age {a}: must be > 0 seconds and <= 10 years"),
            ));
        }
        Ok(())
    }
}

/// Who a cookie's last successful login was.
#[derive(Clone, Debug, PartialEq)]
pub struct CookieAuth {
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub realm: String,
    pub authextra: Dict,
}

/// One line of the file store, in Crossbar.io's format.
#[derive(Serialize, Deserialize)]
struct Record {
    cbtid: String,
    status: String,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
    max_age: u64,
    #[serde(default)]
    authid: Option<String>,
    #[serde(default)]
    authrole: Option<String>,
    #[serde(default)]
    authmethod: Option<String>,
    #[serde(default)]
    authrealm: Option<String>,
    #[serde(default)]
    authextra: Option<serde_json::Value>,
}

struct Cookie {
    created: String,
    auth: Option<CookieAuth>,
    /// The sessions joined on connections that carry the cookie, which a logout on one of
    /// them ends (Crossbar.io kicks every connection of the cookie).
    sessions: Vec<Weak<SessionHandle>>,
}

/// The cookies of one transport.
pub struct CookieStore {
    name: String,
    length: usize,
    max_age: u64,
    /// `;Secure`, `;HttpOnly`, `;SameSite=…` as configured.
    attributes: String,
    cookies: Mutex<HashMap<String, Cookie>>,
    file: Option<Mutex<File>>,
}

/// A connection's tracking cookie.
#[derive(Clone)]
pub struct CookieTracking {
    pub store: Arc<CookieStore>,
    pub cbtid: String,
}

// The cookie ID is a bearer credential: not for logs.
impl std::fmt::Debug for CookieTracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieTracking(<redacted>)")
    }
}

impl CookieTracking {
    /// Records a session joined on a connection with the cookie (a logout ends it), and its
    /// login on the cookie.
    pub fn join(&self, session: &Arc<SessionHandle>) {
        self.store.add_session(&self.cbtid, session);
        self.remember(&session.identity);
    }

    /// Records a successful login on the cookie (not one made by the cookie itself).
    pub fn remember(&self, identity: &Identity) {
        if identity.authprovider != "cookie" {
            self.store.set_auth(
                &self.cbtid,
                Some(CookieAuth {
                    authid: identity.authid.clone(),
                    authrole: identity.authrole.clone(),
                    authmethod: identity.authmethod.to_string(),
                    realm: identity.realm.clone(),
                    authextra: identity.authextra.clone(),
                }),
            );
        }
    }

    pub fn auth(&self) -> Option<CookieAuth> {
        self.store.auth(&self.cbtid)
    }

    pub fn revoke(&self) {
        self.store.set_auth(&self.cbtid, None);
    }

    /// Deletes the cookie (a logout by session `me`): the next connection with it gets a new
    /// one, and the other sessions joined with it are closed.
    pub fn forget(&self, me: crate::message::Id) {
        let Some(cookie) = self.store.delete(&self.cbtid) else {
            return;
        };
        let mut kicked = 0usize;
        for s in cookie.sessions.iter().filter_map(Weak::upgrade) {
            if s.id != me {
                s.close(
                    "wamp.close.logout",
                    "logged out on another connection with the same cookie",
                );
                kicked += 1;
            }
        }
        tracing::info!(kicked, "wamp.close.logout deleted the session's cookie");
    }
}

impl CookieStore {
    /// The store a transport's `cookie` config asks for; a `file` store is read (and
    /// created) relative to `base_dir`.
    pub fn open(config: &CookieConfig, base_dir: &Path) -> Result<CookieStore, String> {
        let mut attributes = String::new();
        if config.secure == Some(true) {
            attributes.push_str(";Secure");
        }
        if config.http_strict == Some(true) {
            attributes.push_str(";HttpOnly");
        }
        if let Some(s) = &config.same_site {
            attributes.push_str(";SameSite=");
            attributes.push_str(s);
        }
        let mut store = CookieStore {
            name: config.name.clone().unwrap_or_else(|| "cbtid".into()),
            length: config.length.unwrap_or(24),
            max_age: config.max_age.unwrap_or(DEFAULT_MAX_AGE),
            attributes,
            cookies: Mutex::new(HashMap::new()),
            file: None,
        };
        if let Some(StoreConfig::File {
            filename,
            purge_on_startup,
        }) = &config.store
        {
            let path = base_dir.join(filename);
            let cookies = if *purge_on_startup {
                HashMap::new()
            } else {
                load(&path)?
            };
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open cookie store {}: {e}", path.display()))?;
            if *purge_on_startup {
                file.set_len(0)
                    .and_then(|()| file.flush())
                    .map_err(|e| format!("cannot purge cookie store {}: {e}", path.display()))?;
            }
            *store.cookies.get_mut() = cookies;
            store.file = Some(Mutex::new(file));
        }
        Ok(store)
    }

    /// The cookie ID a request's `Cookie` header carries, if it names this store's cookie.
    pub fn parse(&self, cookie_header: Option<&str>) -> Option<String> {
        cookie::Cookie::split_parse(cookie_header?)
            .filter_map(Result::ok)
            .find(|c| c.name() == self.name)
            .map(|c| c.value().to_owned())
    }

    /// The connection's cookie: the client's if the store knows it, else a new one with the
    /// `Set-Cookie` value to send.
    pub fn track(
        self: &Arc<Self>,
        cookie_header: Option<&str>,
    ) -> (CookieTracking, Option<String>) {
        if let Some(cbtid) = self.parse(cookie_header)
            && self.cookies.lock().contains_key(&cbtid)
        {
            let t = CookieTracking {
                store: self.clone(),
                cbtid,
            };
            return (t, None);
        }
        let cbtid = new_id(self.length);
        let created = crate::util::utcnow();
        self.persist(&cbtid, "created", &created, None);
        self.cookies.lock().insert(
            cbtid.clone(),
            Cookie {
                created,
                auth: None,
                sessions: Vec::new(),
            },
        );
        let header = format!(
            "{}={};max-age={}{}",
            self.name, cbtid, self.max_age, self.attributes
        );
        let t = CookieTracking {
            store: self.clone(),
            cbtid,
        };
        (t, Some(header))
    }

    fn auth(&self, cbtid: &str) -> Option<CookieAuth> {
        self.cookies.lock().get(cbtid).and_then(|c| c.auth.clone())
    }

    fn set_auth(&self, cbtid: &str, auth: Option<CookieAuth>) {
        let created = {
            let mut cookies = self.cookies.lock();
            let Some(c) = cookies.get_mut(cbtid) else {
                return;
            };
            if c.auth == auth {
                return;
            }
            c.auth = auth.clone();
            c.created.clone()
        };
        self.persist(cbtid, "modified", &created, auth.as_ref());
    }

    fn add_session(&self, cbtid: &str, session: &Arc<SessionHandle>) {
        if let Some(c) = self.cookies.lock().get_mut(cbtid) {
            c.sessions.retain(|s| s.strong_count() > 0);
            c.sessions.push(Arc::downgrade(session));
        }
    }

    fn delete(&self, cbtid: &str) -> Option<Cookie> {
        let c = self.cookies.lock().remove(cbtid)?;
        self.persist(cbtid, "deleted", &c.created, None);
        Some(c)
    }

    /// Appends a record to the file store; a write failure is logged and the cookie lives on
    /// in memory.
    fn persist(&self, cbtid: &str, status: &str, created: &str, auth: Option<&CookieAuth>) {
        let Some(file) = &self.file else { return };
        let record = Record {
            cbtid: cbtid.to_owned(),
            status: status.to_owned(),
            created: Some(created.to_owned()),
            modified: (status == "modified").then(crate::util::utcnow),
            deleted: (status == "deleted").then(crate::util::utcnow),
            max_age: self.max_age,
            authid: auth.map(|a| a.authid.clone()),
            authrole: auth.map(|a| a.authrole.clone()),
            authmethod: auth.map(|a| a.authmethod.clone()),
            authrealm: auth.map(|a| a.realm.clone()),
            authextra: auth.map(|a| serde_json::Value::from(Value::Dict(a.authextra.clone()))),
        };
        let mut line = match serde_json::to_string(&record) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize a cookie record");
                return;
            }
        };
        line.push('\n');
        let mut f = file.lock();
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.sync_data()) {
            tracing::warn!(error = %e, "cannot write the cookie store");
        }
    }
}

/// The cookies of a file store: the last record of each cookie wins, deleted ones are gone.
fn load(path: &Path) -> Result<HashMap<String, Cookie>, String> {
    let mut cookies = HashMap::new();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cookies),
        Err(e) => return Err(format!("cannot read cookie store {}: {e}", path.display())),
    };
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read cookie store {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                // A torn last line (a crash mid-write) loses that one change only.
                tracing::warn!(path = %path.display(), line = n + 1, error = %e, "skipping a broken cookie record");
                continue;
            }
        };
        if r.deleted.is_some() || r.status == "deleted" {
            cookies.remove(&r.cbtid);
            continue;
        }
        let auth = match (r.authid, r.authrole, r.authmethod, r.authrealm) {
            (Some(authid), Some(authrole), Some(authmethod), Some(realm)) => Some(CookieAuth {
                authid,
                authrole,
                authmethod,
                realm,
                authextra: match r.authextra.map(Value::from) {
                    Some(Value::Dict(d)) => d,
                    _ => Dict::new(),
                },
            }),
            _ => None,
        };
        cookies.insert(
            r.cbtid,
            Cookie {
                created: r.created.unwrap_or_default(),
                auth,
                sessions: Vec::new(),
            },
        );
    }
    Ok(cookies)
}

/// A random cookie ID of `length` characters from `[A-Za-z0-9_-]` (64 symbols: no bias).
fn new_id(length: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut bytes = vec![0u8; length];
    rand::fill(&mut bytes[..]);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 64)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            realm: "realm1".into(),
            authid: "joe".into(),
            authrole: "user".into(),
            authmethod: "ticket".into(),
            authprovider: "static".into(),
            authextra: Dict::new(),
        }
    }

    fn config(store: serde_json::Value) -> CookieConfig {
        serde_json::from_value(serde_json::json!({"store": store, "same_site": "Lax"})).unwrap()
    }

    #[test]
    fn a_new_cookie_then_the_same_one() {
        let s = Arc::new(
            CookieStore::open(
                &config(serde_json::json!({"type": "memory"})),
                Path::new("."),
            )
            .unwrap(),
        );
        let (t, header) = s.track(None);
        let header = header.unwrap();
        assert_eq!(t.cbtid.len(), 24);
        assert_eq!(
            header,
            format!("cbtid={};max-age=604800;SameSite=Lax", t.cbtid)
        );
        let (again, header) = s.track(Some(&format!("other=1; cbtid={}", t.cbtid)));
        assert_eq!((again.cbtid.as_str(), header), (t.cbtid.as_str(), None));
        let (unknown, header) = s.track(Some("cbtid=forged"));
        assert!(
            unknown.cbtid != "forged" && header.is_some(),
            "an unknown cookie is replaced"
        );
    }

    #[test]
    fn the_file_store_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(serde_json::json!({"type": "file", "filename": "cookies.dat"}));
        let s = Arc::new(CookieStore::open(&c, dir.path()).unwrap());
        let (t, _) = s.track(None);
        t.remember(&identity());
        let (other, _) = s.track(None);
        other.remember(&identity());
        other.revoke();
        let (gone, _) = s.track(None);
        gone.remember(&identity());
        gone.forget(0);
        drop(s);
        let s = Arc::new(CookieStore::open(&c, dir.path()).unwrap());
        let (again, header) = s.track(Some(&format!("cbtid={}", t.cbtid)));
        assert!(header.is_none());
        assert_eq!(again.auth().unwrap().authid, "joe");
        assert!(s.auth(&other.cbtid).is_none(), "the revocation was kept");
        assert!(s.track(Some(&format!("cbtid={}", other.cbtid))).1.is_none());
        assert!(
            s.track(Some(&format!("cbtid={}", gone.cbtid))).1.is_some(),
            "deleted"
        );

        let mut purge = c.clone();
        purge.store = Some(StoreConfig::File {
            filename: "cookies.dat".into(),
            purge_on_startup: true,
        });
        let s = CookieStore::open(&purge, dir.path()).unwrap();
        assert!(s.auth(&t.cbtid).is_none());
    }

    #[test]
    fn config_checks() {
        let bad = |v: serde_json::Value| {
            serde_json::from_value::<CookieConfig>(v)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate().map_err(|e| e.path))
        };
        assert_eq!(bad(serde_json::json!({"length": 3})), Err("length".into()));
        assert_eq!(bad(serde_json::json!({"name": "a b"})), Err("name".into()));
        assert_eq!(
            bad(serde_json::json!({"max_age": 0})),
            Err("max_age".into())
        );
        assert!(bad(serde_json::json!({"store": {"type": "redis"}})).is_err());
        assert!(bad(serde_json::json!({"name": "x", "length": 6, "max_age": 60})).is_ok());
    }
}
