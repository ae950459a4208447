-- Set when a later sign-up of a still unconfirmed address chose another
-- password: from then on a code confirms the account only together with
-- the password of the latest sign-up (whoever holds a code may not know
-- whose password it would confirm).
ALTER TABLE users ADD COLUMN contested BOOLEAN NOT NULL DEFAULT FALSE;
