-- Every stored mail is accounted for: 'oversize' (kept whole, beside the database, not
-- parsed) and 'unrecognised' (a provider's mail no rule classified; its notices are
-- fallbacks a person must read) join ok/none/error. SQLite cannot alter a CHECK, so the
-- table is rebuilt; defer_foreign_keys lets the notices and raw rows point at it again
-- before the transaction commits.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE messages_copy AS SELECT * FROM messages;
DROP TABLE messages;
CREATE TABLE messages (
	id           INTEGER PRIMARY KEY,
	sha256       BLOB,                       -- NULL when the body was not fetched
	message_id   TEXT    NOT NULL DEFAULT '',
	mailbox      TEXT    NOT NULL DEFAULT '',
	uidvalidity  INTEGER NOT NULL DEFAULT 0,
	uid          INTEGER NOT NULL DEFAULT 0,
	path         TEXT    NOT NULL DEFAULT '',
	size         INTEGER NOT NULL,
	received_at  INTEGER NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('ok', 'none', 'error', 'oversize', 'unrecognised')),
	reason       TEXT    NOT NULL DEFAULT '',
	authentic    TEXT    NOT NULL DEFAULT '',
	subject      TEXT    NOT NULL DEFAULT '',
	date         INTEGER NOT NULL DEFAULT 0,
	from_addr    TEXT    NOT NULL DEFAULT '',
	raw_path     TEXT    NOT NULL DEFAULT ''   -- the raw mail's file when too large for the raw table
);
INSERT INTO messages (id, sha256, message_id, mailbox, uidvalidity, uid, path, size, received_at, status, reason, authentic, subject, date)
	SELECT id, sha256, message_id, mailbox, uidvalidity, uid, path, size, received_at, status, reason, authentic, subject, date
	FROM messages_copy;
DROP TABLE messages_copy;
CREATE UNIQUE INDEX messages_sha256 ON messages (sha256) WHERE sha256 IS NOT NULL;
CREATE UNIQUE INDEX messages_uid ON messages (mailbox, uidvalidity, uid) WHERE mailbox != '';
CREATE INDEX messages_status ON messages (status);

-- One row per triage run: what started it (a verified notice, the provider's API, an
-- operator), so that the timeline and `triage show` can say why jobs ran.
CREATE TABLE triage_runs (
	run         TEXT    PRIMARY KEY,        -- the task's key
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	trigger     TEXT    NOT NULL DEFAULT '',
	started_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX triage_runs_incident ON triage_runs (incident_id);

-- What a run's checks implicate, best first (rank 1).
CREATE TABLE suspects (
	id          INTEGER PRIMARY KEY,
	run         TEXT    NOT NULL REFERENCES triage_runs (run),
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	rank        INTEGER NOT NULL,
	kind        TEXT    NOT NULL CHECK (kind IN ('process', 'container', 'vm', 'account', 'ssh_key')),
	name        TEXT    NOT NULL DEFAULT '',
	host        TEXT    NOT NULL DEFAULT '',
	pid         INTEGER NOT NULL DEFAULT 0,
	user        TEXT    NOT NULL DEFAULT '',
	exe         TEXT    NOT NULL DEFAULT '',
	container   TEXT    NOT NULL DEFAULT '',
	vm          TEXT    NOT NULL DEFAULT '',
	why         TEXT    NOT NULL DEFAULT '[]', -- JSON array of the evidence lines
	UNIQUE (run, rank)
);
CREATE INDEX suspects_incident ON suspects (incident_id);
