//! Stamps the git commit into the build as `TASKSYNC_COMMIT`, for
//! `tasksync --version`, `/healthz` and the `tasksync_build_info` metric:
//! `TASKSYNC_GIT_COMMIT` when it is set (a build from a source archive, or
//! CI naming the commit it built), else `git rev-parse --short=12 HEAD`,
//! else `unknown` (no git, or not a checkout).
//!
//! Cargo reruns this script when that variable changes and when HEAD
//! moves: the HEAD file, the branch's ref file and `packed-refs`, each
//! found with `git rev-parse --git-path`, which knows where a worktree's
//! files are.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=TASKSYNC_GIT_COMMIT");
    let commit = match std::env::var("TASKSYNC_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => {
            watch_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo::rustc-env=TASKSYNC_COMMIT={commit}");
}

/// Tells cargo to rerun this script when the checked-out commit changes.
fn watch_head() {
    let mut files = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        files.push(branch);
    }
    for file in files {
        if let Some(path) = git(&["rev-parse", "--git-path", &file])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo::rerun-if-changed={path}");
        }
    }
}

/// The trimmed output of a git command that succeeded, if any.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}
