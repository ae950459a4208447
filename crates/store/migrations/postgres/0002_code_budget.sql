-- Codes issued and wrong codes tried per account and hour, whatever the
-- source address: a new code must not buy five more guesses without end.
CREATE TABLE code_budget (
    user_id      UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    issued       BIGINT NOT NULL DEFAULT 0,
    wrong        BIGINT NOT NULL DEFAULT 0
);
