//! The statements both adapters run alike, written once.
//!
//! Most of what the store does is the same SQL on SQLite and PostgreSQL:
//! both take `$1` placeholders, and sqlx binds and decodes the same Rust
//! types on both. Each function here is written once and compiled once per
//! backend: it takes a [`Backend`] value (a pool or a transaction of either
//! database), and [`on!`] expands a body once per variant, so each copy is
//! checked against that backend's own types (Vaultwarden's `db_run!` does
//! the same for Diesel). There are no trait bounds to spell out, and no
//! SQL is built at run time.
//!
//! Where one statement differs by a word (a row lock SQLite's write lock
//! makes unnecessary, a function's name, the predicate of a partial
//! index), [`Backend::pick`] holds both texts side by side. What differs
//! in more than that stays in the adapters: connecting and migrating, the
//! writers of task writes, the lock of the sign-in throttle, retention,
//! session lookups and the notices between nodes.
//!
//! The adapters choose where each statement runs (SQLite: the writer pool
//! for writes, the reader pool for reads; PostgreSQL: one pool) and how a
//! transaction begins (SQLite: `BEGIN IMMEDIATE`); functions that take a
//! [`Tx`] commit it.

pub(crate) mod accounts;
pub(crate) mod lists;
pub(crate) mod tasks;

use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

/// One value of either backend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend<S, P> {
    Sqlite(S),
    Postgres(P),
}

impl<S, P> Backend<S, P> {
    /// The statement of this value's backend.
    pub(crate) fn pick(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Self::Sqlite(_) => sqlite,
            Self::Postgres(_) => postgres,
        }
    }
}

/// Where a statement outside a transaction runs.
pub(crate) type Pool<'a> = Backend<&'a SqlitePool, &'a PgPool>;

/// An open transaction, begun by the adapter.
pub(crate) type Tx = Backend<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// The connection of a [`Tx`], for one statement.
pub(crate) type Conn<'a> = Backend<&'a mut SqliteConnection, &'a mut PgConnection>;

/// `on!(value, |x| body)`: `body` with `x` bound to what `value` holds,
/// compiled once for each backend.
macro_rules! on {
    ($value:expr, |$x:ident| $body:expr) => {
        match $value {
            $crate::sql::Backend::Sqlite($x) => $body,
            $crate::sql::Backend::Postgres($x) => $body,
        }
    };
}
pub(crate) use on;

impl Tx {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Self::Sqlite(tx) => Backend::Sqlite(&mut **tx),
            Self::Postgres(tx) => Backend::Postgres(&mut **tx),
        }
    }

    pub(crate) async fn commit(self) -> crate::Result<()> {
        on!(self, |tx| tx.commit().await)?;
        Ok(())
    }
}
