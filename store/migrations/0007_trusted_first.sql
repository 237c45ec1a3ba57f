-- An incident's prior trust is the trust of its first trusted notice
-- (ORDER BY id LIMIT 1), read at every ingest into it. Indexed by incident
-- alone, that read sorted all the incident's trusted notices; with id in the
-- key it is the first index entry, however many notices a long-running
-- incident gathers.
DROP INDEX notices_trusted;
CREATE INDEX notices_trusted ON notices (incident_id, id) WHERE trust != '';
