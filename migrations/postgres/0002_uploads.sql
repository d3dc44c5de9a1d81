-- Resumable (tus) uploads. The columns are what lookups, locks and the expiry sweep need;
-- the rest (length, offset, metadata, multipart parts) is the JSON document. `lock_token`
-- names the request (a PATCH on any node) that may write the upload's bytes until
-- `lock_until` (Unix ms on the database's clock); `expires_at` (Unix ms) is when an
-- unfinished upload is removed.
CREATE TABLE IF NOT EXISTS uploads (
    id UUID PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    lock_token TEXT,
    lock_until BIGINT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads(state, expires_at);
