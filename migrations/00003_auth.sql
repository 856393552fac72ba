-- +goose Up
-- Accounts, sign-in sessions and API tokens. Nothing secret is stored in a
-- form that can be used: passwords as argon2id hashes, refresh tokens only by
-- their id (the token itself is a signed JWT), API tokens as SHA-256 digests.

CREATE TABLE users (
    id            uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    email         varchar(254) NOT NULL CHECK (email <> ''),
    username      varchar(50)  NOT NULL CHECK (username <> ''),
    full_name     varchar(200),
    password_hash text         NOT NULL,
    role          varchar(10)  NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    is_active     boolean      NOT NULL DEFAULT true,
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now()
);
-- Sign-in accepts either name in any case, so uniqueness is case-blind too.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- One row per sign-in: the refresh-token family. Each refresh replaces
-- current_jti; presenting an older jti (outside a short grace for the one
-- just replaced, which covers a retried request and two tabs refreshing at
-- once) means the token was copied, and the whole family is revoked.
-- Access tokens name their session, and every use checks it is not revoked,
-- so logout takes effect at once on every replica.
CREATE TABLE auth_sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    current_jti    uuid        NOT NULL,
    previous_jti   uuid,
    rotated_at     timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason varchar(50)
);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires_at_idx ON auth_sessions (expires_at);

-- Static tokens for automation (a file watcher, CI). Only the digest is
-- kept; prefix is the token's first characters, shown so people can tell
-- their tokens apart.
CREATE TABLE api_tokens (
    id           uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid         NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         varchar(100) NOT NULL CHECK (name <> ''),
    token_hash   bytea        NOT NULL UNIQUE,
    prefix       varchar(16)  NOT NULL,
    role         varchar(10)  NOT NULL CHECK (role IN ('user', 'admin')),
    created_at   timestamptz  NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE auth_sessions;
DROP TABLE users;
