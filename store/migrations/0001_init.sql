-- Times are INTEGER milliseconds since the Unix epoch (UTC); 0 means "none".
-- Text columns default to '' rather than NULL so that equality lookups need no IS.

-- Source columns describe the first arrival only; later arrivals of the same bytes (or
-- of the same mailbox UID) are duplicates and leave no row.
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
	status       TEXT    NOT NULL CHECK (status IN ('ok', 'none', 'error')),
	reason       TEXT    NOT NULL DEFAULT '',
	authentic    TEXT    NOT NULL DEFAULT '',
	subject      TEXT    NOT NULL DEFAULT '',
	date         INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX messages_sha256 ON messages (sha256) WHERE sha256 IS NOT NULL;
CREATE UNIQUE INDEX messages_uid ON messages (mailbox, uidvalidity, uid) WHERE mailbox != '';

-- The raw mail, stored once and apart, so that scans and joins of messages stay small.
-- A mail that was not fetched has no row.
CREATE TABLE raw (
	message INTEGER PRIMARY KEY REFERENCES messages (id),
	body    BLOB NOT NULL
);

CREATE TABLE incidents (
	id          INTEGER PRIMARY KEY,
	provider    TEXT    NOT NULL,
	ip          TEXT    NOT NULL DEFAULT '',
	case_id     TEXT    NOT NULL DEFAULT '',
	service     TEXT    NOT NULL DEFAULT '',
	status      TEXT    NOT NULL CHECK (status IN ('open', 'resolved')),
	kind        TEXT    NOT NULL DEFAULT '',
	attack      TEXT    NOT NULL DEFAULT '',
	severity    INTEGER NOT NULL DEFAULT 0,
	opened_at   INTEGER NOT NULL,
	resolved_at INTEGER NOT NULL DEFAULT 0
);
-- One index serves both lookups by IP and the rule of at most one open incident per
-- (provider, ip): the last column is 1 for an open incident with an IP and NULL (which
-- UNIQUE does not compare) otherwise.
CREATE UNIQUE INDEX incidents_ip ON incidents (provider, ip, (CASE WHEN status = 'open' AND ip != '' THEN 1 END));

-- message_id/subject/date are NULL when equal to the message's, which is nearly always.
-- Counts and first/last seen of an incident are derived from this table, never stored.
CREATE TABLE notices (
	id          INTEGER PRIMARY KEY,
	message     INTEGER NOT NULL REFERENCES messages (id),
	seq         INTEGER NOT NULL,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	provider    TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	attack      TEXT    NOT NULL DEFAULT '',
	ip          TEXT    NOT NULL DEFAULT '',
	service     TEXT    NOT NULL DEFAULT '',
	case_id     TEXT    NOT NULL DEFAULT '',
	severity    INTEGER NOT NULL,
	deadline    INTEGER NOT NULL DEFAULT 0,
	reporter    TEXT    NOT NULL DEFAULT '',
	rate        TEXT    NOT NULL DEFAULT '',
	events      BLOB,
	authentic   TEXT    NOT NULL DEFAULT '',
	message_id  TEXT,
	subject     TEXT,
	date        INTEGER,
	UNIQUE (message, seq)
);
CREATE INDEX notices_incident ON notices (incident_id);
CREATE INDEX notices_case ON notices (provider, case_id) WHERE case_id != '';

-- Notices are not copied here: the timeline view merges them in from notices.
CREATE TABLE timeline (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	at          INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	text        TEXT    NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id);

CREATE TABLE states (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER REFERENCES incidents (id),
	provider    TEXT    NOT NULL,
	ip          TEXT    NOT NULL,
	blocked     INTEGER NOT NULL,
	locked      INTEGER NOT NULL,
	rescue      INTEGER NOT NULL,
	checked_at  INTEGER NOT NULL,
	detail      BLOB
);
CREATE INDEX states_incident ON states (incident_id);

-- Finished tasks are kept (without payload) so that their key keeps deduplicating.
CREATE TABLE tasks (
	id          INTEGER PRIMARY KEY,
	kind        TEXT    NOT NULL,
	key         TEXT    NOT NULL UNIQUE,
	payload     BLOB,
	incident_id INTEGER REFERENCES incidents (id),
	status      TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'done', 'failed')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	run_at      INTEGER NOT NULL,
	lease_owner TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	finished_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_queued ON tasks (run_at) WHERE status = 'queued';

CREATE TABLE evidence (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	job         TEXT    NOT NULL,
	host        TEXT    NOT NULL DEFAULT '',
	"where"     TEXT    NOT NULL DEFAULT '',
	status      TEXT    NOT NULL DEFAULT '',
	argv        TEXT    NOT NULL DEFAULT '[]',
	exit_code   INTEGER NOT NULL DEFAULT 0,
	output      BLOB,
	dropped     INTEGER NOT NULL DEFAULT 0,
	started_at  INTEGER NOT NULL DEFAULT 0,
	duration_ns INTEGER NOT NULL DEFAULT 0,
	findings    TEXT    NOT NULL DEFAULT '[]',
	error       TEXT    NOT NULL DEFAULT ''   -- why the job did not run or finish
);
CREATE INDEX evidence_incident ON evidence (incident_id);

CREATE TABLE grants (
	id         INTEGER PRIMARY KEY,
	provider   TEXT    NOT NULL,
	server_ip  TEXT    NOT NULL,
	source     TEXT    NOT NULL,
	rule_ref   TEXT    NOT NULL DEFAULT '',
	by         TEXT    NOT NULL DEFAULT '',
	reason     TEXT    NOT NULL DEFAULT '',
	status     TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER
);

CREATE TABLE checkpoints (
	mailbox     TEXT    PRIMARY KEY,
	uidvalidity INTEGER NOT NULL,
	last_uid    INTEGER NOT NULL
) WITHOUT ROWID;
