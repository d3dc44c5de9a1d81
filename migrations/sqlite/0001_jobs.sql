-- The job table as the first releases made it (IF NOT EXISTS: those databases pass through).
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    idem_key TEXT,
    idem_hash TEXT,
    webhook_due INTEGER,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(owner, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
CREATE INDEX IF NOT EXISTS jobs_webhook_due ON jobs(webhook_due) WHERE webhook_due IS NOT NULL;
