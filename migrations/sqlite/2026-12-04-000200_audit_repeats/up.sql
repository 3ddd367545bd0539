-- A failure that repeats (the same wrong client id from the same address, say) is one
-- row per minute with a count, not one row per request: `repeat_key` names the
-- (action, actor, IP, detail, minute) it counts, and is NULL for every other line.
ALTER TABLE audit_events ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_events ADD COLUMN repeat_key TEXT;
CREATE UNIQUE INDEX audit_events_by_repeat_key ON audit_events (repeat_key);
