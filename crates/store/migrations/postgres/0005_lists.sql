-- Shared task lists (an expand migration: 0.1.0 keeps working on it). The
-- same shape as SQLite's 0008_lists.sql; see there for the why.

CREATE TABLE lists (
    id         UUID PRIMARY KEY,
    owner      UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    personal   BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE list_members (
    list_id    UUID NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    user_id    UUID REFERENCES users(id) ON DELETE SET NULL,
    role       TEXT NOT NULL,
    accepted   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (list_id, email)
);
CREATE INDEX list_members_by_user ON list_members(user_id, list_id) WHERE user_id IS NOT NULL;
CREATE INDEX list_members_pending ON list_members(email) WHERE user_id IS NULL;

INSERT INTO lists (id, owner, name, personal, created_at, updated_at, version, deleted)
    SELECT id, id, 'Personal', TRUE, created_at, created_at, 1, FALSE FROM users;
INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
    SELECT id, email, id, 'owner', TRUE, created_at FROM users;
CREATE FUNCTION users_personal_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lists (id, owner, name, personal, created_at, updated_at, version, deleted)
        VALUES (NEW.id, NEW.id, 'Personal', TRUE, NEW.created_at, NEW.created_at, 1, FALSE);
    INSERT INTO list_members (list_id, email, user_id, role, accepted, created_at)
        VALUES (NEW.id, NEW.email, NEW.id, 'owner', TRUE, NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER users_personal_list AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_personal_list();

-- A one-time rewrite of `tasks` (the exception to the rule in
-- migrations/README.md: every task needs its list once).
ALTER TABLE tasks ADD COLUMN list_id UUID;
UPDATE tasks SET list_id = owner;
CREATE FUNCTION tasks_default_list() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.list_id := COALESCE(NEW.list_id, NEW.owner);
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_default_list BEFORE INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_default_list();
CREATE INDEX tasks_in_list ON tasks(list_id, created_at, id) WHERE NOT deleted;

ALTER TABLE changes ADD COLUMN list_id UUID;
-- Who created the task (the image was the scope's own task before lists,
-- so NULL: the scope).
ALTER TABLE changes ADD COLUMN owner UUID;
CREATE INDEX changes_by_task ON changes(scope, task_id, seq);

CREATE TABLE list_changes (
    scope      UUID NOT NULL,
    seq        BIGINT NOT NULL,
    op         TEXT NOT NULL,
    at         BIGINT NOT NULL,
    list_id    UUID NOT NULL,
    owner      UUID NOT NULL,
    name       TEXT NOT NULL,
    personal   BOOLEAN NOT NULL,
    role       TEXT NOT NULL,
    members    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    deleted    BOOLEAN NOT NULL,
    PRIMARY KEY (scope, seq)
);
CREATE INDEX list_changes_by_time ON list_changes(at);
CREATE INDEX list_changes_by_list ON list_changes(scope, list_id, seq);
