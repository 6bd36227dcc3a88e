-- V3: the native OAuth2 provider's own tables (docs/SCHEMA.md). The reference keeps a client's
-- id, encrypted secret and two flags in oauth_clients (V1) and the rest in Ory Hydra; we keep
-- the rest here, one row per oauth_clients row, removed with it. Placeholders as in V1.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_client_configs (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    client_id VARCHAR(255) NOT NULL,
    -- Hydra's client fields (camelCase JSON object, without the secret)
    config TEXT NOT NULL,
    CONSTRAINT __PREFIX__oauth_client_configs_pkey PRIMARY KEY (app_id, client_id),
    CONSTRAINT __PREFIX__oauth_client_configs_client_id_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES __SCHEMA__.__PREFIX__oauth_clients (app_id, client_id) ON DELETE CASCADE
);
