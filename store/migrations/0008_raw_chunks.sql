-- A mail above the parse limit is kept in the database too, in chunks of
-- 1 MiB (one never holds it whole in memory), so that the database alone
-- holds every stored mail: a watcher on another machine reads what this one
-- received, and a backup of the database is whole. Mail stored before this
-- migration stays in its file beside the database (messages.raw_path).
CREATE TABLE raw_chunks (
	message INTEGER NOT NULL REFERENCES messages (id),
	seq     INTEGER NOT NULL,
	data    BLOB    NOT NULL,
	PRIMARY KEY (message, seq)
);
