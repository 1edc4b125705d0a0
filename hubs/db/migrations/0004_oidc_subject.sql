-- The identity an account was first logged in with (issuer + subject): a later login
-- presenting the same account name with another identity is refused.
ALTER TABLE users ADD COLUMN oidc_subject text UNIQUE;
