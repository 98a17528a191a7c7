-- The event store: streams, the append-only event log, and the one function
-- through which every append goes.

CREATE TABLE streams (
    stream_id   text PRIMARY KEY,
    stream_type text NOT NULL,
    -- Number of events in the stream; 0 means "no stream" (a row may exist with 0 when a
    -- concurrent append lost a race after creating it, which is harmless by construction).
    version     bigint NOT NULL CHECK (version >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    global_position         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Commit-order key of the global feed: see read_global_feed in events/src/store/feed.rs.
    tx_id                   xid8 NOT NULL DEFAULT pg_current_xact_id(),
    stream_id               text NOT NULL,
    stream_version          bigint NOT NULL CHECK (stream_version >= 1),
    event_id                uuid NOT NULL,
    event_type              text NOT NULL,
    schema_version          integer NOT NULL CHECK (schema_version >= 1),
    -- Key built from an external id (`payme:create:<id>`, `1c:<store>:<external_id>`, ...).
    idempotency_key         text,
    -- SHA-256 (hex) of the client's own request fields; compared when the key repeats.
    idempotency_fingerprint text,
    payload                 jsonb NOT NULL,
    metadata                jsonb NOT NULL,
    recorded_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT events_idempotency_pair CHECK ((idempotency_key IS NULL) = (idempotency_fingerprint IS NULL))
);

CREATE INDEX events_feed_order ON events (tx_id, global_position);

-- The log is immutable: history is corrected by new events, never by editing old ones.
CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'LDG10';
END
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

-- Appends events to one or more streams atomically.
--
-- Streams are given once each (p_stream_ids, p_stream_types, p_expected_versions, where an
-- expected version of NULL means "any", 0 "no stream yet" and n "exactly n events"); events
-- name their stream by its 1-based index in those arrays. The idempotency key, when given,
-- belongs to the LAST event, so a repeat can answer with that event's position as the
-- position of the whole write.
--
-- Outcomes, one row each:
--   'appended'             one row per new event, in order
--   'duplicate'            the key exists with the same fingerprint: the keyed event, with payload
--   'idempotency_conflict' the key exists with another fingerprint: the keyed event, with payload
--   'version_conflict'     one row per stream whose version differs (expected, actual)
-- Conflicts are answers, not exceptions, so a caller applying many commands in one transaction
-- (the 1C batch) is not aborted by one of them. Nothing but harmless stream-row touches is written
-- before a conflict is detected. A concurrent append of the same key can still raise
-- unique_violation on events_idempotency_key_key; callers retry, and the retry sees 'duplicate'.
CREATE FUNCTION ledger_append(
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
    current_versions bigint[];
    stream_count integer := cardinality(p_stream_ids);
    event_count  integer := cardinality(p_event_ids);
    next_versions bigint[];
    conflict_found boolean := false;
    i integer;
BEGIN
    IF event_count = 0 OR stream_count = 0 THEN
        RAISE EXCEPTION 'ledger_append needs at least one stream and one event' USING ERRCODE = 'LDG11';
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
