-- V6: the request rate-limit counters (ours, issue 25; docs/SCHEMA.md). One row per app
-- (tenant_id '') and per tenant with a limit in force: the fixed window it counts (epoch ms
-- of its start) and the requests every instance added to it; a flush of a later window
-- restarts the row in place, so nothing accumulates. Removed with its app. Placeholders as
-- in V1.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__request_rate_limits (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    CONSTRAINT __PREFIX__request_rate_limits_pkey PRIMARY KEY (app_id, tenant_id),
    CONSTRAINT __PREFIX__request_rate_limits_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
