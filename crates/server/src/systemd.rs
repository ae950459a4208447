//! Notifications to systemd for a unit of `Type=notify` (`sd_notify`):
//! `READY=1` once the server listens, `STOPPING=1` at the shutdown signal,
//! `STATUS=` lines for the phases in between, and `WATCHDOG=1` pings when
//! the unit has `WatchdogSec=`. Without `NOTIFY_SOCKET` in the environment
//! (not started by systemd) every call here does nothing.

use std::time::Duration;

use sd_notify::NotifyState;

/// Whether a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// `READY=1`: the server listens and serves.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STOPPING=1`: the shutdown began.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// `STATUS=…`: what the service is doing, shown by `systemctl status`.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `WATCHDOG=1`: the service is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when systemd
/// set it for this process and listens; `None` otherwise.
pub fn watchdog_interval() -> Option<Duration> {
    if !enabled() {
        return None;
    }
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}
