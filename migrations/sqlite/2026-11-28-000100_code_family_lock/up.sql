-- A refresh-token family is locked through the authorization code that started it
-- (PostgreSQL: SELECT … FOR UPDATE by family), so its rows need finding by family.
CREATE INDEX oauth_codes_by_family ON oauth_authorization_codes (family_id);
