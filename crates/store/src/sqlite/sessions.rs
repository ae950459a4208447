//! Session lookups, the one read every authenticated request makes.
//!
//! They are served by a thread with a plain connection that answers every
//! lookup waiting at once: under load one wake-up serves many requests,
//! where a pooled async query pays a thread hop each. Each lookup still
//! reads the database (WAL: the latest commit), so a revoked session is
//! refused at once.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};
use tasksync_core::{SessionId, UserId};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{SessionRecord, StoreError};

/// Lookups answered in one wake-up, at most.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Option<SessionRecord>, StoreError>>;

/// Sends lookups to the session reader thread.
#[derive(Debug, Clone)]
pub(super) struct SessionReader {
    tx: mpsc::Sender<(SessionId, Reply)>,
}

fn engine(e: rusqlite::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl SessionReader {
    pub(super) fn spawn(path: &Path) -> crate::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(engine)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(engine)?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("tasksync-sessions".into())
            .spawn(move || run(&conn, rx))
            .map_err(|e| StoreError::Config(format!("cannot start the session reader: {e}")))?;
        Ok(Self { tx })
    }

    pub(super) async fn session(&self, id: SessionId) -> crate::Result<Option<SessionRecord>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((id, reply))
            .await
            .map_err(|_| StoreError::WorkerGone)?;
        answer.await.map_err(|_| StoreError::WorkerGone)?
    }
}

fn run(conn: &Connection, mut rx: mpsc::Receiver<(SessionId, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        for (id, reply) in batch.drain(..) {
            let _ = reply.send(lookup(conn, id).map_err(engine));
        }
    }
}

fn lookup(conn: &Connection, id: SessionId) -> rusqlite::Result<Option<SessionRecord>> {
    conn.prepare_cached(
        "SELECT id, user_id, created_at, expires_at, revoked_at FROM sessions WHERE id = ?1",
    )?
    .query_row(params![id.as_uuid()], |r| {
        Ok(SessionRecord {
            id: SessionId::from_uuid(r.get::<_, Uuid>(0)?),
            user_id: UserId::from_uuid(r.get::<_, Uuid>(1)?),
            created_at: r.get(2)?,
            expires_at: r.get(3)?,
            revoked_at: r.get(4)?,
        })
    })
    .optional()
}
