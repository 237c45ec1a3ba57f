-- Each piece of evidence names the triage run (the task's key) that made it,
-- so that a run retried after a crash is recorded once.
ALTER TABLE evidence ADD COLUMN run TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX evidence_run_job ON evidence (run, job) WHERE run <> '';
