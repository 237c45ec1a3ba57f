-- PostgreSQL twin of ../0002_triage_run.sql.
ALTER TABLE evidence ADD COLUMN run TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX evidence_run_job ON evidence (run, job) WHERE run <> '';
