//! Failed password logins per client address: after [`THRESHOLD`] failures from one address
//! within [`WINDOW`], its password logins are refused for [`COOLDOWN`] (`docs/auth.md`).
//!
//! Only what can be guessed counts: the password methods (ticket, wampcra, scram). A cryptosign
//! key or a TLS certificate cannot be guessed, so their failures do not count and their logins
//! are never refused here — a fleet of unpaired nodes behind one NAT address, retrying keys a
//! CDC does not know yet, must not lock the address out. Anonymous and cookie logins are not
//! limited either. Connections that are not TCP (a worker's pipe, node.sock, in-process
//! links) have no address and are never limited. IPv6 addresses count by their /64.
//!
//! Every check of a password credential holds a place for its address while it runs
//! ([`Attempt`]), and an address gets no place once its failures and the checks in flight
//! reach the threshold: many concurrent guesses from one address are never more than
//! [`THRESHOLD`] checked ones. The table holds only addresses with failures or a check in flight
//! and is capped at [`MAX_ADDRESSES`]; on the success path a login costs two short lock
//! holds, and logins that are not by password none.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{AuthDenied, HelloInfo, reason};
use crate::util::HashMap;

/// Failed password logins from one address within [`WINDOW`] before it is refused.
pub const THRESHOLD: u32 = 20;
/// The window failures are counted in, from the first one.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long an address is refused once it reached [`THRESHOLD`].
pub const COOLDOWN: Duration = Duration::from_secs(60);
/// The most addresses tracked at once (about 100 bytes each).
pub const MAX_ADDRESSES: usize = 10_000;
/// The start of the ABORT message of a refused login (its reason is
/// `wamp.error.authentication_failed`).
pub const REFUSED: &str = "authentication rate-limited";

/// The methods whose secrets a client could guess.
pub fn is_password_method(method: &str) -> bool {
    matches!(method, "ticket" | "wampcra" | "scram")
}

/// The address a HELLO counts against: `None` when it is not limited (no TCP peer, or no
/// password method offered).
pub fn subject(hello: &HelloInfo) -> Option<IpAddr> {
    if !hello.authmethods.iter().any(|m| is_password_method(m)) {
        return None;
    }
    address(&hello.transport.peer)
}

/// The counted address of a peer in Crossbar.io's notation (`tcp4:127.0.0.1:52364`,
/// `tcp6:::1:52364`): IPv4 as it is, IPv6 by its /64.
fn address(peer: &str) -> Option<IpAddr> {
    let rest = peer
        .strip_prefix("tcp4:")
        .or_else(|| peer.strip_prefix("tcp6:"))?;
    let (ip, _port) = rest.rsplit_once(':')?;
    match ip.parse().ok()? {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            Some(IpAddr::V6(prefix.into()))
        }
        v4 => Some(v4),
    }
}

/// Does this denial count as a failed guess? Not when it says the router cannot serve the
/// client at all (no such method, realm, role, or authenticator procedure).
fn counts(denied: &AuthDenied) -> bool {
    !matches!(
        denied.reason.as_str(),
        reason::NO_AUTH_METHOD
            | reason::NO_SUCH_REALM
            | reason::NO_SUCH_ROLE
            | "wamp.error.no_such_procedure"
    )
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    in_flight: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|&b| b > now)
            .map(|b| b.saturating_duration_since(now))
    }

    /// Forgets failures whose window or cooldown is over.
    fn refresh(&mut self, now: Instant) {
        let over = match self.blocked_until {
            Some(b) => b <= now,
            None => now.saturating_duration_since(self.window_start) >= WINDOW,
        };
        if over {
            self.failures = 0;
            self.blocked_until = None;
            self.window_start = now;
        }
    }

    fn idle(&self) -> bool {
        self.in_flight == 0 && self.failures == 0 && self.blocked_until.is_none()
    }
}

/// The failed logins of a router's clients by address (one per [`crate::Router`]).
#[derive(Debug, Default)]
pub struct AuthRateLimit {
    table: Mutex<HashMap<IpAddr, Entry>>,
}

/// Bounds the warnings a flood of addresses can make us write.
static BLOCK_LOG: crate::util::RateLimit = crate::util::RateLimit::new(10);

impl AuthRateLimit {
    /// Takes a place for checking a credential from `addr` (`None`: not limited), or refuses
    /// it with `wamp.error.authentication_failed`.
    pub fn begin(&self, addr: Option<IpAddr>) -> Result<Attempt<'_>, AuthDenied> {
        match addr {
            None => Ok(Attempt {
                limit: self,
                addr: None,
            }),
            Some(a) => self.begin_at(a, Instant::now()),
        }
    }

    fn begin_at(&self, addr: IpAddr, now: Instant) -> Result<Attempt<'_>, AuthDenied> {
        let mut table = self.table.lock();
        if let Some(e) = table.get_mut(&addr) {
            e.refresh(now);
            if let Some(left) = e.blocked(now) {
                return Err(refused(left));
            }
            if e.failures + e.in_flight >= THRESHOLD {
                // Checks in flight would reach the threshold if they failed: wait for them.
                return Err(refused(Duration::from_secs(1)));
            }
            e.in_flight += 1;
        } else {
            if table.len() >= MAX_ADDRESSES {
                purge(&mut table, now);
            }
            if table.len() >= MAX_ADDRESSES {
                // Every place is taken by an address that is refused or being checked: this
                // one goes untracked rather than refused (a flood of addresses must not lock
                // everybody else out).
                return Ok(Attempt {
                    limit: self,
                    addr: None,
                });
            }
            table.insert(
                addr,
                Entry {
                    failures: 0,
                    in_flight: 1,
                    window_start: now,
                    blocked_until: None,
                },
            );
        }
        Ok(Attempt {
            limit: self,
            addr: Some(addr),
        })
    }

    fn finish(&self, addr: IpAddr, failed: bool, now: Instant) {
        let mut table = self.table.lock();
        let Some(e) = table.get_mut(&addr) else {
            return;
        };
        e.in_flight = e.in_flight.saturating_sub(1);
        if failed {
            e.refresh(now);
            e.failures += 1;
            if e.failures >= THRESHOLD && e.blocked_until.is_none() {
                e.blocked_until = Some(now + COOLDOWN);
                if let Some(suppressed) = BLOCK_LOG.allow() {
                    tracing::warn!(
                        address = %addr,
                        failures = e.failures,
                        cooldown_s = COOLDOWN.as_secs(),
                        suppressed,
                        "refusing password logins from an address after too many failed ones"
                    );
                }
            }
        }
        if e.idle() {
            table.remove(&addr);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().len()
    }
}

/// Makes room in a full table: first what is over anyway, then the failure counts of
/// addresses that are neither refused nor being checked.
fn purge(table: &mut HashMap<IpAddr, Entry>, now: Instant) {
    table.retain(|_, e| {
        e.refresh(now);
        !e.idle()
    });
    if table.len() >= MAX_ADDRESSES {
        table.retain(|_, e| e.in_flight > 0 || e.blocked(now).is_some());
    }
}

fn refused(left: Duration) -> AuthDenied {
    AuthDenied::new(
        reason::AUTHENTICATION_FAILED,
        format!(
            "{REFUSED}: too many failed logins from this address, try again in {} s",
            left.as_secs().max(1)
        ),
    )
}

/// A credential check from one address; its place is given back when it is recorded or
/// dropped (a connection lost during the check counts as nothing).
pub struct Attempt<'a> {
    limit: &'a AuthRateLimit,
    addr: Option<IpAddr>,
}

impl Attempt<'_> {
    /// Records the check's outcome: a denial that [counts](counts) is a failure.
    pub fn record(self, denied: Option<&AuthDenied>) {
        self.record_at(denied, Instant::now());
    }

    fn record_at(mut self, denied: Option<&AuthDenied>, now: Instant) {
        if let Some(addr) = self.addr.take() {
            self.limit.finish(addr, denied.is_some_and(counts), now);
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(addr) = self.addr.take() {
            self.limit.finish(addr, false, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn wrong() -> AuthDenied {
        AuthDenied::new(reason::NOT_AUTHORIZED, "ticket is invalid")
    }

    fn fail(l: &AuthRateLimit, a: IpAddr, now: Instant) -> Result<(), AuthDenied> {
        l.begin_at(a, now)?.record_at(Some(&wrong()), now);
        Ok(())
    }

    #[test]
    fn addresses_in_crossbar_notation() {
        assert_eq!(address("tcp4:10.1.2.3:5000"), Some(ip("10.1.2.3")));
        assert_eq!(
            address("tcp6:2001:db8:1:2:3:4:5:6:5000"),
            Some(ip("2001:db8:1:2::"))
        );
        assert_eq!(address("tcp6:::1:5000"), Some(ip("::")));
        assert_eq!(address("unix"), None);
        assert_eq!(address("process"), None);
    }

    #[test]
    fn an_address_is_refused_after_the_threshold_for_the_cooldown() {
        let l = AuthRateLimit::default();
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        let t0 = Instant::now();
        for _ in 0..THRESHOLD {
            fail(&l, a, t0).unwrap();
        }
        let e = l.begin_at(a, t0 + Duration::from_secs(1)).err().unwrap();
        assert_eq!(e.reason, reason::AUTHENTICATION_FAILED);
        assert!(e.message.starts_with(REFUSED), "{}", e.message);
        assert!(e.message.ends_with("try again in 59 s"), "{}", e.message);
        // Another address is not affected.
        l.begin_at(b, t0).unwrap().record(None);
        // After the cooldown, the address starts over.
        let later = t0 + COOLDOWN;
        l.begin_at(a, later).unwrap().record_at(None, later);
        assert_eq!(
            l.len(),
            0,
            "an address past its cooldown that logs in is forgotten"
        );
    }

    #[test]
    fn failures_spread_over_more_than_the_window_are_not_refused() {
        let l = AuthRateLimit::default();
        let a = ip("10.0.0.1");
        let t0 = Instant::now();
        for i in 0..3 * THRESHOLD {
            let now = t0 + WINDOW * i / (THRESHOLD - 1);
            fail(&l, a, now).unwrap_or_else(|e| panic!("failure #{i}: {e}"));
        }
    }

    #[test]
    fn checks_in_flight_hold_places() {
        let l = AuthRateLimit::default();
        let a = ip("10.0.0.1");
        let t0 = Instant::now();
        let attempts: Vec<_> = (0..THRESHOLD).map(|_| l.begin_at(a, t0).unwrap()).collect();
        assert!(
            l.begin_at(a, t0).is_err(),
            "more checks than the threshold at once"
        );
        // Successful checks give their places back and leave nothing behind.
        for attempt in attempts {
            attempt.record(None);
        }
        assert_eq!(l.len(), 0);
        let attempt = l.begin_at(a, t0).unwrap();
        drop(attempt);
        assert_eq!(l.len(), 0, "a dropped check gives its place back");
    }

    #[test]
    fn router_side_denials_do_not_count() {
        let l = AuthRateLimit::default();
        let a = ip("10.0.0.1");
        for _ in 0..2 * THRESHOLD {
            let attempt = l.begin(Some(a)).unwrap();
            attempt.record(Some(&AuthDenied::new(reason::NO_AUTH_METHOD, "no")));
        }
        assert_eq!(l.len(), 0);
        for _ in 0..THRESHOLD {
            l.begin(Some(a)).unwrap().record(Some(&wrong()));
        }
        assert!(l.begin(Some(a)).is_err());
    }

    #[test]
    fn the_table_is_capped() {
        let l = AuthRateLimit::default();
        let t0 = Instant::now();
        let addr = |i: usize| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i as u32));
        // A full table of refused addresses: a new one goes untracked, not refused.
        for i in 0..MAX_ADDRESSES {
            for _ in 0..THRESHOLD {
                fail(&l, addr(i), t0).unwrap();
            }
        }
        assert_eq!(l.len(), MAX_ADDRESSES);
        let fresh = addr(MAX_ADDRESSES + 1);
        let attempt = l.begin_at(fresh, t0).unwrap();
        assert!(attempt.addr.is_none());
        drop(attempt);
        // Once the cooldowns are over, the purge makes room.
        let later = t0 + COOLDOWN;
        fail(&l, fresh, later).unwrap();
        assert_eq!(l.len(), 1);
    }
}
