//! `tasksync check-config`: the settings `serve` would run with, checked
//! by the same code that checks them when `serve` starts
//! ([`crate::startup::check_settings`]), so the two never disagree.

use std::process::ExitCode;

use clap::CommandFactory as _;

use crate::config::{CheckConfig, Cli};

/// The exit status of a configuration that cannot work.
pub const INVALID: u8 = 2;

/// What a secret setting is printed as.
pub const REDACTED: &str = "<redacted>";

/// `tasksync check-config`: prints every setting as `TASKSYNC_NAME=value`
/// (in the form of an environment file), then checks them; exits with
/// [`INVALID`] and the reason on standard error when they cannot work.
/// `matches` are the parsed arguments of the `check-config` command.
pub async fn check_config(args: &CheckConfig, matches: &clap::ArgMatches) -> ExitCode {
    for line in effective(matches) {
        println!("{line}");
    }
    if let Err(e) = crate::startup::check_settings(&args.settings) {
        eprintln!("tasksync: invalid configuration: {e:#}");
        return ExitCode::from(INVALID);
    }
    if args.connect
        && let Err(e) = check_database(args).await
    {
        eprintln!("tasksync: {e:#}");
        return ExitCode::from(INVALID);
    }
    eprintln!("tasksync: the configuration is valid");
    ExitCode::SUCCESS
}

/// `TASKSYNC_NAME=value` for every setting of `serve` (`check-config`
/// takes them all), in their order: the value given (flag or environment) or the
/// default, empty when there is neither. A setting whose environment value
/// is hidden from `--help` (every `SecretString`, and the database URL) is
/// a secret: printed as [`REDACTED`] (the database URL: its password only).
pub fn effective(matches: &clap::ArgMatches) -> Vec<String> {
    let cli = Cli::command();
    let Some(command) = cli.find_subcommand("serve") else {
        return Vec::new();
    };
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let id = arg.get_id().as_str();
            let value = matches
                .get_raw(id)
                .map(|values| {
                    values
                        .map(|v| v.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let shown = if !arg.is_hide_env_values_set() || value.is_empty() {
                value
            } else if id == "database_url" {
                redact_password(&value)
            } else {
                REDACTED.to_owned()
            };
            Some(format!("{env}={shown}"))
        })
        .collect()
}

/// A URL with its password, if it has one, replaced by [`REDACTED`].
pub fn redact_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let Some(at) = url[start..].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}{REDACTED}{}", &url[..start + colon + 1], &url[at..]),
        None => url.to_owned(),
    }
}

/// `--connect`: opens the database without migrating it and checks its
/// schema against this binary.
async fn check_database(args: &CheckConfig) -> anyhow::Result<()> {
    let db = &args.settings.database;
    let url = &db.database_url;
    if url.starts_with("sqlite:") {
        let file = tasksync_store::sqlite::path_of(url)?;
        if !file.exists() {
            eprintln!(
                "tasksync: the database {} does not exist yet; `serve` creates it",
                file.display()
            );
            return Ok(());
        }
    }
    let options = tasksync_store::ConnectOptions {
        url: url.clone(),
        read_connections: 1,
        max_connections: 2,
        acquire_timeout: db.db_acquire_timeout,
    };
    let store = tasksync_store::connect(&options)
        .await
        .map_err(anyhow::Error::new)
        .map_err(|e| e.context("cannot open the database"))?;
    let schema = store.schema().await?;
    match schema.compatibility()? {
        tasksync_store::Compatibility::Known => eprintln!(
            "tasksync: the database answers; schema {}, {} migration(s) of this binary pending",
            schema.newest_applied(),
            schema.pending().len()
        ),
        tasksync_store::Compatibility::NewerExpand { schema, known } => eprintln!(
            "tasksync: warning: the database answers; a newer tasksync migrated it (schema \
             {schema}, this binary knows {known}) with expand migrations only, so this binary \
             can use it"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_password_of_a_url_is_redacted() {
        for (url, shown) in [
            (
                "postgres://app:hunter2@db:5432/x",
                "postgres://app:<redacted>@db:5432/x",
            ),
            ("postgres://app:p@ss@db/x", "postgres://app:<redacted>@db/x"),
            ("postgres://app@db/x", "postgres://app@db/x"),
            ("sqlite://data/tasksync.db", "sqlite://data/tasksync.db"),
        ] {
            assert_eq!(redact_password(url), shown, "{url}");
        }
    }
}
