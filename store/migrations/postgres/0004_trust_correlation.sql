-- PostgreSQL twin of ../0004_trust_correlation.sql.
ALTER TABLE notices ADD COLUMN trust TEXT NOT NULL DEFAULT '';
UPDATE notices SET trust = 'dkim:' || provider WHERE authentic = 'pass' AND provider IN ('ovh', 'hetzner');
CREATE INDEX notices_trusted ON notices (incident_id) WHERE trust != '';

CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id != '';
CREATE INDEX incidents_service ON incidents (provider, service) WHERE ip = '' AND status = 'open';
