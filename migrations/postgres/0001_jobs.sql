-- Jobs as JSON documents with the columns that queries, claims and leases need.
-- Lease times are the database's clock (now()), so the nodes' clocks need not agree.
CREATE TABLE IF NOT EXISTS jobs (
    seq BIGSERIAL PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    idem_key TEXT,
    idem_hash TEXT,
    -- Unix ms of the next webhook attempt (or the end of a delivery claim), when one is due.
    webhook_due BIGINT,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    attempt INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(owner, idem_key) WHERE idem_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, seq);
CREATE INDEX IF NOT EXISTS jobs_webhook_due ON jobs(webhook_due) WHERE webhook_due IS NOT NULL;
-- What claim_next scans: waiting jobs and running ones whose lease may have run out.
CREATE INDEX IF NOT EXISTS jobs_claimable ON jobs(seq) WHERE status IN ('queued', 'running');
