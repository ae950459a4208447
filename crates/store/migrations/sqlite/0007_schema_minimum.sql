-- The expand/contract rule (crates/store/migrations/README.md): the lowest
-- schema version (migration number of this backend) that a tasksync binary
-- must know to use this database. An "expand" migration leaves it as it is;
-- a "contract" migration sets it to its own number, so that the older
-- binaries, which would misread the contracted schema, refuse to start.
CREATE TABLE schema_minimum (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO schema_minimum (id, version) VALUES (1, 0);
