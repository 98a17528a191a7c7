-- A 1C chunk's state in one round trip.
--
-- Deciding a chunk of 1C operations needs, under the locks of the chunk's customer streams:
-- the streams' versions, the customers' cashback balances and holds, which of the chunk's
-- idempotency keys are already used, and the earlier operations the chunk refers to (refunds
-- name the accrual or debit they reverse). That used to be five statements, each a round trip
-- and (with array parameters) a fresh plan. This function takes the locks and reads the rest
-- in one call; the decisions stay in the server's code, which is handed the rows.
--
-- Locking is that of the event store's `lock_streams`: transaction-level advisory claims on the
-- streams' hashes in hash order (taken before the transaction has an id, so the global feed's
-- commit order holds), then the stream rows FOR UPDATE in id order; streams that have no row
-- yet are created at version 0 and locked the same way. The reads after the locks are separate
-- statements of a VOLATILE function, so under READ COMMITTED each takes a snapshot after the
-- locks were granted and sees what the previous holder committed.
--
-- One result, one row per fact, told apart by `kind`:
--   'stream'    id = stream id,    number_a = its version
--   'balance'   id = customer id,  number_a = balance_minor, number_b = held_minor
--   'key'       id = an idempotency key already used (the caller reads those events itself:
--               repeats are rare, and an event row has a shape of its own)
--   'reference' id = external id,  number_a = remaining_minor, text_a = customer id,
--               text_b = kind ('accrual' or 'debit')
-- A 'stream' row may come twice when some streams had to be created; both carry the same
-- version.
--
-- Planned with generic plans, under the planner settings of the caller's transaction (the
-- event store's BEGIN_WITH_GENERIC_PLANS): every look-up is an index probe by key.
CREATE FUNCTION ledger_onec_chunk_state(
    p_claim_namespace integer,
    p_streams         text[],
    p_stream_type     text,
    p_customers       text[],
    p_currency        text,
    p_keys            text[],
    p_store_id        text,
    p_references      text[]
) RETURNS TABLE (
    kind     text,
    id       text,
    number_a bigint,
    number_b bigint,
    text_a   text,
    text_b   text
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    locked_count bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(p_claim_namespace, claims.key)
    FROM (SELECT DISTINCT hashtext(s) AS key FROM unnest(p_streams) AS s ORDER BY key) AS claims;

    RETURN QUERY
        SELECT 'stream'::text, st.stream_id, st.version, NULL::bigint, NULL::text, NULL::text
        FROM streams st WHERE st.stream_id = ANY (p_streams)
        ORDER BY st.stream_id FOR UPDATE OF st;
    GET DIAGNOSTICS locked_count = ROW_COUNT;
    IF locked_count < cardinality(p_streams) THEN
        INSERT INTO streams (stream_id, stream_type, version)
        SELECT s, p_stream_type, 0 FROM unnest(p_streams) AS s ORDER BY s
        ON CONFLICT ON CONSTRAINT streams_pkey DO NOTHING;
        RETURN QUERY
            SELECT 'stream'::text, st.stream_id, st.version, NULL::bigint, NULL::text, NULL::text
            FROM streams st WHERE st.stream_id = ANY (p_streams)
            ORDER BY st.stream_id FOR UPDATE OF st;
    END IF;

    RETURN QUERY
        SELECT 'balance'::text, a.customer_id, a.balance_minor, a.held_minor, NULL::text, NULL::text
        FROM cashback_accounts a
        WHERE a.customer_id = ANY (p_customers) AND a.currency = p_currency;

    RETURN QUERY
        SELECT 'key'::text, e.idempotency_key, NULL::bigint, NULL::bigint, NULL::text, NULL::text
        FROM events e WHERE e.idempotency_key = ANY (p_keys);

    IF cardinality(p_references) > 0 THEN
        -- One look-up of the whole key per reference: with few stores, `external_id = ANY (...)`
        -- is planned as a scan of the store's every operation.
        RETURN QUERY
            SELECT 'reference'::text, o.external_id, o.remaining_minor, NULL::bigint,
                   o.customer_id, o.kind
            FROM unnest(p_references) AS r(external_id)
            CROSS JOIN LATERAL (
                SELECT * FROM onec_operations op
                WHERE op.store_id = p_store_id AND op.external_id = r.external_id
                LIMIT 1
            ) AS o;
    END IF;
END;
$$;
