DROP INDEX oauth_codes_by_family;
