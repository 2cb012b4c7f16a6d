//! `crossbar.get_system_stats`: a snapshot of the host from procfs, in the shape of
//! Crossbar.io's psutil-based `SystemMonitor.poll()` (what is available on Linux).

use std::time::Instant;

use procfs::{Current, CurrentSI, DiskStats, KernelStats, LoadAverage, Meminfo, Uptime};
use serde_json::{Value, json};

/// Blocking (reads /proc): run on a blocking thread.
pub(super) fn system_stats() -> Value {
    let t0 = Instant::now();
    let mut out = json!({
        "uptime": Uptime::current().ok().map(|u| (u.uptime * 1e9) as u64),
        "cpu": cpu(),
        "memory": memory(),
        "network": network(),
        "disk": disk(),
    });
    out["elapsed"] = json!(t0.elapsed().as_secs_f64());
    out
}

fn cpu() -> Value {
    let Ok(ks) = KernelStats::current() else {
        return Value::Null;
    };
    let tps = procfs::ticks_per_second() as f64;
    let secs = |t: u64| t as f64 / tps;
    let load = LoadAverage::current().ok();
    json!({
        "count": ks.cpu_time.len(),
        "user": secs(ks.total.user),
        "nice": secs(ks.total.nice),
        "system": secs(ks.total.system),
        "idle": secs(ks.total.idle),
        "iowait": ks.total.iowait.map(secs),
        "irq": ks.total.irq.map(secs),
        "softirq": ks.total.softirq.map(secs),
        "steal": ks.total.steal.map(secs),
        "ctx_switches": ks.ctxt,
        "boot_time": ks.btime,
        "processes": ks.processes,
        "procs_running": ks.procs_running,
        "load_avg": load.map(|l| [l.one, l.five, l.fifteen]),
    })
}

fn memory() -> Value {
    let Ok(m) = Meminfo::current() else {
        return Value::Null;
    };
    let available = m.mem_available.unwrap_or(m.mem_free + m.buffers + m.cached);
    let used = m.mem_total.saturating_sub(available);
    json!({
        "total": m.mem_total,
        "available": available,
        "free": m.mem_free,
        "used": used,
        "buffers": m.buffers,
        "cached": m.cached,
        "percent": if m.mem_total > 0 { used as f64 * 100.0 / m.mem_total as f64 } else { 0.0 },
    })
}

fn network() -> Value {
    let Ok(devs) = procfs::net::dev_status() else {
        return Value::Null;
    };
    let (mut sent, mut recv, mut psent, mut precv, mut errin, mut errout, mut dropin, mut dropout) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for d in devs.values() {
        sent += d.sent_bytes;
        recv += d.recv_bytes;
        psent += d.sent_packets;
        precv += d.recv_packets;
        errin += d.recv_errs;
        errout += d.sent_errs;
        dropin += d.recv_drop;
        dropout += d.sent_drop;
    }
    json!({
        "bytes_sent": sent, "bytes_recv": recv,
        "packets_sent": psent, "packets_recv": precv,
        "errin": errin, "errout": errout, "dropin": dropin, "dropout": dropout,
        "interfaces": devs.len(),
    })
}

fn disk() -> Value {
    let Ok(disks) = DiskStats::current() else {
        return Value::Null;
    };
    let (mut reads, mut writes, mut rb, mut wb) = (0u64, 0u64, 0u64, 0u64);
    for d in &disks.0 {
        reads += d.reads;
        writes += d.writes;
        rb += d.sectors_read * 512;
        wb += d.sectors_written * 512;
    }
    json!({"read_count": reads, "write_count": writes, "read_bytes": rb, "write_bytes": wb})
}
