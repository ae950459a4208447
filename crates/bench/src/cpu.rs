//! CPU time from /proc: of the server processes, of the bench, and of the
//! whole machine.

use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::{Value, json};

/// Clock ticks per second of the CPU times in /proc (`getconf CLK_TCK`).
pub fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time (user + system) of a process so far, in seconds; of this one
/// for `None`.
pub fn cpu_secs(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // After the command name (in parentheses, field 2) come the state
    // (field 3) … utime (field 14) and stime (field 15).
    let rest = stat
        .rsplit_once(')')
        .context("the format of /proc/PID/stat")?
        .1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next().context("utime")?.parse()?;
    let stime: u64 = fields.next().context("stime")?.parse()?;
    Ok((utime + stime) as f64 / clock_ticks())
}

/// CPU time the whole machine has spent busy so far (every core), in
/// seconds: user, nice, system, irq, softirq and steal of /proc/stat.
pub fn machine_busy_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let cpu = stat
        .lines()
        .find_map(|l| l.strip_prefix("cpu "))
        .context("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy as f64 / clock_ticks())
}

/// CPU seconds used so far by the server processes (together), by the
/// bench, and by the whole machine.
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    pub at: Instant,
    pub server: Option<f64>,
    pub bench: f64,
    pub machine: f64,
}

impl CpuMark {
    pub fn now(pids: &[u32]) -> anyhow::Result<Self> {
        let server = if pids.is_empty() {
            None
        } else {
            let mut sum = 0.0;
            for &p in pids {
                sum += cpu_secs(Some(p))?;
            }
            Some(sum)
        };
        Ok(Self {
            at: Instant::now(),
            server,
            bench: cpu_secs(None)?,
            machine: machine_busy_secs()?,
        })
    }
}

/// CPU use between two marks: cores busy, µs per delivery; and the cores
/// other processes took meanwhile (a figure measured while they took much
/// is not the server's).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    pub server: Option<(f64, f64)>,
    pub bench: (f64, f64),
    pub other_cores: Option<f64>,
}

impl Cpu {
    pub fn between(a: CpuMark, b: CpuMark, deliveries: usize) -> Self {
        let wall = (b.at - a.at).as_secs_f64().max(1e-9);
        let per = |secs: f64| (secs / wall, secs * 1e6 / deliveries.max(1) as f64);
        let server = a.server.zip(b.server).map(|(a, b)| b - a);
        let bench = b.bench - a.bench;
        Self {
            server: server.map(per),
            bench: per(bench),
            other_cores: server
                .map(|server| ((b.machine - a.machine - server - bench) / wall).max(0.0)),
        }
    }

    pub fn label(&self) -> String {
        let server = self.server.map_or_else(
            || "server CPU unknown (needs --server-pid)".to_owned(),
            |(cores, us)| format!("server CPU {cores:.2} cores, {us:.2} µs per delivery"),
        );
        let other = self
            .other_cores
            .map_or_else(String::new, |o| format!(" | other processes {o:.2} cores"));
        format!(
            "{server} | bench CPU {:.2} cores, {:.2} µs per delivery{other}",
            self.bench.0, self.bench.1
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "server_cpu": self.server.map(|(cores, us)| json!({ "cores": cores, "us_per_delivery": us })),
            "bench_cpu": { "cores": self.bench.0, "us_per_delivery": self.bench.1 },
            "other_cpu_cores": self.other_cores,
        })
    }
}
