//! Command line and settings. Every setting of `tasksync serve` is a flag
//! and an environment variable; the defaults run with no set-up.
//!
//! The doc comments of the fields are the settings' reference: they are
//! the `--help` text, and [`reference`](mod@reference) renders them into
//! docs/configuration.md, which a test keeps current.

pub mod reference;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// tasksync: real-time task synchronisation server.
#[derive(Debug, Parser)]
#[command(name = "tasksync", version = crate::build_info::VERSION_TEXT, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: the web app, `/auth/*`, GraphQL over HTTP and
    /// WebSockets, all on one port.
    Serve(Box<Settings>),
    /// Apply pending database migrations and exit (`serve` and `users` also
    /// apply them when they start).
    Migrate(DatabaseArgs),
    /// Manage user accounts. Works beside a running server on the same
    /// database; a change takes effect on the server's next request.
    ///
    /// Give it the server's database: the same `TASKSYNC_DATABASE_URL`, or
    /// `--database-url URL` right after `users` (before the subcommand). The
    /// default SQLite path is relative to the working directory, so run it
    /// where the server runs.
    Users {
        #[command(flatten)]
        db: DatabaseArgs,
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Ask the server on this machine whether it is alive (`GET /healthz`)
    /// or ready for traffic (`--ready`: `GET /readyz`), for container and
    /// deploy health checks (no curl needed). Exits 0 when it answers 200
    /// (and, with `--expect-version`, is that version), else 1 with the
    /// reason on one line.
    Healthcheck(HealthcheckArgs),
    /// Write a backup of the database to PATH, which must not exist. SQLite:
    /// a consistent copy (`VACUUM INTO`), taken while a server serves.
    /// PostgreSQL: `pg_dump --format=custom` (the PostgreSQL client tools
    /// must be on PATH; the password goes to them in `PGPASSWORD`, never on
    /// their command line).
    Backup {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The file to write.
        path: PathBuf,
    },
    /// Replace the database with the backup at PATH. Stop every server of
    /// the database first: a SQLite database in use is refused, and so is a
    /// PostgreSQL one with tasksync connections open.
    ///
    /// The backup is checked first: SQLite: a SQLite file that passes
    /// `PRAGMA integrity_check`, whose schema this binary can use; it then
    /// replaces the database file atomically. PostgreSQL: a `pg_dump`
    /// custom-format archive whose schema this binary can use, restored by
    /// `pg_restore --clean --if-exists --no-owner --single-transaction`.
    Restore {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The backup, as `tasksync backup` wrote it.
        path: PathBuf,
    },
    /// Check the settings of `serve` (the same flags and environment) and
    /// print each one as `TASKSYNC_NAME=value`, secrets as `<redacted>`.
    /// Exits with status 2 and the reason when a setting cannot work.
    CheckConfig(Box<CheckConfig>),
}

/// Flags of `tasksync healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// The server's base URL, `http://HOST:PORT` (plain HTTP only). Defaults
    /// to the listen address, with `0.0.0.0` and `[::]` replaced by the
    /// loopback address.
    #[arg(long, env = "TASKSYNC_HEALTHCHECK_URL")]
    pub url: Option<Url>,
    /// The listen address the default URL is made from: the server's own
    /// setting.
    #[arg(long, env = "TASKSYNC_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Ask `/readyz` (ready for traffic; 503 while draining) instead of
    /// `/healthz` (alive and its database answers).
    #[arg(long, env = "TASKSYNC_HEALTHCHECK_READY", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub ready: bool,
    /// Fail unless the server is this build: the text after `tasksync ` in
    /// `tasksync --version`, such as `0.1.0 (commit 1a2b3c4d5e6f)`.
    #[arg(long, env = "TASKSYNC_HEALTHCHECK_EXPECT_VERSION", value_name = "TEXT")]
    pub expect_version: Option<String>,
    /// How long each request may take, connecting included.
    #[arg(long, env = "TASKSYNC_HEALTHCHECK_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// `tasksync check-config`: the settings of `serve`, and one more.
#[derive(Debug, Args)]
pub struct CheckConfig {
    #[command(flatten)]
    pub settings: Settings,
    /// Also open the database (without migrating it) and check that this
    /// binary can use its schema.
    #[arg(long, env = "TASKSYNC_CHECK_CONNECT", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub connect: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// List every account.
    List,
    /// Mark an account's e-mail address as verified (the latest sign-up's
    /// password stands: use it only when you know the owner signed up last).
    Confirm {
        /// The account's e-mail address.
        email: String,
    },
    /// Disable an account, end all of its sessions and close its sockets.
    Disable {
        /// The account's e-mail address.
        email: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account's e-mail address.
        email: String,
    },
}

/// Where the database is. Its `Debug` output, like `--help`, never shows
/// the URL's password.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` for one node (the file and its
    /// directory are made on first start; a relative path is relative to the
    /// working directory), or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`,
    /// which several nodes may share. The password is never printed.
    #[arg(
        long,
        env = "TASKSYNC_DATABASE_URL",
        default_value = "sqlite://data/tasksync.db",
        hide_env_values = true,
        help_heading = heading::DATABASE
    )]
    pub database_url: String,
    /// SQLite: connections of the read pool, at least 1. Writes do not use
    /// it: account writes have one connection of their own, and task writes
    /// one on a thread of its own (group commit).
    #[arg(long, env = "TASKSYNC_DB_READ_CONNECTIONS", default_value_t = 8, help_heading = heading::DATABASE)]
    pub db_read_connections: u32,
    /// PostgreSQL: connections of this node's pool, for reads and writes, at
    /// least 2; the commit listener holds one more. Keep N nodes × (this +
    /// 1) under the server's `max_connections`.
    #[arg(long, env = "TASKSYNC_DB_MAX_CONNECTIONS", default_value_t = 16, help_heading = heading::DATABASE)]
    pub db_max_connections: u32,
    /// PostgreSQL: how long a request waits for a free pool connection
    /// before it fails.
    #[arg(long, env = "TASKSYNC_DB_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration, help_heading = heading::DATABASE)]
    pub db_acquire_timeout: Duration,
    /// Reads of one user's tasks and change log that may run at once (more
    /// wait their turn), so that no user can hold the whole read pool. Keep
    /// it below the pool size.
    #[arg(long, env = "TASKSYNC_DB_READS_PER_USER", default_value_t = 2, help_heading = heading::DATABASE)]
    pub db_reads_per_user: usize,
}

impl DatabaseArgs {
    /// Refuses pool settings that cannot work, for the server and the admin
    /// commands alike, with a one-line reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.db_read_connections == 0 {
            return Err("TASKSYNC_DB_READ_CONNECTIONS must be at least 1".into());
        }
        if self.db_max_connections < 2 {
            // One for a write lane, at least one for everything else.
            return Err("TASKSYNC_DB_MAX_CONNECTIONS must be at least 2".into());
        }
        if self.db_acquire_timeout.is_zero() {
            return Err("TASKSYNC_DB_ACQUIRE_TIMEOUT must be longer than 0s".into());
        }
        if self.db_reads_per_user == 0 {
            return Err("TASKSYNC_DB_READS_PER_USER must be at least 1".into());
        }
        Ok(())
    }
}

impl std::fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field(
                "database_url",
                &tasksync_store::redact_url(&self.database_url),
            )
            .field("db_read_connections", &self.db_read_connections)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("db_reads_per_user", &self.db_reads_per_user)
            .finish()
    }
}

/// The help headings that group the settings in `--help` and in
/// docs/configuration.md.
mod heading {
    pub const SERVER: &str = "Server";
    pub const DATABASE: &str = "Database";
    pub const MAIL: &str = "Mail";
    pub const ACCOUNTS: &str = "Accounts and tokens";
    pub const RETENTION: &str = "Retention";
    pub const RATES: &str = "Rate limits";
    pub const HTTP: &str = "HTTP";
    pub const GRAPHQL: &str = "GraphQL limits";
    pub const WS: &str = "WebSockets";
}

/// Settings of `tasksync serve`.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "TASKSYNC_LISTEN", default_value = "127.0.0.1:8080", help_heading = heading::SERVER)]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The URL clients use to reach the server: the issuer (`iss`) of every
    /// token, so it must be the same on every node, and an origin always
    /// allowed by CORS and for WebSockets. Defaults to `http://` + the listen
    /// address. Changing it invalidates the access and ID tokens already
    /// issued (clients get new ones with their refresh tokens).
    #[arg(long, env = "TASKSYNC_PUBLIC_URL", help_heading = heading::SERVER)]
    pub public_url: Option<Url>,
    /// SMTP server for outgoing mail: `smtps://USER:PASS@HOST[:PORT]` (TLS,
    /// port 465 unless given), `smtp://USER:PASS@HOST:587?tls=required`
    /// (STARTTLS, never in clear), or `smtp://HOST:PORT` (plain, only for a
    /// relay on the same machine). Percent-encode special characters of the
    /// user name and password. Required outside dev mode; its value is never
    /// printed.
    #[arg(long, env = "TASKSYNC_SMTP_URL", hide_env_values = true, help_heading = heading::MAIL)]
    pub smtp_url: Option<SecretString>,
    /// Bearer token that `GET /metrics` requires. Without one, metrics are
    /// open in dev mode and refused (403) otherwise.
    #[arg(long, env = "TASKSYNC_METRICS_TOKEN", hide_env_values = true, help_heading = heading::SERVER)]
    pub metrics_token: Option<SecretString>,
    /// Sender of outgoing mail: an address the mail server may send from.
    #[arg(
        long,
        env = "TASKSYNC_SMTP_FROM",
        default_value = "tasksync <no-reply@tasksync.invalid>",
        help_heading = heading::MAIL
    )]
    pub smtp_from: String,
    /// Development mode: the server may run without SMTP (mail then goes to
    /// the dev mailbox at `/dev/mailbox`), every CORS and WebSocket origin is
    /// allowed, the Content-Security-Policy is relaxed, and GraphiQL and
    /// GraphQL introspection are on. Never in production. `1`, `true`, `yes`
    /// and `on` turn it on.
    #[arg(long, env = "TASKSYNC_DEV", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0..=1, default_missing_value = "true", help_heading = heading::SERVER)]
    pub dev: bool,
    /// Browser origins allowed to call the API and to open WebSockets,
    /// comma-separated, besides the origin of the public URL (dev mode
    /// allows any).
    #[arg(long, env = "TASKSYNC_ALLOWED_ORIGINS", value_delimiter = ',', help_heading = heading::SERVER)]
    pub allowed_origins: Vec<String>,
    /// Lifetime of access and ID tokens, at least `1s`. A WebSocket is
    /// closed (4403) when the access token it was opened with expires.
    #[arg(long, env = "TASKSYNC_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = humantime::parse_duration, help_heading = heading::ACCOUNTS)]
    pub access_token_ttl: Duration,
    /// Codes (sign-up, reset) one account may be sent per hour, whatever
    /// asks for them; the requests beyond answer as ever but mail nothing.
    #[arg(long, env = "TASKSYNC_CODES_PER_HOUR", default_value_t = 5, help_heading = heading::ACCOUNTS)]
    pub codes_per_hour: u32,
    /// Wrong codes one account may be tried with per hour, across fresh
    /// codes; beyond, every code (the right one too) is refused until the
    /// hour is over. One code takes at most five wrong tries in any case.
    #[arg(long, env = "TASKSYNC_CODE_TRIES_PER_HOUR", default_value_t = 10, help_heading = heading::ACCOUNTS)]
    pub code_tries_per_hour: u32,
    /// Active sessions (signed-in devices) a user may have; a sign-in beyond
    /// them ends the oldest.
    #[arg(long, env = "TASKSYNC_MAX_SESSIONS_PER_USER", default_value_t = 100, help_heading = heading::ACCOUNTS)]
    pub max_sessions_per_user: u32,
    /// How long after its expiry an access token is still accepted, for
    /// clocks that disagree a little: whole seconds, at most `60s`.
    #[arg(long, env = "TASKSYNC_TOKEN_LEEWAY", default_value = "1s", value_parser = humantime::parse_duration, help_heading = heading::ACCOUNTS)]
    pub token_leeway: Duration,
    /// Absolute lifetime of a session and its refresh tokens; refreshing
    /// does not extend it. Longer than the access token lifetime.
    #[arg(long, env = "TASKSYNC_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = humantime::parse_duration, help_heading = heading::ACCOUNTS)]
    pub refresh_token_ttl: Duration,
    /// Lifetime of e-mailed codes.
    #[arg(long, env = "TASKSYNC_CODE_TTL", default_value = "24h", value_parser = humantime::parse_duration, help_heading = heading::ACCOUNTS)]
    pub code_ttl: Duration,
    /// How long the change log and tombstones are kept (an older cursor gets
    /// `CURSOR_EXPIRED`, or a full sync from `syncTasks`), and how long ended
    /// sessions and sign-in failure records are kept before they are purged.
    #[arg(long, env = "TASKSYNC_RETENTION", default_value = "7d", value_parser = humantime::parse_duration, help_heading = heading::RETENTION)]
    pub retention: Duration,
    /// How often the background job applies the retention and purges
    /// expired codes, sessions and sign-in failure records.
    #[arg(long, env = "TASKSYNC_MAINTENANCE_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration, help_heading = heading::RETENTION)]
    pub maintenance_interval: Duration,
    /// Audience (`aud`) of issued tokens.
    #[arg(long, env = "TASKSYNC_TOKEN_AUDIENCE", default_value = "tasksync", help_heading = heading::ACCOUNTS)]
    pub token_audience: String,
    /// Requests per minute one client address may make to `/auth/*`
    /// (the TCP peer, or behind a trusted proxy the forwarded address),
    /// counted in memory by each node; beyond, 429 with `Retry-After`.
    #[arg(long, env = "TASKSYNC_AUTH_RATE_PER_MINUTE", default_value_t = 60, help_heading = heading::RATES)]
    pub auth_rate_per_minute: u32,
    /// Requests one client address may make to `/auth/*` in a burst, before
    /// the rate per minute applies.
    #[arg(long, env = "TASKSYNC_AUTH_RATE_BURST", default_value_t = 20, help_heading = heading::RATES)]
    pub auth_rate_burst: u32,
    /// Proxies (IP addresses or CIDR ranges, comma-separated) whose
    /// `X-Forwarded-For` is believed: a request from one of them is
    /// counted against the rightmost forwarded address that is not itself
    /// a trusted proxy. Empty (the default): the TCP peer is the client.
    /// Set it to your load balancer's address.
    #[arg(long, env = "TASKSYNC_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net, help_heading = heading::RATES)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest request body in bytes, at least 1024; larger ones get 413.
    #[arg(long, env = "TASKSYNC_MAX_BODY_BYTES", default_value_t = 1024 * 1024, help_heading = heading::HTTP)]
    pub max_body_bytes: usize,
    /// Deepest nesting of fields a GraphQL query may have
    /// (`{ tasks { items { id } } }` is 3 deep).
    #[arg(long, env = "TASKSYNC_GRAPHQL_MAX_DEPTH", default_value_t = 16, help_heading = heading::GRAPHQL)]
    pub graphql_max_depth: usize,
    /// Highest complexity a GraphQL query may have: each field counts 1,
    /// each field that reads or writes the database 100 more, and
    /// `tasks(limit: n)` and `syncTasks(limit: n)` count n times the fields
    /// selected inside them.
    #[arg(
        long,
        env = "TASKSYNC_GRAPHQL_MAX_COMPLEXITY",
        default_value_t = 20_000,
        help_heading = heading::GRAPHQL
    )]
    pub graphql_max_complexity: usize,
    /// Most fields one GraphQL document may select, counted with its
    /// fragments expanded (a few fragments can stand for millions of
    /// fields); larger documents are refused before they are validated, on
    /// HTTP and on WebSocket `subscribe` alike.
    #[arg(long, env = "TASKSYNC_GRAPHQL_MAX_SELECTIONS", default_value_t = 1000, help_heading = heading::GRAPHQL)]
    pub graphql_max_selections: usize,
    /// Largest `limit` of `tasks` and `syncTasks`.
    #[arg(long, env = "TASKSYNC_GRAPHQL_MAX_LIMIT", default_value_t = 1000, help_heading = heading::GRAPHQL)]
    pub graphql_max_limit: u32,
    /// Longest query text of one operation, in bytes (large values belong
    /// in variables); longer ones are refused before they are parsed. Query
    /// text costs one unit of the API rate limit per 4 KiB, bodies one per
    /// 16 KiB.
    #[arg(
        long,
        env = "TASKSYNC_GRAPHQL_MAX_QUERY_BYTES",
        default_value_t = 64 * 1024,
        help_heading = heading::GRAPHQL
    )]
    pub graphql_max_query_bytes: usize,
    /// Bytes of tasks one request may answer with, about (their texts and
    /// 256 bytes each), shared by the `tasks` and `syncTasks` of all its
    /// operations: a page holds fewer than `limit` tasks when they would
    /// take more (always at least one), and `nextToken` continues it.
    #[arg(
        long,
        env = "TASKSYNC_GRAPHQL_MAX_ANSWER_BYTES",
        default_value_t = 1024 * 1024,
        help_heading = heading::GRAPHQL
    )]
    pub graphql_max_answer_bytes: usize,
    /// Most operations in one batched GraphQL request.
    #[arg(long, env = "TASKSYNC_GRAPHQL_MAX_BATCH", default_value_t = 10, help_heading = heading::GRAPHQL)]
    pub graphql_max_batch: usize,
    /// Most root fields (`task`, `tasks`, `createTask`, …: each one reads or
    /// writes the database; aliases count, `__typename` is free) one request
    /// may select, summed over the operations of a batch; also per WebSocket
    /// operation.
    #[arg(long, env = "TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS", default_value_t = 50, help_heading = heading::GRAPHQL)]
    pub graphql_max_root_fields: usize,
    /// Most members of one shared list, its owner and pending invitations
    /// included (`shareList` beyond it: `BAD_USER_INPUT`).
    #[arg(long, env = "TASKSYNC_MAX_LIST_MEMBERS", default_value_t = 100, help_heading = heading::GRAPHQL)]
    pub max_list_members: u32,
    /// Most lists one user may be in, the personal one included
    /// (`createList` beyond it: `BAD_USER_INPUT`). Lists shared with the
    /// user count, but a share is never refused for it: that answer would
    /// tell the sharer something of the invitee.
    #[arg(long, env = "TASKSYNC_MAX_LISTS_PER_USER", default_value_t = 1000, help_heading = heading::GRAPHQL)]
    pub max_lists_per_user: u32,
    /// Most live tasks a list may hold for `shareList` to add a member to
    /// it (beyond: `BAD_USER_INPUT`). A new member gets every task of the
    /// list at once, and a removed one loses them, each a change-log row:
    /// this bounds what one membership change writes. Personal lists,
    /// which are never shared, have no such bound.
    #[arg(long, env = "TASKSYNC_MAX_SHARED_LIST_TASKS", default_value_t = 10_000, help_heading = heading::GRAPHQL)]
    pub max_shared_list_tasks: u32,
    /// Root fields one user may run per second over `/graphql` and their
    /// WebSockets together (anonymous callers: per client address), counted
    /// in memory by each node. Beyond it: 429 `RATE_LIMITED` with
    /// `Retry-After` (on a socket, an `error` message for that operation).
    #[arg(long, env = "TASKSYNC_API_RATE_PER_SECOND", default_value_t = 200, help_heading = heading::RATES)]
    pub api_rate_per_second: u32,
    /// Root fields one user may run at once, in a burst, before the rate
    /// per second applies. At least `TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS`.
    #[arg(long, env = "TASKSYNC_API_RATE_BURST", default_value_t = 1000, help_heading = heading::RATES)]
    pub api_rate_burst: u32,
    /// List invitations ("a list was shared with you") one address may be
    /// mailed per hour, counted in memory by each node. A share beyond it
    /// still takes effect and answers as ever; only its mail is not sent.
    #[arg(long, env = "TASKSYNC_SHARE_NOTICES_PER_ADDRESS_PER_HOUR", default_value_t = 10, help_heading = heading::RATES)]
    pub share_notices_per_address_per_hour: u32,
    /// List invitations one user may cause to be mailed per hour, counted
    /// in memory by each node; beyond it, shares take effect unmailed.
    #[arg(long, env = "TASKSYNC_SHARE_NOTICES_PER_USER_PER_HOUR", default_value_t = 200, help_heading = heading::RATES)]
    pub share_notices_per_user_per_hour: u32,
    /// Most WebSockets one user may have open at once on this node; the
    /// next one is closed with 4429.
    #[arg(long, env = "TASKSYNC_MAX_SOCKETS_PER_USER", default_value_t = 100, help_heading = heading::WS)]
    pub max_sockets_per_user: usize,
    /// Most operations running at once on one WebSocket; the next
    /// `subscribe` is answered with an `error` (`RATE_LIMITED`) and the
    /// socket stays open.
    #[arg(long, env = "TASKSYNC_WS_MAX_SUBSCRIPTIONS", default_value_t = 100, help_heading = heading::WS)]
    pub ws_max_subscriptions: usize,
    /// Largest WebSocket message a client may send, in bytes; a larger one
    /// closes the socket with 1009.
    #[arg(long, env = "TASKSYNC_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024, help_heading = heading::WS)]
    pub ws_max_message_bytes: usize,
    /// Time a new WebSocket has to send `connection_init` (4408 after).
    #[arg(long, env = "TASKSYNC_WS_INIT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration, help_heading = heading::WS)]
    pub ws_init_timeout: Duration,
    /// Interval of the server's pings; a peer silent for two intervals is
    /// dropped. A proxy in front must not time out idle sockets sooner.
    #[arg(long, env = "TASKSYNC_WS_PING_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration, help_heading = heading::WS)]
    pub ws_ping_interval: Duration,
    /// Longest one write to a socket (a message, or a burst of up to 256) may
    /// take; a peer that accepts nothing for that long is closed with 1008.
    #[arg(long, env = "TASKSYNC_WS_SEND_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, help_heading = heading::WS)]
    pub ws_send_timeout: Duration,
    /// Commit batches a user's live subscribers share (the scope's ring); a
    /// subscriber that falls this many batches behind leaves the live path
    /// and reads the log at its own pace, losing nothing. The ring is
    /// allocated in full (32 bytes a batch, rounded up to a power of two) for
    /// every user with a subscription on this node; at most 65,536.
    #[arg(long, env = "TASKSYNC_WS_LIVE_BUFFER", default_value_t = 256, help_heading = heading::WS)]
    pub ws_live_buffer: usize,
    /// Threads of the runtime that runs WebSocket tasks. HTTP requests and
    /// writes have a runtime of their own, so fan-out to many sockets never
    /// makes a writer wait. Defaults to the number of cores.
    #[arg(long, env = "TASKSYNC_WS_THREADS", default_value_t = default_ws_threads(), hide_default_value = true, help_heading = heading::WS)]
    pub ws_threads: usize,
    /// Render change subscriptions of the common shapes (`taskChanges` and
    /// the `on…Task` subscriptions selecting plain fields) straight to JSON
    /// instead of through the GraphQL executor for every delivery: the same
    /// output at a fraction of the cost. A switch for comparison and
    /// emergencies.
    #[arg(long, env = "TASKSYNC_WS_FAST_PATH", value_parser = clap::builder::BoolishValueParser::new(), default_value = "true", help_heading = heading::WS)]
    pub ws_fast_path: bool,
    /// Longest wait for a request's head (and so the longest a kept-alive
    /// connection may sit idle); a connection that does not send a whole
    /// head in time is closed.
    #[arg(long, env = "TASKSYNC_HTTP_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, help_heading = heading::HTTP)]
    pub http_header_timeout: Duration,
    /// Longest a request body may take to arrive (408 after).
    #[arg(long, env = "TASKSYNC_HTTP_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, help_heading = heading::HTTP)]
    pub http_body_timeout: Duration,
    /// Connections open at once (HTTP and WebSocket); more wait in the
    /// kernel's queue. 0: as many as the open-file limit allows (raised to
    /// its hard limit at start) less 128 kept for everything else.
    #[arg(long, env = "TASKSYNC_MAX_CONNECTIONS", default_value_t = 0, help_heading = heading::HTTP)]
    pub max_connections: usize,
    /// The longest a shutdown (SIGTERM or Ctrl-C) may take, from the
    /// signal: the drain delay, then in-flight requests and the closing of
    /// WebSockets. When it runs out the process exits anyway, with status
    /// 1. Longer than the drain delay and the socket window together.
    #[arg(long, env = "TASKSYNC_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration, help_heading = heading::SERVER)]
    pub shutdown_grace: Duration,
    /// How long a node keeps serving after the shutdown signal, with
    /// `/readyz` answering 503, so that a load balancer stops sending it
    /// new requests and sockets before it stops accepting them. Make it
    /// longer than the balancer's health-check interval times its failure
    /// threshold; `0s` with no balancer in front.
    #[arg(long, env = "TASKSYNC_DRAIN_DELAY", default_value = "5s", value_parser = humantime::parse_duration, help_heading = heading::SERVER)]
    pub drain_delay: Duration,
    /// Over how long, after the drain delay, the node closes its WebSockets
    /// (1012 "service restart"), in batches in random order, so that their
    /// clients reconnect to the other nodes spread out rather than all at
    /// once.
    #[arg(long, env = "TASKSYNC_DRAIN_SOCKET_WINDOW", default_value = "5s", value_parser = humantime::parse_duration, help_heading = heading::SERVER)]
    pub drain_socket_window: Duration,
    /// Log format on standard error; `RUST_LOG` filters what is logged.
    #[arg(long, env = "TASKSYNC_LOG_FORMAT", default_value = "text", help_heading = heading::SERVER)]
    pub log_format: LogFormat,
}

/// Largest `TASKSYNC_WS_LIVE_BUFFER`: a ring of 65,536 batches costs 2 MiB
/// per subscribed user.
pub const MAX_LIVE_BUFFER: usize = 65_536;

fn default_ws_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// An IP network, or one address as a network of one.
fn parse_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range"))
}

impl Settings {
    /// Settings as `tasksync serve` with no flags has them (environment
    /// variables still apply): the base for tests and embedding.
    pub fn defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            settings: Settings,
        }
        // Parsing an empty command line cannot fail: every field has a default.
        Only::try_parse_from(["tasksync"])
            .map(|o| o.settings)
            .unwrap_or_else(|e| unreachable!("defaults must parse: {e}"))
    }

    /// Refuses settings that cannot work, with a one-line reason.
    pub fn validate(&self) -> Result<(), String> {
        if !self.dev && self.smtp_url.is_none() {
            return Err(
                "production mode needs TASKSYNC_SMTP_URL to send sign-up codes \
                        (set it, or set TASKSYNC_DEV=1 to use the dev mailbox)"
                    .into(),
            );
        }
        if let Some(smtp) = &self.smtp_url
            && Url::parse(smtp.expose_secret()).is_err()
        {
            return Err("TASKSYNC_SMTP_URL is not a valid URL".into());
        }
        if self.codes_per_hour == 0 || self.code_tries_per_hour == 0 {
            return Err(
                "TASKSYNC_CODES_PER_HOUR and TASKSYNC_CODE_TRIES_PER_HOUR must be at least 1"
                    .into(),
            );
        }
        if self.max_sessions_per_user == 0 {
            return Err("TASKSYNC_MAX_SESSIONS_PER_USER must be at least 1".into());
        }
        if self.token_leeway > Duration::from_secs(60) {
            return Err("TASKSYNC_TOKEN_LEEWAY must be at most 60s".into());
        }
        if self.access_token_ttl < Duration::from_secs(1) {
            return Err("TASKSYNC_ACCESS_TOKEN_TTL must be at least 1s".into());
        }
        self.database.validate()?;
        if self.http_header_timeout.is_zero() || self.http_body_timeout.is_zero() {
            return Err("TASKSYNC_HTTP_HEADER_TIMEOUT and TASKSYNC_HTTP_BODY_TIMEOUT must be longer than 0s".into());
        }
        if self.ws_threads == 0 {
            return Err("TASKSYNC_WS_THREADS must be at least 1".into());
        }
        if self.max_sockets_per_user == 0
            || self.ws_max_subscriptions == 0
            || self.ws_live_buffer == 0
        {
            return Err("WebSocket limits must be at least 1".into());
        }
        if self.ws_live_buffer > MAX_LIVE_BUFFER {
            return Err(format!(
                "TASKSYNC_WS_LIVE_BUFFER must be at most {MAX_LIVE_BUFFER} (each subscribed user's ring is allocated in full)"
            ));
        }
        if self.refresh_token_ttl <= self.access_token_ttl {
            return Err(
                "TASKSYNC_REFRESH_TOKEN_TTL must be longer than the access token TTL".into(),
            );
        }
        if self.auth_rate_per_minute == 0 || self.auth_rate_burst == 0 {
            return Err("auth rate limits must be at least 1".into());
        }
        if self.graphql_max_depth == 0
            || self.graphql_max_selections == 0
            || self.graphql_max_complexity == 0
            || self.graphql_max_batch == 0
            || self.graphql_max_limit == 0
            || self.graphql_max_query_bytes == 0
            || self.graphql_max_answer_bytes == 0
        {
            return Err("GraphQL limits must be at least 1".into());
        }
        if self.max_list_members < 2 || self.max_lists_per_user < 1 {
            return Err(
                "TASKSYNC_MAX_LIST_MEMBERS must be at least 2 (the owner and one more) and TASKSYNC_MAX_LISTS_PER_USER at least 1 (the personal list)"
                    .into(),
            );
        }
        if self.share_notices_per_address_per_hour == 0 || self.share_notices_per_user_per_hour == 0
        {
            return Err(
                "TASKSYNC_SHARE_NOTICES_PER_ADDRESS_PER_HOUR and TASKSYNC_SHARE_NOTICES_PER_USER_PER_HOUR must be at least 1 (an invitee is told by mail)"
                    .into(),
            );
        }
        if self.graphql_max_root_fields == 0 || self.api_rate_per_second == 0 {
            return Err(
                "TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS and TASKSYNC_API_RATE_PER_SECOND must be at least 1"
                    .into(),
            );
        }
        if (self.api_rate_burst as usize) < self.graphql_max_root_fields {
            return Err(
                "TASKSYNC_API_RATE_BURST must be at least TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS (else the largest request could never run)"
                    .into(),
            );
        }
        if self.max_body_bytes < 1024 {
            return Err("TASKSYNC_MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.shutdown_grace <= self.drain_delay + self.drain_socket_window {
            return Err(format!(
                "TASKSYNC_SHUTDOWN_GRACE ({}) must be longer than TASKSYNC_DRAIN_DELAY ({}) and \
                 TASKSYNC_DRAIN_SOCKET_WINDOW ({}) together, or a clean shutdown could never finish in time",
                humantime::format_duration(self.shutdown_grace),
                humantime::format_duration(self.drain_delay),
                humantime::format_duration(self.drain_socket_window),
            ));
        }
        Ok(())
    }

    /// The issuer: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let s = Settings::defaults();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database.database_url, "sqlite://data/tasksync.db");
        assert_eq!(s.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(s.code_ttl, Duration::from_secs(86400));
        assert_eq!(s.retention, Duration::from_secs(7 * 86400));
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert_eq!(s.graphql_max_query_bytes, 64 * 1024);
        assert_eq!(s.graphql_max_answer_bytes, 1024 * 1024);
        assert!(!s.dev);
        assert_eq!(s.issuer(), "http://127.0.0.1:8080");
    }

    #[test]
    fn database_pool_settings_below_their_minimum_are_refused() {
        let with = |database: DatabaseArgs| Settings {
            dev: true,
            database,
            ..Settings::defaults()
        };
        let base = Settings::defaults().database;
        for (database, setting) in [
            (
                DatabaseArgs {
                    db_read_connections: 0,
                    ..base.clone()
                },
                "TASKSYNC_DB_READ_CONNECTIONS",
            ),
            (
                DatabaseArgs {
                    db_max_connections: 1,
                    ..base.clone()
                },
                "TASKSYNC_DB_MAX_CONNECTIONS",
            ),
            (
                DatabaseArgs {
                    db_acquire_timeout: Duration::ZERO,
                    ..base.clone()
                },
                "TASKSYNC_DB_ACQUIRE_TIMEOUT",
            ),
            (
                DatabaseArgs {
                    db_reads_per_user: 0,
                    ..base.clone()
                },
                "TASKSYNC_DB_READS_PER_USER",
            ),
        ] {
            let err = with(database).validate().expect_err(setting);
            assert!(err.contains(setting), "{err}");
        }
        assert_eq!(with(base).validate(), Ok(()));
    }

    #[test]
    fn limits_outside_their_range_are_refused_with_their_name() {
        let base = Settings {
            dev: true,
            ..Settings::defaults()
        };
        type Change = fn(&mut Settings);
        let cases: [(Change, &str); 17] = [
            (
                |s| s.token_leeway = Duration::from_secs(61),
                "TASKSYNC_TOKEN_LEEWAY",
            ),
            (
                |s| s.max_sessions_per_user = 0,
                "TASKSYNC_MAX_SESSIONS_PER_USER",
            ),
            (|s| s.codes_per_hour = 0, "TASKSYNC_CODES_PER_HOUR"),
            (
                |s| s.code_tries_per_hour = 0,
                "TASKSYNC_CODE_TRIES_PER_HOUR",
            ),
            (
                |s| s.http_header_timeout = Duration::ZERO,
                "TASKSYNC_HTTP_HEADER_TIMEOUT",
            ),
            (
                |s| s.http_body_timeout = Duration::ZERO,
                "TASKSYNC_HTTP_BODY_TIMEOUT",
            ),
            (
                |s| s.ws_live_buffer = MAX_LIVE_BUFFER + 1,
                "TASKSYNC_WS_LIVE_BUFFER",
            ),
            (|s| s.graphql_max_selections = 0, "GraphQL limits"),
            (|s| s.graphql_max_query_bytes = 0, "GraphQL limits"),
            (|s| s.graphql_max_answer_bytes = 0, "GraphQL limits"),
            (
                |s| s.graphql_max_root_fields = 0,
                "TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS",
            ),
            (
                |s| s.api_rate_per_second = 0,
                "TASKSYNC_API_RATE_PER_SECOND",
            ),
            (
                |s| s.share_notices_per_address_per_hour = 0,
                "TASKSYNC_SHARE_NOTICES_PER_ADDRESS_PER_HOUR",
            ),
            (
                |s| s.share_notices_per_user_per_hour = 0,
                "TASKSYNC_SHARE_NOTICES_PER_USER_PER_HOUR",
            ),
            (|s| s.api_rate_burst = 49, "TASKSYNC_API_RATE_BURST"),
            (
                |s| s.shutdown_grace = Duration::from_secs(10),
                "TASKSYNC_SHUTDOWN_GRACE",
            ),
            (
                |s| {
                    s.drain_delay = Duration::ZERO;
                    s.drain_socket_window = Duration::from_secs(31);
                },
                "TASKSYNC_DRAIN_SOCKET_WINDOW",
            ),
        ];
        for (change, name) in cases {
            let mut s = base.clone();
            change(&mut s);
            let err = s.validate().expect_err(name);
            assert!(err.contains(name), "{name}: {err}");
        }
        assert_eq!(base.validate(), Ok(()));
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let s = Settings {
            database: DatabaseArgs {
                database_url: "postgres://tasksync:hunter2-secret@db.internal:5432/tasks".into(),
                ..Settings::defaults().database
            },
            ..Settings::defaults()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("db.internal:5432/tasks"), "{text}");
    }

    #[test]
    fn production_without_smtp_is_refused_with_a_reason() {
        let s = Settings::defaults();
        let err = s.validate().expect_err("must refuse");
        assert!(err.contains("TASKSYNC_SMTP_URL"), "{err}");
        let dev = Settings {
            dev: true,
            ..Settings::defaults()
        };
        assert_eq!(dev.validate(), Ok(()));
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "tasksync",
            "serve",
            "--dev",
            "--listen",
            "0.0.0.0:9000",
            "--allowed-origins",
            "https://a.example,https://b.example",
            "--access-token-ttl",
            "5m",
            "--public-url",
            "https://tasks.example.com/",
        ])
        .expect("parses");
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        assert!(s.dev);
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(
            s.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(s.access_token_ttl, Duration::from_secs(300));
        assert_eq!(s.issuer(), "https://tasks.example.com");
    }
}
