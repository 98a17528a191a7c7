-- Read models and the bookkeeping of the projectors that fold them.

-- One row per asynchronous projector: where it stands in the global feed. Written in the same
-- transaction as the read model, so a crash can never apply a batch twice or lose one.
CREATE TABLE projection_checkpoints (
    projection             text PRIMARY KEY,
    last_tx_id             bigint NOT NULL DEFAULT 0,
    last_position          bigint NOT NULL DEFAULT 0,
    -- Highest global position applied so far (positions are not monotonic in feed order).
    max_applied_position   bigint NOT NULL DEFAULT 0,
    events_applied         bigint NOT NULL DEFAULT 0,
    last_event_recorded_at timestamptz,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    -- Identity of the runner that last wrote (host/pid/uuid), for operators.
    runner                 text,
    last_error             text
);

-- Per projector and stream, the last stream version applied: makes apply idempotent and lets
-- the runner assert that each stream's events arrive in order.
CREATE TABLE projection_stream_versions (
    projection text NOT NULL,
    stream_id  text NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (projection, stream_id)
);

-- Inline lookup indexes, written inside the append transaction so that a command can use what
-- the previous command created at once.
CREATE TABLE customer_index (
    customer_id text PRIMARY KEY,
    phone       text,
    telegram_id bigint,
    CONSTRAINT customer_index_phone_key UNIQUE (phone),
    CONSTRAINT customer_index_telegram_id_key UNIQUE (telegram_id)
);

CREATE TABLE order_index (
    order_id    text PRIMARY KEY,
    external_id text NOT NULL,
    customer_id text NOT NULL,
    CONSTRAINT order_index_external_id_key UNIQUE (external_id)
);

-- Inline: cashback balances per customer and currency, read when deciding debits and holds.
-- balance_minor may go negative only through a refund's claw-back (a debt).
CREATE TABLE cashback_accounts (
    customer_id   text NOT NULL,
    currency      text NOT NULL,
    balance_minor bigint NOT NULL DEFAULT 0,
    held_minor    bigint NOT NULL DEFAULT 0 CHECK (held_minor >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, currency)
);

CREATE TABLE cashback_holds (
    hold_id      text PRIMARY KEY,
    customer_id  text NOT NULL,
    order_id     text NOT NULL,
    currency     text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    status       text NOT NULL CHECK (status IN ('pending', 'posted', 'voided')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX cashback_holds_customer ON cashback_holds (customer_id, currency) WHERE status = 'pending';

-- Asynchronous read models.
CREATE TABLE customers_view (
    customer_id text PRIMARY KEY,
    phone       text,
    telegram_id bigint,
    name        text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE orders_view (
    order_id                text PRIMARY KEY,
    external_id             text NOT NULL,
    customer_id             text NOT NULL,
    status                  text NOT NULL,
    currency                text NOT NULL,
    items_total_minor       bigint NOT NULL,
    cashback_redeemed_minor bigint NOT NULL,
    amount_minor            bigint NOT NULL,
    items                   jsonb NOT NULL,
    fx                      jsonb,
    flags                   text[] NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    expires_at              timestamptz NOT NULL
);
CREATE INDEX orders_view_customer ON orders_view (customer_id, created_at);

-- One row per gateway transaction, invoice or charge, in the provider's own state terms.
CREATE TABLE order_payments (
    provider     text NOT NULL,
    provider_id  text NOT NULL,
    order_id     text NOT NULL,
    state        text NOT NULL,
    amount_minor bigint NOT NULL,
    currency     text NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (provider, provider_id)
);
CREATE INDEX order_payments_order ON order_payments (order_id);

-- Double-entry balances: sums of postings per account and currency.
CREATE TABLE account_balances (
    account      text NOT NULL,
    currency     text NOT NULL,
    debit_minor  bigint NOT NULL DEFAULT 0,
    credit_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account, currency)
);

-- What a customer sees as cashback history (online and in-store operations).
CREATE TABLE cashback_history (
    event_id      uuid PRIMARY KEY,
    position      bigint NOT NULL,
    customer_id   text NOT NULL,
    currency      text NOT NULL,
    kind          text NOT NULL,
    amount_minor  bigint NOT NULL,
    source        text NOT NULL,
    label         text NOT NULL,
    description   text,
    order_id      text,
    store_id      text,
    register_id   text,
    external_id   text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX cashback_history_customer ON cashback_history (customer_id, currency, position);
