-- V5: the native OAuth2 provider's authorization-code flow (docs/SCHEMA.md): the login and
-- consent challenges and verifiers, the authorization codes and the refresh tokens, each kept
-- until it is used (once) or expires. Ory Hydra kept these for the reference; the Java core has
-- no table for them. Placeholders as in V1.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_flow_items (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    -- login_challenge, login_verifier, consent_challenge, consent_verifier, code, refresh_token
    kind VARCHAR(32) NOT NULL,
    -- lower-case hex SHA-256 of the challenge, verifier, code or token
    item_key CHAR(64) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    -- the flow's state (JSON object)
    value TEXT NOT NULL,
    -- milliseconds since the epoch
    expires_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT __PREFIX__oauth_flow_items_pkey PRIMARY KEY (app_id, kind, item_key),
    CONSTRAINT __PREFIX__oauth_flow_items_client_id_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES __SCHEMA__.__PREFIX__oauth_clients (app_id, client_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS __PREFIX__oauth_flow_items_expires_at_index
    ON __SCHEMA__.__PREFIX__oauth_flow_items (expires_at);
