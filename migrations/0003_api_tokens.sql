-- Bearer tokens of API clients (`ledger keys create-token`). Only a SHA-256 of each token is
-- kept; the token itself is printed once and never stored.
CREATE TABLE api_tokens (
    token_sha256 text PRIMARY KEY,
    name         text NOT NULL,
    scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
