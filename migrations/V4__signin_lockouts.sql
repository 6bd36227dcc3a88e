-- V4: the sign-in lockout counters (ours, issue 25; docs/SCHEMA.md). One row per
-- (app, tenant, normalised e-mail) with failed e-mail-password sign-ins in the current window
-- or a lock in force; removed with its tenant, and by the RemoveExpiredSigninLockouts job
-- once expires_at (the later of the window's end and the lock's end) is past. Placeholders
-- as in V1.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__signin_lockouts (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    email VARCHAR(256) NOT NULL,
    failures BIGINT NOT NULL,
    window_end BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__signin_lockouts_pkey PRIMARY KEY (app_id, tenant_id, email),
    CONSTRAINT __PREFIX__signin_lockouts_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS __PREFIX__signin_lockouts_expires_at_index
    ON __SCHEMA__.__PREFIX__signin_lockouts (expires_at);
