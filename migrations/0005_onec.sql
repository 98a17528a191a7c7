-- 1C cashback exchange (specs/onec.md): stores and their keys, the sync log, and the inline
-- index of in-store operations that releases and reversals refer to.

CREATE TABLE onec_stores (
    store_id   text PRIMARY KEY,
    name       text,
    -- Currency of the store's cashback operations.
    currency   text NOT NULL,
    -- IANA zone of `created_at` values sent without an offset.
    timezone   text NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per issued key; only a SHA-256 is kept. Revoking sets revoked_at on every key of a store.
CREATE TABLE onec_store_keys (
    key_sha256 text PRIMARY KEY,
    store_id   text NOT NULL REFERENCES onec_stores (store_id),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX onec_store_keys_store ON onec_store_keys (store_id);

-- Every 1C request item as it was answered (operational log, not part of the ledger).
CREATE TABLE onec_sync_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id       text NOT NULL,
    register_id    text,
    external_id    text,
    -- `single` or `batch`
    request_kind   text NOT NULL,
    -- `ok`, `duplicate` or `error`
    status         text NOT NULL,
    error          text,
    received_at    timestamptz NOT NULL,
    latency_micros bigint NOT NULL
);
CREATE INDEX onec_sync_log_store_time ON onec_sync_log (store_id, received_at);

-- Inline projection: in-store accruals and debits by (store, external id), with what is left of
-- each after releases / reversals. Written in the append transaction.
CREATE TABLE onec_operations (
    store_id        text NOT NULL,
    external_id     text NOT NULL,
    customer_id     text NOT NULL,
    -- `accrual` or `debit`
    kind            text NOT NULL,
    currency        text NOT NULL,
    amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
    remaining_minor bigint NOT NULL CHECK (remaining_minor >= 0),
    PRIMARY KEY (store_id, external_id)
);
