-- Accounts: site admins, browser sessions (server side), API tokens (hashed),
-- and hubs that let people join by themselves.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT '';
ALTER TABLE hubs ADD COLUMN allow_join boolean NOT NULL DEFAULT true;

CREATE TABLE sessions (
    token_hash  bytea PRIMARY KEY,           -- sha256 of the cookie value; the value itself is never stored
    username    text NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id          serial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,       -- sha256 of the token; shown once at creation
    username    text NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
