-- Who vouches for a notice so that it may trigger host actions: '' (nobody:
-- stored and shown, marked unverified), 'dkim:<provider>' or 'dkim:<reporter
-- domain>'. Notices stored before only knew a DKIM pass, which for the
-- providers' own formats means their own domains.
ALTER TABLE notices ADD COLUMN trust TEXT NOT NULL DEFAULT '';
UPDATE notices SET trust = 'dkim:' || provider WHERE authentic = 'pass' AND provider IN ('ovh', 'hetzner');
CREATE INDEX notices_trusted ON notices (incident_id) WHERE trust != '';

-- Two copies of one mail (another relay, other Received lines) are found by
-- their Message-ID; IP-less incidents are found by their service.
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id != '';
CREATE INDEX incidents_service ON incidents (provider, service) WHERE ip = '' AND status = 'open';
