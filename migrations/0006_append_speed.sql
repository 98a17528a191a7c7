-- Faster appends. `ledger_append` keeps its signature, its outcomes and its locking
-- order (0001 describes the contract); what changes is how much work a call costs.
--
-- 1. One event on one stream — the common write — takes a shortcut of one statement:
--      - stream expected to exist (`Any` or an exact version > 0): one UPDATE locks the stream
--        row, checks the expected version and that the idempotency key is unused, and bumps the
--        version; the INSERT of the event in the same statement takes the version it returned;
--      - stream expected not to exist (`NoStream`, or `Any` when the UPDATE found no row): one
--        INSERT creates the stream row at version 1 if the key is unused (ON CONFLICT DO
--        NOTHING: a concurrent creator makes it wait for that creator's commit, and then it does
--        nothing), and the event is inserted the same way.
--    Whenever a shortcut writes no event — the key was used, the expected version differs, the
--    stream is missing but a version > 0 is expected, another transaction created it first —
--    it has written nothing at all, and the call continues exactly as before: the idempotency
--    check ('duplicate' / 'idempotency_conflict'), then the general path, which locks, checks
--    and reports the conflict or appends. An UPDATE that waits for a concurrent writer re-checks
--    its WHERE clause on the committed row (READ COMMITTED), so two writers expecting the same
--    version still cannot both win; a key a concurrent writer committed meanwhile still ends in
--    the unique index (ConcurrentDuplicate, retried by the caller), as before.
-- 2. The general path (several streams or several events) moves, statement for statement, into
--    `ledger_append_general`, planned with generic plans (see there).
--
-- Measured with `cargo bench --bench event_store`; figures in docs/benchmarks.md.

-- The general path: several streams or several events. Its statements are those of 0001, word
-- for word; only their planning changes. Two of them take `unnest` of a parameter array, and for
-- those the planner's custom plan (which sees the array's real length) always looks cheaper
-- than the generic one (which assumes 10 elements), so PL/pgSQL's plan cache re-planned them
-- on every call — most of the cost of a small append. `force_generic_plan` plans each statement
-- once per session. (A generic plan made while `streams` is nearly empty may scan it; the next
-- ANALYZE — autovacuum runs it often, as every append updates `streams` — replaces the plan.)
-- Only ledger_append calls this, after its idempotency check.
CREATE FUNCTION ledger_append_general(
    p_stream_ids        text[],
    p_stream_types      text[],
    p_expected_versions bigint[],
    p_event_streams     integer[],
    p_event_ids         uuid[],
    p_event_types       text[],
    p_schema_versions   integer[],
    p_payloads          jsonb[],
    p_metadata          jsonb[],
    p_idempotency_key   text,
    p_fingerprint       text
) RETURNS TABLE (
    outcome          text,
    stream_id        text,
    stream_version   bigint,
    global_position  bigint,
    event_id         uuid,
    event_type       text,
    schema_version   integer,
    payload          jsonb,
    metadata         jsonb,
    recorded_at      timestamptz,
    tx_id            bigint,
    expected_version bigint,
    actual_version   bigint
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    current_versions bigint[];
    stream_count integer := cardinality(p_stream_ids);
    event_count  integer := cardinality(p_event_ids);
    next_versions bigint[];
    conflict_found boolean := false;
    i integer;
BEGIN
    -- The first write locks every stream, in stream-id order so that two multi-stream appends
    -- cannot deadlock. A missing stream is created at version 0 (= "no stream"); a concurrent
    -- creator makes this insert wait for its commit, after which the lock below sees its row.
    INSERT INTO streams (stream_id, stream_type, version)
    SELECT s.id, s.type, 0
    FROM unnest(p_stream_ids, p_stream_types) AS s(id, type)
    ORDER BY s.id
    ON CONFLICT ON CONSTRAINT streams_pkey DO NOTHING;

    SELECT array_agg(locked.version ORDER BY locked.ord) INTO current_versions
    FROM (
        SELECT s.ord, st.version
        FROM unnest(p_stream_ids) WITH ORDINALITY AS s(id, ord)
        JOIN streams st ON st.stream_id = s.id
        ORDER BY st.stream_id
        FOR UPDATE OF st
    ) locked;

    IF cardinality(current_versions) IS DISTINCT FROM stream_count THEN
        RAISE EXCEPTION 'ledger_append could not lock every stream' USING ERRCODE = 'LDG12';
    END IF;

    FOR i IN 1 .. stream_count LOOP
        IF p_expected_versions[i] IS NOT NULL AND p_expected_versions[i] <> current_versions[i] THEN
            conflict_found := true;
            RETURN QUERY SELECT 'version_conflict'::text, p_stream_ids[i], NULL::bigint, NULL::bigint,
                NULL::uuid, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb, NULL::timestamptz,
                NULL::bigint, p_expected_versions[i], current_versions[i];
        END IF;
    END LOOP;
    IF conflict_found THEN
        RETURN;
    END IF;

    next_versions := current_versions;
    FOR i IN 1 .. event_count LOOP
        next_versions[p_event_streams[i]] := next_versions[p_event_streams[i]] + 1;
        RETURN QUERY
        INSERT INTO events AS e (stream_id, stream_version, event_id, event_type, schema_version,
                                 idempotency_key, idempotency_fingerprint, payload, metadata)
        VALUES (p_stream_ids[p_event_streams[i]], next_versions[p_event_streams[i]], p_event_ids[i],
                p_event_types[i], p_schema_versions[i],
                CASE WHEN i = event_count THEN p_idempotency_key END,
                CASE WHEN i = event_count THEN p_fingerprint END,
                p_payloads[i], p_metadata[i])
        RETURNING 'appended'::text, e.stream_id, e.stream_version, e.global_position, e.event_id,
                  e.event_type, e.schema_version, NULL::jsonb, NULL::jsonb, e.recorded_at,
                  e.tx_id::text::bigint, NULL::bigint, NULL::bigint;
    END LOOP;

    UPDATE streams AS st SET version = v.version, updated_at = now()
    FROM unnest(p_stream_ids, next_versions) AS v(id, version)
    WHERE st.stream_id = v.id AND st.version <> v.version;
END
$$;

CREATE OR REPLACE FUNCTION ledger_append(
    p_stream_ids        text[],
    p_stream_types      text[],
    p_expected_versions bigint[],
    p_event_streams     integer[],
    p_event_ids         uuid[],
    p_event_types       text[],
    p_schema_versions   integer[],
    p_payloads          jsonb[],
    p_metadata          jsonb[],
    p_idempotency_key   text,
    p_fingerprint       text
) RETURNS TABLE (
    outcome          text,
    stream_id        text,
    stream_version   bigint,
    global_position  bigint,
    event_id         uuid,
    event_type       text,
    schema_version   integer,
    payload          jsonb,
    metadata         jsonb,
    recorded_at      timestamptz,
    tx_id            bigint,
    expected_version bigint,
    actual_version   bigint
) LANGUAGE plpgsql AS $$
DECLARE
    existing     events%ROWTYPE;
    stream_count integer := cardinality(p_stream_ids);
    event_count  integer := cardinality(p_event_ids);
BEGIN
    IF event_count = 0 OR stream_count = 0 THEN
        RAISE EXCEPTION 'ledger_append needs at least one stream and one event' USING ERRCODE = 'LDG11';
    END IF;

    -- 1. at the top of this file: one event on one stream, one statement.
    IF stream_count = 1 AND event_count = 1 AND p_event_streams[1] = 1 THEN
        IF p_expected_versions[1] IS DISTINCT FROM 0 THEN
            RETURN QUERY
            WITH bumped AS (
                UPDATE streams AS st SET version = st.version + 1, updated_at = now()
                WHERE st.stream_id = p_stream_ids[1]
                  AND (p_expected_versions[1] IS NULL OR st.version = p_expected_versions[1])
                  AND (p_idempotency_key IS NULL OR NOT EXISTS (
                        SELECT FROM events earlier WHERE earlier.idempotency_key = p_idempotency_key))
                RETURNING st.version
            )
            INSERT INTO events AS e (stream_id, stream_version, event_id, event_type, schema_version,
                                     idempotency_key, idempotency_fingerprint, payload, metadata)
            SELECT p_stream_ids[1], bumped.version, p_event_ids[1], p_event_types[1],
                   p_schema_versions[1], p_idempotency_key, p_fingerprint, p_payloads[1],
                   p_metadata[1]
            FROM bumped
            RETURNING 'appended'::text, e.stream_id, e.stream_version, e.global_position, e.event_id,
                      e.event_type, e.schema_version, NULL::jsonb, NULL::jsonb, e.recorded_at,
                      e.tx_id::text::bigint, NULL::bigint, NULL::bigint;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
        IF coalesce(p_expected_versions[1], 0) = 0 THEN
            RETURN QUERY
            WITH created AS (
                INSERT INTO streams AS st (stream_id, stream_type, version)
                SELECT p_stream_ids[1], p_stream_types[1], 1
                WHERE p_idempotency_key IS NULL OR NOT EXISTS (
                    SELECT FROM events earlier WHERE earlier.idempotency_key = p_idempotency_key)
                ON CONFLICT ON CONSTRAINT streams_pkey DO NOTHING
                RETURNING st.version
            )
            INSERT INTO events AS e (stream_id, stream_version, event_id, event_type, schema_version,
                                     idempotency_key, idempotency_fingerprint, payload, metadata)
            SELECT p_stream_ids[1], created.version, p_event_ids[1], p_event_types[1],
                   p_schema_versions[1], p_idempotency_key, p_fingerprint, p_payloads[1],
                   p_metadata[1]
            FROM created
            RETURNING 'appended'::text, e.stream_id, e.stream_version, e.global_position, e.event_id,
                      e.event_type, e.schema_version, NULL::jsonb, NULL::jsonb, e.recorded_at,
                      e.tx_id::text::bigint, NULL::bigint, NULL::bigint;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        SELECT * INTO existing FROM events e WHERE e.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            RETURN QUERY SELECT
                CASE WHEN existing.idempotency_fingerprint = p_fingerprint
                     THEN 'duplicate' ELSE 'idempotency_conflict' END,
                existing.stream_id, existing.stream_version, existing.global_position,
                existing.event_id, existing.event_type, existing.schema_version,
                existing.payload, existing.metadata, existing.recorded_at,
                existing.tx_id::text::bigint, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
    END IF;

    RETURN QUERY SELECT * FROM ledger_append_general(
        p_stream_ids, p_stream_types, p_expected_versions, p_event_streams, p_event_ids,
        p_event_types, p_schema_versions, p_payloads, p_metadata, p_idempotency_key, p_fingerprint);
END
$$;
