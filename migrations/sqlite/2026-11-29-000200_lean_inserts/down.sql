-- The ids stay plain rowids; only the audit log's time index comes back.
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
