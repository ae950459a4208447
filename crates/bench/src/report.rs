//! Time stamps, distributions and the report: a line per scenario as it
//! runs, and every figure as one JSON line at the end.

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{Value, json};

use crate::lean;

/// The bench's time origin, fixed by its first call (in `main`).
pub fn epoch() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Microseconds since [`epoch`]: the stamps written into task titles and
/// compared with the receive times.
pub fn stamp() -> u128 {
    epoch().elapsed().as_micros()
}

/// Percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dist {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn dist(mut micros: Vec<u128>) -> Dist {
    if micros.is_empty() {
        return Dist::default();
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros[i] as f64 / 1000.0
    };
    Dist {
        p50: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<(String, String)>,
    pub json: serde_json::Map<String, Value>,
}

impl Report {
    pub fn add(&mut self, key: &str, label: String, value: Value) {
        println!("{label}");
        self.rows.push((key.to_owned(), label));
        self.json.insert(key.to_owned(), value);
    }
}

/// What the subscribers of a run received, together.
#[derive(Debug, Default)]
pub struct Delivered {
    pub received: usize,
    pub in_order: usize,
    pub mean_bytes: f64,
    /// Deliveries per read of a subscriber socket.
    pub per_read: f64,
    pub all: Dist,
    /// The first and the last quarter of the deliveries by receive time.
    pub first: Dist,
    pub last: Dist,
    /// From the start of the writes to the last receive.
    pub secs: f64,
}

impl Delivered {
    pub fn new(results: Vec<lean::Received>, start: u64) -> Self {
        let received = results.iter().map(|r| r.deliveries.len()).sum();
        let mut all = Vec::with_capacity(received);
        let (mut in_order, mut bytes, mut reads) = (0, 0, 0);
        for r in results {
            in_order += r.in_order;
            bytes += r.bytes;
            reads += r.reads;
            all.extend(r.deliveries);
        }
        all.sort_unstable_by_key(|&(at, _)| at);
        let latencies =
            |part: &[(u64, u64)]| dist(part.iter().map(|&(_, l)| u128::from(l)).collect());
        let quarter = received / 4;
        Self {
            received,
            in_order,
            mean_bytes: bytes as f64 / received.max(1) as f64,
            per_read: received as f64 / reads.max(1) as f64,
            all: latencies(&all),
            first: latencies(&all[..quarter]),
            last: latencies(&all[received - quarter..]),
            secs: all
                .last()
                .map_or(0.0, |&(at, _)| at.saturating_sub(start) as f64 / 1e6),
        }
    }

    pub fn per_s(&self) -> f64 {
        self.received as f64 / self.secs.max(1e-9)
    }

    /// The last quarter waited more than twice as long as the first, and long.
    pub fn backlog_growing(&self) -> bool {
        self.last.p50 > 2.0 * self.first.p50 && self.last.p50 > 50.0
    }

    pub fn label(&self) -> String {
        format!(
            "delivered in {:.2} s, first quarter p50 {:.2} ms p99 {:.2} ms, last quarter p50 {:.2} ms p99 {:.2} ms, backlog growing: {} | event {:.0} bytes, {:.1} per read",
            self.secs,
            self.first.p50,
            self.first.p99,
            self.last.p50,
            self.last.p99,
            if self.backlog_growing() { "yes" } else { "no" },
            self.mean_bytes,
            self.per_read,
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "delivery_secs": self.secs,
            "delivery_ms_first_quarter": { "p50": self.first.p50, "p99": self.first.p99, "max": self.first.max },
            "delivery_ms_last_quarter": { "p50": self.last.p50, "p99": self.last.p99, "max": self.last.max },
            "backlog_growing": self.backlog_growing(),
            "event_bytes": self.mean_bytes,
            "deliveries_per_read": self.per_read,
        })
    }
}

/// Merges the fields of `extra` objects into `base`.
pub fn merged(mut base: Value, extra: &[Value]) -> Value {
    if let Some(map) = base.as_object_mut() {
        for e in extra {
            if let Some(e) = e.as_object() {
                map.extend(e.clone());
            }
        }
    }
    base
}
