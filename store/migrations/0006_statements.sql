-- Statements answering a provider: the exact text sent, its sha256, where it
-- went and how. A row is reserved ('sending') before the text leaves, so that
-- two sends of one text cannot both go out; a failed send ('failed') frees
-- the text for another try. A send that never finished stays 'sending' and
-- blocks a resend until an operator forces it: the mail may have left.
CREATE TABLE statements (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	sha256      TEXT    NOT NULL,            -- hex of the body as sent
	lang        TEXT    NOT NULL DEFAULT '',
	channel     TEXT    NOT NULL,            -- smtp | ovh-ticket
	recipients  TEXT    NOT NULL DEFAULT '[]', -- JSON array: addresses, or the ticket
	subject     TEXT    NOT NULL DEFAULT '',
	message_id  TEXT    NOT NULL DEFAULT '', -- of the mail sent
	in_reply_to TEXT    NOT NULL DEFAULT '',
	body        TEXT    NOT NULL,
	status      TEXT    NOT NULL CHECK (status IN ('sending', 'sent', 'failed')),
	error       TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	sent_at     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX statements_once ON statements (incident_id, sha256) WHERE status != 'failed';
CREATE INDEX statements_incident ON statements (incident_id);
