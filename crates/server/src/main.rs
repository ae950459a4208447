//! The `tasksync` binary: parses the command line and runs it.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};
use tasksync_server::config::{Cli, Command, LogFormat};
use tasksync_server::{Application, admin, healthcheck, telemetry};

/// mimalloc instead of glibc's malloc: glibc gives every thread (tokio
/// workers, one thread per SQLite connection) its own arena, which made an
/// idle WebSocket cost ~20 KiB of resident memory through fragmentation
/// alone; with mimalloc it is a few KiB, and allocation is faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // Parsed in two steps: `check-config` prints the raw values.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match run(cli, &matches).await {
        Ok(code) => code,
        Err(e) => {
            // One line, with the chain of causes: "what failed: why".
            eprintln!("tasksync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(settings) => {
            telemetry::init_logging(settings.log_format == LogFormat::Json);
            let app = Application::build(*settings).await?;
            let s = &app.state().settings;
            tracing::info!(
                addr = %app.local_addr(),
                dev = s.dev,
                mail = if app.state().dev_mailbox.is_some() { "dev mailbox" } else { "smtp" },
                "tasksync listening"
            );
            // An error here: the shutdown grace period ran out (exit 1).
            app.run_until_stopped(shutdown_signal()).await?;
        }
        Command::Migrate(db) => {
            // Text logs: these commands are run by hand.
            telemetry::init_logging(false);
            admin::migrate(&db).await?;
        }
        Command::Users { db, command } => {
            telemetry::init_logging(false);
            admin::users(&db, &command).await?;
        }
        Command::Backup { db, path } => {
            telemetry::init_logging(false);
            admin::backup(&db, &path).await?;
        }
        Command::Restore { db, path } => {
            telemetry::init_logging(false);
            admin::restore(&db, &path).await?;
        }
        Command::CheckConfig(args) => {
            telemetry::init_logging(false);
            let empty = clap::ArgMatches::default();
            let own = matches.subcommand_matches("check-config").unwrap_or(&empty);
            return Ok(admin::check_config(&args, own).await);
        }
        Command::Healthcheck(args) => {
            // No logging: the answer is one line, on stdout or stderr.
            println!("{}", healthcheck::run(&args).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
