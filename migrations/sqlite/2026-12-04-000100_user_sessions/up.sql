-- Logged-in browser sessions. The cookie carries a random id; only its keyed hash is
-- stored, so a copy of the database logs nobody in. Deleting a row ends the session
-- everywhere (logout, "end this session", a password change, an admin).
CREATE TABLE user_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    -- Written at most once a minute per session (accounts::sessions::TOUCH_AFTER_SECONDS).
    last_seen_at BIGINT NOT NULL,
    -- created_at plus the absolute lifetime in force at login.
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id);
CREATE INDEX user_sessions_by_expiry ON user_sessions (expires_at);
