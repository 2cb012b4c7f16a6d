//! Resource limits of a process — CPU affinity, nice value, memory — set by pid, so that the
//! controller can apply them to guest workers (which serve no API) as well as a worker to
//! itself. Every setting is read back from the kernel and a disagreement is an error.
//!
//! The limits are addressed by id (`cpu_affinity`, `nice`, `memory`) with JSON-like settings,
//! the form `get_limits` / `set_limit` use on the management API:
//! - `cpu_affinity`: `[cpu, …]` (absolute CPU ids) or `{"cpus": [..], "relative": bool}`,
//!   where relative indexes refer to the CPUs the process had when we first saw it;
//! - `nice`: an integer in `-20..=19`;
//! - `memory`: bytes, as an integer or a string with a binary suffix (`"512M"`, `"2G"`);
//! - `null` removes a limit: the CPUs, nice value and `RLIMIT_AS` the process had when we
//!   first saw it, and no cgroup `memory.max`.

pub mod affinity;
pub mod memory;
pub mod nice;
mod procfs;
mod setting;

use std::io;
use std::sync::Mutex;

use rustix::process::Pid;
use serde_json::{Map, Value, json};

use mgmt_api::vocabulary::error;

pub use memory::{MemoryLimit, MemoryMechanism};
pub use setting::{parse_bytes, parse_cpu_list, parse_cpus_setting};

/// Limit ids.
pub const CPU_AFFINITY: &str = "cpu_affinity";
pub const NICE: &str = "nice";
pub const MEMORY: &str = "memory";
/// Every limit id, in the order `get_limits` lists them.
pub const LIMIT_IDS: [&str; 3] = [CPU_AFFINITY, NICE, MEMORY];

/// Why a limit could not be read or set.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// A setting the kernel would refuse or that makes no sense (a CPU that does not exist,
    /// a negative size, …).
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no limit \"{0}\" (limits: cpu_affinity, nice, memory)")]
    NoSuchLimit(String),
    #[error("process {0} is not running")]
    NoSuchProcess(u32),
    #[error("process {pid}: {what}: {source}")]
    Os {
        pid: u32,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The kernel reports something else than what was set.
    #[error("the kernel disagrees: {0}")]
    Mismatch(String),
}

impl LimitError {
    /// The management error URI for this error.
    pub fn error_uri(&self) -> &'static str {
        match self {
            LimitError::InvalidArgument(_) => error::INVALID_ARGUMENT,
            LimitError::NoSuchLimit(_) => error::NO_SUCH_OBJECT,
            LimitError::NoSuchProcess(_) => error::NOT_RUNNING,
            LimitError::Os { .. } | LimitError::Mismatch(_) => error::RUNTIME_ERROR,
        }
    }
}

pub(crate) fn pid_of(raw: i32) -> Result<Pid, LimitError> {
    if raw <= 0 {
        return Err(LimitError::InvalidArgument(format!(
            "{raw} is not a process id"
        )));
    }
    Pid::from_raw(raw).ok_or_else(|| LimitError::InvalidArgument(format!("{raw} is not a pid")))
}

/// An OS error about `pid`; "no such process" (ESRCH, or its procfs directory is gone) says so.
pub(crate) fn os_error(pid: u32, what: &str, source: io::Error) -> LimitError {
    if source.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
        || (source.kind() == io::ErrorKind::NotFound && !procfs::proc_dir(pid).exists())
    {
        return LimitError::NoSuchProcess(pid);
    }
    LimitError::Os {
        pid,
        what: what.to_owned(),
        source,
    }
}

/// One limit changed: its setting before and after, as the kernel reported them.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitChange {
    pub limit_id: String,
    pub old: Value,
    pub new: Value,
}

/// The limits of one process, with what it had when we first saw it (the base that relative
/// CPU indexes and removed limits go back to).
#[derive(Debug)]
pub struct ProcessLimits {
    pid: u32,
    base_cpus: Vec<usize>,
    base_nice: i32,
    base_rlimit_as: Option<u64>,
    /// Serializes changes, so that each change's `old` is the previous change's `new`.
    changing: Mutex<()>,
}

impl ProcessLimits {
    /// The limits of process `pid`, taking its current settings as the base.
    pub fn of_pid(pid: u32) -> Result<ProcessLimits, LimitError> {
        let pid_i32 = i32::try_from(pid)
            .map_err(|_| LimitError::InvalidArgument(format!("{pid} is not a process id")))?;
        pid_of(pid_i32)?;
        let base_cpus = affinity::cpu_affinity(pid)?;
        let base_nice = nice::nice(pid)?;
        let (base_rlimit_as, _) = procfs::proc_limit(pid, "Max address space")
            .map_err(|e| os_error(pid, "reading limits", e))?;
        Ok(ProcessLimits {
            pid,
            base_cpus,
            base_nice,
            base_rlimit_as,
            changing: Mutex::new(()),
        })
    }

    /// The limits of this process.
    pub fn of_self() -> Result<ProcessLimits, LimitError> {
        ProcessLimits::of_pid(std::process::id())
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The CPUs the process had when we first saw it (sorted): what relative indexes refer to.
    pub fn base_cpus(&self) -> &[usize] {
        &self.base_cpus
    }

    pub fn cpu_affinity(&self) -> Result<Vec<usize>, LimitError> {
        affinity::cpu_affinity(self.pid)
    }

    /// Pins every thread to `cpus` (indexes into [`base_cpus`](Self::base_cpus) if
    /// `relative`); returns the CPUs every thread has afterwards.
    pub fn set_cpu_affinity(
        &self,
        cpus: &[usize],
        relative: bool,
    ) -> Result<Vec<usize>, LimitError> {
        let _g = self.lock();
        Ok(self.change_cpus(Some((cpus.to_vec(), relative)))?.1)
    }

    pub fn nice(&self) -> Result<i32, LimitError> {
        nice::nice(self.pid)
    }

    /// Sets the nice value of every thread (`None`: the base one); returns it as read back.
    pub fn set_nice(&self, value: Option<i32>) -> Result<i32, LimitError> {
        let _g = self.lock();
        nice::set_nice(self.pid, value.unwrap_or(self.base_nice))
    }

    pub fn memory(&self) -> Result<MemoryLimit, LimitError> {
        memory::memory_limit(self.pid)
    }

    /// Limits the memory to `bytes` (`None`: removes the limit); returns it as read back.
    pub fn set_memory(&self, bytes: Option<u64>) -> Result<MemoryLimit, LimitError> {
        let _g = self.lock();
        memory::set_memory_limit(self.pid, bytes, self.base_rlimit_as)
    }

    /// Every limit with its current setting, as the kernel reports it.
    pub fn get_limits(&self) -> Result<Map<String, Value>, LimitError> {
        LIMIT_IDS
            .iter()
            .map(|id| Ok(((*id).to_owned(), self.get_limit(id)?)))
            .collect()
    }

    /// The current setting of one limit: `cpu_affinity` → `[cpu]`, `nice` → int, `memory` →
    /// bytes or `null` (no limit).
    pub fn get_limit(&self, limit_id: &str) -> Result<Value, LimitError> {
        match limit_id {
            CPU_AFFINITY => Ok(json!(self.cpu_affinity()?)),
            NICE => Ok(json!(self.nice()?)),
            MEMORY => Ok(json!(self.memory()?.bytes)),
            other => Err(LimitError::NoSuchLimit(other.to_owned())),
        }
    }

    /// Applies `setting` to one limit (`null` removes it) and returns the change.
    pub fn set_limit(&self, limit_id: &str, setting: &Value) -> Result<LimitChange, LimitError> {
        let _g = self.lock();
        let (old, new) = match limit_id {
            CPU_AFFINITY => {
                let (old, new) = self.change_cpus(parse_cpus_setting(setting)?)?;
                (json!(old), json!(new))
            }
            NICE => {
                let value = setting::parse_nice(setting)?;
                let old = self.nice()?;
                let new = nice::set_nice(self.pid, value.unwrap_or(self.base_nice))?;
                (json!(old), json!(new))
            }
            MEMORY => {
                let bytes = parse_bytes(setting)?;
                let old = self.memory()?.bytes;
                let new = memory::set_memory_limit(self.pid, bytes, self.base_rlimit_as)?;
                tracing::info!(pid = self.pid, mechanism = new.mechanism.as_str(), bytes = ?new.bytes, "memory limit set");
                (json!(old), json!(new.bytes))
            }
            other => return Err(LimitError::NoSuchLimit(other.to_owned())),
        };
        Ok(LimitChange {
            limit_id: limit_id.to_owned(),
            old,
            new,
        })
    }

    /// Sets the CPUs (`None`: the base CPUs); returns the CPUs before and after. The caller
    /// holds the change lock.
    fn change_cpus(
        &self,
        setting: Option<(Vec<usize>, bool)>,
    ) -> Result<(Vec<usize>, Vec<usize>), LimitError> {
        let target = match setting {
            Some((cpus, true)) => affinity::resolve_relative(&cpus, &self.base_cpus)?,
            Some((cpus, false)) => cpus,
            None => self.base_cpus.clone(),
        };
        let old = self.cpu_affinity()?;
        let new = affinity::set_cpu_affinity(self.pid, &target)?;
        Ok((old, new))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|p| p.into_inner())
    }
}
