-- PostgreSQL twin of ../0009_task_sending.sql.
ALTER TABLE tasks ADD COLUMN sending BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN maybe_sent BIGINT NOT NULL DEFAULT 0;
