-- When the last failed sign-in of an address happened: failures older than
-- the forgetting window no longer count towards a lockout.
ALTER TABLE login_throttle ADD COLUMN last_failure_at INTEGER NOT NULL DEFAULT 0;
