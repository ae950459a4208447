-- The whole schema of the PostgreSQL adapter (the SQLite adapter reached the
-- same shape in four steps). Identifiers are UUIDs, times are epoch
-- milliseconds as BIGINT, so both backends agree on every value.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    confirmed     BOOLEAN NOT NULL DEFAULT FALSE,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- At most one live code per user and purpose; a new one replaces the old.
CREATE TABLE codes (
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    code_hash  BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, purpose)
);

CREATE TABLE sessions (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions(user_id);
-- Every node polls for recently revoked sessions to close their sockets.
CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;

-- Every refresh token a session was ever given, by SHA-256 hash. Spent ones
-- stay until the session ends so that their reuse can be detected.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_der BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Failed sign-ins by e-mail address, whether or not an account exists.
CREATE TABLE login_throttle (
    email           TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL DEFAULT 0
);

-- Tasks and the change log. Every write of a task appends one row to
-- `changes` in the same transaction, numbered by the scope's counter in
-- `scopes`. The counter row is updated first in the writing transaction and
-- stays locked until it commits, so a scope's numbers are taken one
-- transaction at a time and commit in order: the log is gapless and in
-- commit order (a global sequence would not be).
CREATE TABLE tasks (
    id          UUID PRIMARY KEY,
    owner       UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    description TEXT,
    done        BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Sequence number of the latest change of this task.
    last_seq    BIGINT NOT NULL
);
CREATE INDEX tasks_live ON tasks(owner, created_at, id) WHERE NOT deleted;
CREATE INDEX tasks_changed ON tasks(owner, last_seq);

-- One counter per sync scope (today: per owner). Changes with
-- seq <= trimmed_to were removed by retention.
CREATE TABLE scopes (
    scope      UUID PRIMARY KEY,
    seq        BIGINT NOT NULL,
    trimmed_to BIGINT NOT NULL DEFAULT 0
);

-- The change log: the task's new image after each change.
CREATE TABLE changes (
    scope       UUID NOT NULL,
    seq         BIGINT NOT NULL,
    op          TEXT NOT NULL,
    at          BIGINT NOT NULL,
    task_id     UUID NOT NULL,
    title       TEXT NOT NULL,
    description TEXT,
    done        BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL,
    PRIMARY KEY (scope, seq)
);
-- Retention finds old changes by time.
CREATE INDEX changes_by_time ON changes(at);
-- An idempotent create is recognised by the create's own image.
CREATE INDEX changes_creates ON changes(scope, task_id) WHERE op = 'create';
