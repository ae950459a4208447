-- Shared task lists (an expand migration: 0.1.0 keeps working on it).
--
-- Every task is in one list; every user has a personal list whose id is
-- the user's id. Members of a list are rows of `list_members`, the owner
-- included; an invitation of an address without a confirmed account has
-- no `user_id` until that account is confirmed.
--
-- Fan-out on write: a change of a task or list is written into the log
-- (`changes`, `list_changes`) of every member, each numbered by that
-- member's own counter in `scopes`, so every user keeps one gapless log
-- and one cursor across all their lists.

CREATE TABLE lists (
    id         BLOB PRIMARY KEY NOT NULL,
    owner      BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    personal   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE list_members (
    list_id    BLOB NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    -- The address shared with (normalised as accounts store it).
    email      TEXT NOT NULL,
    -- The account it is bound to; NULL while the address has no confirmed
    -- account (an invitation), and again if that account is deleted.
    user_id    BLOB REFERENCES users(id) ON DELETE SET NULL,
    role       TEXT NOT NULL,
    -- Whether the member has signed in since the invitation (until then
    -- the member shows as pending, whether or not the address has an
    -- account: the answer never tells).
    accepted   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (list_id, email)
) WITHOUT ROWID;
CREATE INDEX list_members_by_user ON list_members(user_id, list_id) WHERE user_id IS NOT NULL;
CREATE INDEX list_members_pending ON list_members(email) WHERE user_id IS NULL;

-- The personal list and its owner's membership, for every account: those
-- that exist now, and those an older binary creates during a rolling
-- upgrade (the trigger; the current binary relies on it too).
INSERT INTO lists (id, owner, name, personal, created_at, updated_at, version, deleted)
    SELECT id, id, 'Personal', 1, created_at, created_at, 1, 0 FROM users;
INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
    SELECT id, email, id, 'owner', 1, created_at FROM users;
CREATE TRIGGER users_personal_list AFTER INSERT ON users
BEGIN
    INSERT INTO lists (id, owner, name, personal, created_at, updated_at, version, deleted)
        VALUES (NEW.id, NEW.id, 'Personal', 1, NEW.created_at, NEW.created_at, 1, 0);
    INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
        VALUES (NEW.id, NEW.email, NEW.id, 'owner', 1, NEW.created_at);
END;

-- The list of each task: the owner's personal list for every task there
-- is, and for those an older binary writes (which does not know lists).
ALTER TABLE tasks ADD COLUMN list_id BLOB;
UPDATE tasks SET list_id = owner;
CREATE TRIGGER tasks_default_list AFTER INSERT ON tasks WHEN NEW.list_id IS NULL
BEGIN
    UPDATE tasks SET list_id = NEW.owner WHERE id = NEW.id;
END;
CREATE INDEX tasks_in_list ON tasks(list_id, created_at, id) WHERE deleted = 0;

-- The list of each task change; NULL (rows of older binaries): the
-- scope's personal list.
ALTER TABLE changes ADD COLUMN list_id BLOB;
-- Who created the task (the image was the scope's own task before lists,
-- so NULL: the scope).
ALTER TABLE changes ADD COLUMN owner BLOB;
-- Delta sync: the latest change of each task of a scope in a range.
CREATE INDEX changes_by_task ON changes(scope, task_id, seq);

-- Changes of lists in a member's log, numbered in the same sequence as
-- that member's task changes: the list as that member saw it after the
-- change (their role, and the members as JSON).
CREATE TABLE list_changes (
    scope      BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    op         TEXT NOT NULL,
    at         INTEGER NOT NULL,
    list_id    BLOB NOT NULL,
    owner      BLOB NOT NULL,
    name       TEXT NOT NULL,
    personal   INTEGER NOT NULL,
    role       TEXT NOT NULL,
    members    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    deleted    INTEGER NOT NULL,
    PRIMARY KEY (scope, seq)
) WITHOUT ROWID;
CREATE INDEX list_changes_by_time ON list_changes(at);
CREATE INDEX list_changes_by_list ON list_changes(scope, list_id, seq);
