-- Every process remembers who a token or session belongs to while it hears these notices
-- (hubs/people/credentials.py): a revoked token, an ended session or a changed admin flag is
-- announced on the channel hubs_credentials, with the secret's hash (hex) or '*' (forget everything).
CREATE FUNCTION hubs_credential_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hubs_credentials', encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END $$;

CREATE FUNCTION hubs_credential_account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('hubs_credentials', '*');
    RETURN NULL;
END $$;

-- last_used_at is written once a minute per token: not a change of who it belongs to.
CREATE TRIGGER api_tokens_revoked AFTER DELETE OR UPDATE OF token_hash, username ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION hubs_credential_revoked();
CREATE TRIGGER sessions_ended AFTER DELETE OR UPDATE OF token_hash, username, csrf, expires_at ON sessions
    FOR EACH ROW EXECUTE FUNCTION hubs_credential_revoked();
-- A sign-in rewrites fullname and email: only the admin flag and the name change what a request may do.
CREATE TRIGGER users_changed AFTER DELETE OR UPDATE OF username, is_admin ON users
    FOR EACH STATEMENT EXECUTE FUNCTION hubs_credential_account_changed();
