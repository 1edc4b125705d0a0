-- Hubs configuration: hubs, their widgets, users and their roles on hubs.
CREATE TABLE users (
    username    text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    fullname    text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hubs (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    summary     text NOT NULL DEFAULT '',
    -- Width of the left column on a 12-column grid; the right one gets the rest.
    left_width  integer NOT NULL DEFAULT 8 CHECK (left_width BETWEEN 3 AND 9),
    archived    boolean NOT NULL DEFAULT false,
    user_hub    boolean NOT NULL DEFAULT false,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE widgets (
    id          serial PRIMARY KEY,
    hub         text NOT NULL REFERENCES hubs(name) ON DELETE CASCADE,
    plugin      text NOT NULL,
    col         text NOT NULL CHECK (col IN ('left', 'right')),
    position    integer NOT NULL,
    -- Any length: the prototype's 256-character column truncated configs.
    config      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    version     integer NOT NULL DEFAULT 1
);
CREATE INDEX widgets_hub_idx ON widgets (hub, col, position);

CREATE TABLE roles (
    hub         text NOT NULL REFERENCES hubs(name) ON DELETE CASCADE,
    username    text NOT NULL REFERENCES users(username) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('owner', 'member', 'subscriber', 'stargazer')),
    PRIMARY KEY (hub, username, role)
);
CREATE INDEX roles_username_idx ON roles (username);
