//! The server's own account of a fan-out run, read from its `/metrics`:
//! messages written to sockets, the flushes that wrote them, and its
//! delivery lag (a change's write to the flush of its message, counted by
//! class in `tasksync_ws_deliveries_by_lag_total{le_ms}`). A second instrument beside the
//! bench's clients: when the two disagree, one of them is wrong.

use anyhow::Context as _;
use serde_json::{Value, json};

/// The histogram's bucket bounds in seconds, and the cumulative counts.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    messages: f64,
    flushes: f64,
    /// `(upper bound in ms, messages in that class)`, by bound.
    lag: Vec<(f64, f64)>,
}

impl Snapshot {
    /// The sum over every node of the deployment.
    pub async fn read(http: &reqwest::Client, bases: &[String]) -> anyhow::Result<Self> {
        let mut total = Self::default();
        for base in bases {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await?
                .text()
                .await
                .context("reading /metrics")?;
            let one = Self::parse(&text);
            total.messages += one.messages;
            total.flushes += one.flushes;
            for (le, n) in one.lag {
                match total.lag.iter_mut().find(|(l, _)| *l == le) {
                    Some(t) => t.1 += n,
                    None => total.lag.push((le, n)),
                }
            }
        }
        Ok(total)
    }

    fn parse(text: &str) -> Self {
        let value = |line: &str| line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        let mut s = Self::default();
        for line in text.lines() {
            if line.starts_with("tasksync_ws_messages_sent_total ") {
                s.messages = value(line).unwrap_or(0.0);
            } else if line.starts_with("tasksync_ws_flushes_total ") {
                s.flushes = value(line).unwrap_or(0.0);
            } else if let Some(rest) =
                line.strip_prefix("tasksync_ws_deliveries_by_lag_total{le_ms=\"")
            {
                let le = rest.split('"').next().unwrap_or("");
                let le = if le == "inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                if let Some(count) = value(line) {
                    s.lag.push((le, count));
                }
            }
        }
        s.lag.sort_by(|a, b| a.0.total_cmp(&b.0));
        s
    }
}

/// What the server did between two snapshots.
#[derive(Debug, Clone)]
pub struct View {
    pub messages: f64,
    pub flushes: f64,
    /// Bucket bounds (ms) within which the server's p50 and p99 fall:
    /// `(lower, upper)`.
    pub p50: (f64, f64),
    pub p99: (f64, f64),
}

impl View {
    pub fn between(a: &Snapshot, b: &Snapshot) -> Self {
        // Cumulative counts of the messages of this run, by class.
        let mut sum = 0.0;
        let counts: Vec<(f64, f64)> = b
            .lag
            .iter()
            .map(|&(le, n)| {
                let before = a.lag.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1);
                sum += n - before;
                (le, sum)
            })
            .collect();
        let total = counts.last().map_or(0.0, |x| x.1);
        let bounds = |q: f64| {
            let mut lower = 0.0;
            for &(le, n) in &counts {
                if n >= q * total {
                    return (lower, le);
                }
                lower = le;
            }
            (lower, f64::INFINITY)
        };
        Self {
            messages: b.messages - a.messages,
            flushes: b.flushes - a.flushes,
            p50: bounds(0.5),
            p99: bounds(0.99),
        }
    }

    /// Whether the clients' figures fit the server's: every message the
    /// server wrote arrived, and the clients' p50 and p99 (which also count
    /// the wire and the client) are not below the server's buckets, nor far
    /// above them (20 % and 5 ms for the way to the client).
    pub fn agrees(&self, received: usize, client_p50: f64, client_p99: f64) -> bool {
        let fits = |(lower, upper): (f64, f64), client: f64| {
            client >= lower * 0.8 && client <= upper * 1.2 + 5.0
        };
        (self.messages - received as f64).abs() <= (received as f64 * 0.01).max(1.0)
            && fits(self.p50, client_p50)
            && fits(self.p99, client_p99)
    }

    pub fn label(&self, received: usize, client_p50: f64, client_p99: f64) -> String {
        format!(
            "server view: {:.0} messages in {:.0} flushes ({:.1} per flush), lag p50 {}–{} ms p99 {}–{} ms, agrees with the clients: {}",
            self.messages,
            self.flushes,
            self.messages / self.flushes.max(1.0),
            self.p50.0,
            self.p50.1,
            self.p99.0,
            self.p99.1,
            if self.agrees(received, client_p50, client_p99) {
                "yes"
            } else {
                "NO"
            },
        )
    }

    pub fn json(&self, received: usize, client_p50: f64, client_p99: f64) -> Value {
        json!({ "server_view": {
            "messages": self.messages, "flushes": self.flushes,
            "lag_ms_p50_bucket": [self.p50.0, self.p50.1],
            "lag_ms_p99_bucket": [self.p99.0, self.p99.1],
            "agrees": self.agrees(received, client_p50, client_p99),
        }})
    }
}

/// Every sample of `/metrics`, summed over the nodes, keyed by its name
/// with its labels as the text has them (`name{label="v"}`): for the
/// scenarios that compare more of the server's counters than [`Snapshot`]
/// reads.
#[derive(Debug, Clone, Default)]
pub struct Samples(pub std::collections::HashMap<String, f64>);

impl Samples {
    pub async fn read(http: &reqwest::Client, bases: &[String]) -> anyhow::Result<Self> {
        let mut total = Self::default();
        for base in bases {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await?
                .text()
                .await
                .context("reading /metrics")?;
            for (key, value) in Self::parse(&text).0 {
                *total.0.entry(key).or_default() += value;
            }
        }
        Ok(total)
    }

    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (key, value) = l.rsplit_once(' ')?;
                    Some((key.trim().to_owned(), value.parse::<f64>().ok()?))
                })
                .collect(),
        )
    }

    /// One sample (0 when the server has not recorded it).
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// The sum of the samples of one name over all its label sets.
    pub fn sum_of(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(k, _)| {
                k.as_str() == name
                    || k.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('{'))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// `self - before` for one sample.
    pub fn delta(&self, before: &Self, key: &str) -> f64 {
        self.get(key) - before.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_between_two_snapshots_give_the_bounds_of_the_quantiles() {
        let a = Snapshot::parse(
            "tasksync_ws_messages_sent_total 10\ntasksync_ws_flushes_total 2\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"100\"} 0\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"10\"} 10\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"inf\"} 0\n",
        );
        let b = Snapshot::parse(
            "tasksync_ws_messages_sent_total 110\ntasksync_ws_flushes_total 12\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"10\"} 60\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"100\"} 49\n\
             tasksync_ws_deliveries_by_lag_total{le_ms=\"inf\"} 1\n",
        );
        let v = View::between(&a, &b);
        assert_eq!((v.messages, v.flushes), (100.0, 10.0));
        assert_eq!(v.p50, (0.0, 10.0));
        assert_eq!(v.p99, (10.0, 100.0));
        assert!(v.agrees(100, 8.0, 60.0));
        assert!(!v.agrees(90, 8.0, 60.0), "messages went missing");
        assert!(!v.agrees(100, 8.0, 500.0), "the clients waited far longer");
    }

    #[test]
    fn samples_are_summed_over_label_sets() {
        let s = Samples::parse("# TYPE x counter\nx{a=\"1\"} 2\nx{a=\"2\"} 3\nx_sum 7\ny 1.5\n");
        assert_eq!(s.sum_of("x"), 5.0);
        assert_eq!(s.get("x_sum"), 7.0);
        assert_eq!(s.get("y"), 1.5);
        assert_eq!(s.get("z"), 0.0);
    }
}
