-- Payme transactions as Payme's GetStatement and our reconciliation report read them
-- (docs/payme.md). An INLINE projection of the `payme_tx-<payme id>` streams
-- (projections/src/read_models/payme_transactions.rs): it is written in the append transaction,
-- so every transition acknowledged to Payme is already visible here.
--
-- Times are Payme's: epoch milliseconds; 0 = not happened (Payme's own convention).
CREATE TABLE payme_transactions (
    payme_id        text PRIMARY KEY,
    -- Our own id for it (`transaction` in Payme answers).
    transaction_id  text NOT NULL,
    order_id        text NOT NULL,
    amount_tiyin    bigint NOT NULL CHECK (amount_tiyin > 0),
    -- The `account` object as Payme sent it.
    account         jsonb NOT NULL,
    -- Payme's `time` of the CreateTransaction call: what GetStatement filters and sorts by.
    payme_time_ms   bigint NOT NULL,
    create_time_ms  bigint NOT NULL,
    perform_time_ms bigint NOT NULL DEFAULT 0,
    cancel_time_ms  bigint NOT NULL DEFAULT 0,
    state           smallint NOT NULL CHECK (state IN (1, 2, -1, -2)),
    -- Payme's cancel reason; NULL until cancelled.
    reason          integer,
    CONSTRAINT payme_transactions_transaction_id_key UNIQUE (transaction_id),
    CONSTRAINT payme_transactions_reason_when_cancelled CHECK ((state < 0) = (reason IS NOT NULL))
);

-- GetStatement: `time BETWEEN from AND to ORDER BY time` (payme_id breaks ties, so the order of
-- equal times is stable between two calls).
CREATE INDEX payme_transactions_time ON payme_transactions (payme_time_ms, payme_id);
CREATE INDEX payme_transactions_order ON payme_transactions (order_id);
