//! Listening sockets: TCP (IPv4 or IPv6, backlog, port ranges, SO_REUSEPORT) and Unix sockets.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, TcpSocket, UnixListener};

use crate::transport::config::{Endpoint, TcpEndpoint, UnixEndpoint};
use crate::transport::conn::peer_string;
use crate::transport::io::BoxedIo;

/// Twisted's default listen backlog, which Crossbar.io keeps when `backlog` is absent.
const DEFAULT_BACKLOG: u32 = 50;

/// Where a transport listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// The TCP port (for tests and status reports).
    pub fn port(&self) -> Option<u16> {
        match self {
            ListenAddr::Tcp(a) => Some(a.port()),
            ListenAddr::Unix(_) => None,
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "tcp:{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why binding failed: the address tried and the OS error.
#[derive(Debug)]
pub(crate) struct BindError {
    pub addr: String,
    pub source: io::Error,
}

/// A bound, listening socket.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Accepts one connection: the stream and the peer in Crossbar.io's notation.
    pub async fn accept(&self) -> io::Result<(BoxedIo, String)> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                // Crossbar.io's default (`tcp_nodelay`): WAMP messages are small and latency
                // matters more than packet count; writes are already batched per wakeup.
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), peer_string(&addr)))
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept().await?;
                Ok((Box::new(s), "unix".to_owned()))
            }
        }
    }
}

/// Binds the endpoint; relative Unix socket paths are resolved against `base_dir`.
pub(crate) async fn bind(
    ep: &Endpoint,
    base_dir: &Path,
) -> Result<(Listener, ListenAddr), BindError> {
    match ep {
        Endpoint::Tcp(t) => bind_tcp(t).await,
        Endpoint::Unix(u) => bind_unix(u, base_dir),
    }
}

async fn interface_ip(t: &TcpEndpoint) -> Result<IpAddr, BindError> {
    let v6 = t.version == Some(6);
    let iface = t.interface.as_deref().map(str::trim).unwrap_or("");
    if iface.is_empty() {
        return Ok(if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        });
    }
    if let Ok(ip) = iface
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    {
        return Ok(ip);
    }
    // A host name such as "localhost": take its first address of the wanted family.
    let err = |source| BindError {
        addr: iface.to_owned(),
        source,
    };
    let addrs = tokio::net::lookup_host((iface, 0)).await.map_err(err)?;
    let mut first = None;
    for a in addrs {
        if a.is_ipv6() == v6 {
            return Ok(a.ip());
        }
        first.get_or_insert(a.ip());
    }
    first.ok_or_else(|| {
        err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "interface name resolves to no address",
        ))
    })
}

async fn bind_tcp(t: &TcpEndpoint) -> Result<(Listener, ListenAddr), BindError> {
    let ip = interface_ip(t).await?;
    let ports: Vec<u16> = match t.portrange {
        Some([a, b]) => (a..=b).collect(),
        None => vec![t.port.unwrap_or(0)],
    };
    let backlog = t.backlog.unwrap_or(DEFAULT_BACKLOG);
    let mut last = None;
    for port in ports {
        let addr = SocketAddr::new(ip, port);
        match listen_tcp(addr, t.shared, backlog) {
            Ok(l) => {
                let local = l.local_addr().unwrap_or(addr);
                return Ok((Listener::Tcp(l), ListenAddr::Tcp(local)));
            }
            Err(source) => {
                last = Some(BindError {
                    addr: addr.to_string(),
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| BindError {
        addr: ip.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "empty port range"),
    }))
}

fn listen_tcp(addr: SocketAddr, shared: bool, backlog: u32) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // SO_REUSEADDR lets a restarted transport bind while old connections sit in TIME_WAIT; it
    // does not allow two listeners on one port (that is SO_REUSEPORT, set only for `shared`).
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(backlog)
}

fn bind_unix(u: &UnixEndpoint, base_dir: &Path) -> Result<(Listener, ListenAddr), BindError> {
    let path = base_dir.join(&u.path);
    let err = |source| BindError {
        addr: path.display().to_string(),
        source,
    };
    if path.exists() {
        // A socket file left by a process that died: remove it, unless someone still listens.
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process listens on this socket",
            )));
        }
        use std::os::unix::fs::FileTypeExt;
        let is_socket = std::fs::symlink_metadata(&path)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false);
        if !is_socket {
            return Err(err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "path exists and is not a socket",
            )));
        }
        std::fs::remove_file(&path).map_err(err)?;
    }
    let l = UnixListener::bind(&path).map_err(err)?;
    Ok((Listener::Unix(l), ListenAddr::Unix(path)))
}
