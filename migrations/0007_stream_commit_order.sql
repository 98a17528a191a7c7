-- A stream's versions come from transactions in transaction-id order (found by the 1C
-- benchmark, where projectors stopped at "stream jumped from version 10 to 14").
--
-- The global feed hands out events by (tx_id, global_position) below the snapshot's xmin
-- (events/src/store/feed.rs). That keeps each stream in version order only if a later version
-- never comes from a transaction with a smaller id. Locking the stream row does not guarantee
-- it: a transaction gets its id at its first write (a row lock counts), so one that wrote or
-- locked anything else first and then waited for a stream a younger transaction was writing
-- would, once the younger one commits, append the next version with the *older* id. The feed
-- would then hand out version n+1 before version n, and projectors stop at the gap
-- ("jumped from version 0 to 2"). A 1C chunk locking 250 customer streams while another chunk
-- holds some of them does exactly that.
--
-- The rule is kept where every writer passes: the stream row. `last_tx_id` is the transaction
-- that wrote the stream's current version; a transaction with a smaller id may not write the
-- next one. It is refused with SQLSTATE 40001 (serialization_failure), which the store maps to a
-- retryable error: the command runs again in a new transaction, whose id is larger than that of
-- every transaction that already holds one, and appends in order.
--
-- A trigger rather than a change to each statement: `ledger_append` (both paths), the bulk
-- `append_locked` and anything written later all update `streams`, so none can forget the rule.

ALTER TABLE streams ADD COLUMN last_tx_id xid8;

COMMENT ON COLUMN streams.last_tx_id IS
    'Transaction that wrote the current version; a transaction with a smaller id may not write the next (0007).';

-- Streams written before this migration: the transaction of their last event.
UPDATE streams AS s
SET last_tx_id = e.tx_id
FROM events AS e
WHERE e.stream_id = s.stream_id AND e.stream_version = s.version AND s.version > 0;

CREATE FUNCTION ledger_streams_keep_transaction_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    writer xid8 := pg_current_xact_id();
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.last_tx_id > writer THEN
        RAISE EXCEPTION 'stream % was written by transaction %, younger than this one (%)',
            OLD.stream_id, OLD.last_tx_id, writer
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Retry in a new transaction: the global feed orders events by transaction id.';
    END IF;
    NEW.last_tx_id := writer;
    RETURN NEW;
END
$$;

-- Only writes that add events count: a row created at version 0 (a lock placeholder) records
-- no writer, and an update that leaves the version alone checks nothing.
CREATE TRIGGER streams_keep_transaction_order_on_insert
    BEFORE INSERT ON streams
    FOR EACH ROW WHEN (NEW.version > 0)
    EXECUTE FUNCTION ledger_streams_keep_transaction_order();

CREATE TRIGGER streams_keep_transaction_order_on_update
    BEFORE UPDATE ON streams
    FOR EACH ROW WHEN (NEW.version <> OLD.version)
    EXECUTE FUNCTION ledger_streams_keep_transaction_order();
