//! What this binary is: the crate version and the git commit it was built
//! from (`build.rs`), as `tasksync --version`, `GET /healthz` and the
//! `tasksync_build_info` metric report them. Uses nothing of this crate.

/// The crate version, `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit, 12 hex digits (or what `TASKSYNC_GIT_COMMIT` said at build
/// time, or `unknown`).
pub const COMMIT: &str = env!("TASKSYNC_COMMIT");

/// `0.1.0 (commit 1a2b3c4d5e6f)`: what `tasksync --version` prints after
/// the name, and what `tasksync healthcheck --expect-version` compares.
pub const VERSION_TEXT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TASKSYNC_COMMIT"),
    ")"
);

/// The same text for a version and commit a server reported.
pub fn version_text(version: &str, commit: &str) -> String {
    format!("{version} (commit {commit})")
}

/// Sets the gauge `tasksync_build_info{version, commit}` to 1, so a
/// dashboard sees which build every node runs.
pub fn record_metric() {
    metrics::gauge!("tasksync_build_info", "version" => VERSION, "commit" => COMMIT).set(1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_text_names_the_version_and_the_commit() {
        assert_eq!(VERSION_TEXT, version_text(VERSION, COMMIT));
        assert!(!COMMIT.is_empty());
        assert!(VERSION_TEXT.starts_with(VERSION));
    }
}
