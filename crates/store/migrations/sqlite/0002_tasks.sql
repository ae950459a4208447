-- Tasks and the change log.
--
-- Every write of a task appends one row to `changes` in the same
-- transaction, numbered by the scope's counter in `scopes`. The counter row
-- is updated inside the writing transaction, so numbers are taken under a
-- lock held until commit: the log of a scope is gapless and in commit order.

CREATE TABLE tasks (
    id          BLOB PRIMARY KEY NOT NULL,
    owner       BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT,
    done        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    -- Sequence number of the latest change of this task.
    last_seq    INTEGER NOT NULL
);
-- The live listing, oldest first, paged by (created_at, id).
CREATE INDEX tasks_live ON tasks(owner, created_at, id) WHERE deleted = 0;
-- Delta sync: the tasks of a scope changed after a sequence number.
CREATE INDEX tasks_changed ON tasks(owner, last_seq);

-- One counter per sync scope (today: per owner).
CREATE TABLE scopes (
    scope BLOB PRIMARY KEY NOT NULL,
    seq   INTEGER NOT NULL
);

-- The change log: the task's new image after each change.
CREATE TABLE changes (
    scope       BLOB NOT NULL,
    seq         INTEGER NOT NULL,
    op          TEXT NOT NULL,
    at          INTEGER NOT NULL,
    task_id     BLOB NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    done        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    deleted     INTEGER NOT NULL,
    PRIMARY KEY (scope, seq)
) WITHOUT ROWID;
