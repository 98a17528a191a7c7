-- The event log streamed out in commit order through PostgreSQL's logical replication: a
-- publication of the append-only `events` table, which a subscriber (another PostgreSQL's
-- CREATE SUBSCRIPTION, Debezium's pgoutput connector feeding Kafka, a warehouse loader) reads
-- with a replication slot of its own. Inserts are the only changes the table ever has.
--
-- Reading it needs `wal_level = logical` on the server (docs/scaling.md); the publication itself
-- costs nothing until a slot reads it.
CREATE PUBLICATION ledger_events FOR TABLE events WITH (publish = 'insert');
