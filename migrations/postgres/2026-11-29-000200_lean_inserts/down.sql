CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
ALTER TABLE oauth_authorization_codes ADD CONSTRAINT oauth_authorization_codes_client_pk_fkey
    FOREIGN KEY (client_pk) REFERENCES oauth_clients (id) ON DELETE CASCADE;
ALTER TABLE oauth_authorization_codes ADD CONSTRAINT oauth_authorization_codes_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
