-- No query reads the audit log by time (it is read by id, which follows the time), so
-- its index on the time only cost every insert. Codes keep only their grant's foreign
-- key: the grant goes with its client or user and takes its codes along (as token
-- families do), and each other key was a lookup per insert.
DROP INDEX audit_events_by_time;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT oauth_authorization_codes_client_pk_fkey;
ALTER TABLE oauth_authorization_codes DROP CONSTRAINT oauth_authorization_codes_user_id_fkey;
