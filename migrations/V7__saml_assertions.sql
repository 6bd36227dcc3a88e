-- V7: SAML (ours, issue 24; docs/SCHEMA.md). Beside the reference's saml_clients,
-- saml_relay_state and saml_claims, which stay as the Java plugin makes them:
-- saml_relay_state_requests: what the SP sent with each relay state it issued (the
-- AuthnRequest's ID, which the response's InResponseTo must name, and the ACS URL, which its
-- Destination and Recipient must name); written with the relay state, removed with it.
-- saml_assertion_ids: the assertion ids an app accepted, each until its assertion could no
-- longer be accepted, so that an assertion is accepted once across instances (replay).
-- Placeholders as in V1.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__saml_relay_state_requests (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    relay_state VARCHAR(256) NOT NULL,
    request_id VARCHAR(256) NOT NULL,
    acs_url TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__saml_relay_state_requests_pkey PRIMARY KEY (app_id, tenant_id, relay_state),
    CONSTRAINT __PREFIX__saml_relay_state_requests_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS __PREFIX__saml_relay_state_requests_expires_at_index
    ON __SCHEMA__.__PREFIX__saml_relay_state_requests (expires_at);
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__saml_assertion_ids (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    assertion_id VARCHAR(256) NOT NULL,
    valid_until BIGINT NOT NULL,
    CONSTRAINT __PREFIX__saml_assertion_ids_pkey PRIMARY KEY (app_id, assertion_id),
    CONSTRAINT __PREFIX__saml_assertion_ids_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS __PREFIX__saml_assertion_ids_valid_until_index
    ON __SCHEMA__.__PREFIX__saml_assertion_ids (valid_until);
