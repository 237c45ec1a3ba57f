-- PostgreSQL twin of ../0008_raw_chunks.sql.
CREATE TABLE raw_chunks (
	message BIGINT NOT NULL REFERENCES messages (id),
	seq     BIGINT NOT NULL,
	data    BYTEA  NOT NULL,
	PRIMARY KEY (message, seq)
);
