//! Logging and metrics set-up. Uses nothing of this crate, so that every
//! module may (`config` names the default log filter in its reference).

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is not set: `info`, except PostgreSQL's
/// notices (such as "relation _sqlx_migrations already exists, skipping"
/// on every start), which are informational noise to an operator.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx::postgres::notice=warn";

/// Installs the global `tracing` subscriber (`RUST_LOG`, default
/// [`DEFAULT_LOG_FILTER`]), writing one JSON object per event when `json`
/// (`--log-format json`), text otherwise. Calling it again is harmless.
pub fn init_logging(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus recorder (installed on first use; several
/// servers in one process, as in tests, share it).
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|b| b.install_recorder())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_log_filter_is_valid_and_quiets_only_postgres_notices() {
        // `EnvFilter::new` would silently drop a malformed directive.
        let filter = EnvFilter::try_new(DEFAULT_LOG_FILTER).expect("a valid filter");
        let text = filter.to_string();
        assert!(text.contains("sqlx::postgres::notice=warn"), "{text}");
        assert!(text.split(',').any(|d| d == "info"), "{text}");
    }
}
