-- Telegram: Mini App sessions, webhook updates already handled, and the outbox of messages sent
-- through the Bot API (docs/telegram.md).

-- Mini App sessions: credentials, not facts, so a table rather than events. The token is
-- random and given to the Mini App once; only its SHA-256 is kept. A session ends at
-- `expires_at` or when revoked (`POST /api/telegram/logout`).
CREATE TABLE telegram_sessions (
    token_sha256 text PRIMARY KEY,
    customer_id  text NOT NULL,
    telegram_id  bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX telegram_sessions_expiry ON telegram_sessions (expires_at);

-- Bot API updates already handled, by `update_id`: Telegram redelivers an update until it gets
-- a 2xx, and a redelivery is answered without doing anything again. Written in the same
-- transaction as the update's effect. Rows older than a week are deleted (Telegram gives up on
-- an update after a day).
CREATE TABLE telegram_updates (
    update_id   bigint PRIMARY KEY,
    kind        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_updates_received ON telegram_updates (received_at);

-- The outbox (asynchronous projection `outbox`, projections/src/read_models/outbox.rs): one row
-- per fact a person should hear about, keyed by the fact's event id. The projection writes
-- the rows and their final outcomes (from `OutboxMessageDelivered` / `OutboxMessageFailed`
-- events); the sender also keeps its bookkeeping here (attempts, next attempt, claim).
CREATE TABLE outbox (
    message_id          uuid PRIMARY KEY,
    fact_position       bigint NOT NULL,
    fact_type           text NOT NULL,
    audience            text NOT NULL CHECK (audience IN ('customer', 'operators')),
    customer_id         text,
    chat_id             bigint NOT NULL,
    text                text NOT NULL,
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed')),
    -- For `failed`: blocked, rejected, abandoned, interrupted (recorded as events), expired,
    -- telegram_closed (row state only).
    failure_reason      text,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL,
    -- Set while a sender holds the message; a claim that runs out without an outcome means
    -- the sender died during the call.
    claimed_until       timestamptz,
    last_error          text,
    -- When the fact was recorded.
    created_at          timestamptz NOT NULL,
    settled_at          timestamptz,
    telegram_message_id bigint,
    CONSTRAINT outbox_failed_has_reason CHECK ((state = 'failed') = (failure_reason IS NOT NULL))
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_created ON outbox (created_at);

-- Customer → Telegram chat, folded by the outbox projection from the customer streams, so
-- each fact is addressed as it was when it happened (also in a rebuild).
CREATE TABLE outbox_recipients (
    customer_id text PRIMARY KEY,
    chat_id     bigint NOT NULL
);
