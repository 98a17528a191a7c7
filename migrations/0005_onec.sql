-- 1C cashback exchange (docs/onec.md): stores and their keys, the sync log, and the inline
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

-- Every 1C request with every item as it was answered (operational log, not part of the ledger).
-- One row per request (per chunk of a batch), its items in `items`: a 1,000-operation batch
-- costs a few rows, not a thousand, while each item stays findable (GIN index on `items`).
CREATE TABLE onec_sync_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id        text NOT NULL,
    -- `single` or `batch`
    request_kind    text NOT NULL,
    received_at     timestamptz NOT NULL,
    latency_micros  bigint NOT NULL,
    ok_count        integer NOT NULL,
    duplicate_count integer NOT NULL,
    error_count     integer NOT NULL,
    -- [{external_id, register_id, status: ok|duplicate|error, error?}]
    items           jsonb NOT NULL
);
CREATE INDEX onec_sync_log_store_time ON onec_sync_log (store_id, received_at);
CREATE INDEX onec_sync_log_items ON onec_sync_log USING gin (items jsonb_path_ops);

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
