-- PostgreSQL twin of ../0007_trusted_first.sql.
DROP INDEX notices_trusted;
CREATE INDEX notices_trusted ON notices (incident_id, id) WHERE trust != '';
