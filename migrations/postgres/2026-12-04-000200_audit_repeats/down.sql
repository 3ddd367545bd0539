DROP INDEX audit_events_by_repeat_key;
ALTER TABLE audit_events DROP COLUMN repeat_key;
ALTER TABLE audit_events DROP COLUMN repeats;
