-- Retention of the change log: changes with seq <= trimmed_to are gone, so
-- cursors before it have expired (the client must do a full sync).
ALTER TABLE scopes ADD COLUMN trimmed_to INTEGER NOT NULL DEFAULT 0;

-- Live sockets are closed when their session is revoked; every node polls
-- for recently revoked sessions through this index.
CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;

-- Retention finds old changes by time.
CREATE INDEX changes_by_time ON changes(at);
