-- Codes issued and wrong codes tried per account and hour, whatever the
-- source address: a new code must not buy five more guesses without end.
CREATE TABLE code_budget (
    user_id      BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    window_start INTEGER NOT NULL,
    issued       INTEGER NOT NULL DEFAULT 0,
    wrong        INTEGER NOT NULL DEFAULT 0
);
