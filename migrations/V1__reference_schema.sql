-- V1 reference schema: the table set that the SuperTokens PostgreSQL plugin
-- (supertokens-postgresql-plugin v9.5.5, commit a906b103a15c) creates at start-up.
-- Structure description and sources: docs/SCHEMA.md.
--
-- Placeholders, substituted textually by the Rust code before execution:
--   __SCHEMA__  the value of postgresql_table_schema (default public). Every table
--               reference is written __SCHEMA__.__PREFIX__<table>. The schema itself
--               must already exist (the plugin runs CREATE SCHEMA <schema> and retries
--               when the schema is missing and is not public).
--   __PREFIX__  the value of postgresql_table_names_prefix WITH its trailing underscore
--               appended (prefix abc gives abc_), or the empty string when no prefix is
--               configured. It prefixes table names and the explicitly named PRIMARY KEY,
--               UNIQUE and FOREIGN KEY constraints (<prefix><table>_pkey,
--               <prefix><table>_<column>_key, <prefix><table>_<column>_fkey). It is NOT
--               applied to index names and not to the two hard-coded constraint names of
--               webauthn_account_recovery_tokens, exactly like the plugin.
-- Names are unquoted, so PostgreSQL folds them to lower case (the plugin does the same).
--
-- Every statement is idempotent (CREATE TABLE IF NOT EXISTS / CREATE INDEX IF NOT EXISTS),
-- so running this file on a database already initialised by the Java core changes
-- nothing. Statements appear in the plugin's creation order, which also respects
-- foreign keys (a referenced table is always created before the referencing one).
-- Statements are separated by semicolons only at statement ends (no DO blocks, no
-- semicolons inside comments or string literals), so a naive split is safe.
--
-- Not included (done by code, not by this file):
--   * rows. The plugin's table creation inserts nothing. Right after it, initStorage
--     inserts apps(app_id, created_at_time) and tenants(app_id, tenant_id, created_at_time)
--     rows for the tenants the core passes in (public/public for the base storage), and
--     the core itself writes the base tenant_configs row. Our Rust code inserts
--     apps(public), tenants(public, public) and the tenant_configs base row.
--   * activity_log monthly partitions <prefix>activity_log_pYYYYMM. They depend on the
--     current date (current UTC month and the next one, range [first ms of month, first
--     ms of next month)) and are created by code at start-up and daily afterwards.

-- ---------------------------------------------------------------------------
-- Multitenancy roots, key/value store and user identity
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__apps (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    created_at_time BIGINT,
    CONSTRAINT __PREFIX__apps_pkey PRIMARY KEY (app_id)
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenants (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    created_at_time BIGINT,
    CONSTRAINT __PREFIX__tenants_pkey PRIMARY KEY (app_id, tenant_id),
    CONSTRAINT __PREFIX__tenants_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tenants_app_id_index ON __SCHEMA__.__PREFIX__tenants (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__key_value (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    name VARCHAR(128),
    value TEXT,
    created_at_time BIGINT,
    CONSTRAINT __PREFIX__key_value_pkey PRIMARY KEY (app_id, tenant_id, name),
    CONSTRAINT __PREFIX__key_value_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS key_value_tenant_id_index ON __SCHEMA__.__PREFIX__key_value (app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__app_id_to_user_id (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    recipe_id VARCHAR(128) NOT NULL,
    primary_or_recipe_user_id CHAR(36) NOT NULL,
    is_linked_or_is_a_primary_user BOOLEAN NOT NULL DEFAULT FALSE,
    time_joined BIGINT NOT NULL DEFAULT 0,
    primary_or_recipe_user_time_joined BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT __PREFIX__app_id_to_user_id_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__app_id_to_user_id_primary_or_recipe_user_id_fkey FOREIGN KEY (app_id, primary_or_recipe_user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT __PREFIX__app_id_to_user_id_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_app_id_index ON __SCHEMA__.__PREFIX__app_id_to_user_id (app_id);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_primary_user_id_index ON __SCHEMA__.__PREFIX__app_id_to_user_id (primary_or_recipe_user_id, app_id);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_user_id_index ON __SCHEMA__.__PREFIX__app_id_to_user_id (user_id, app_id);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_pagination_index1 ON __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, primary_or_recipe_user_time_joined DESC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_pagination_index2 ON __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, primary_or_recipe_user_time_joined ASC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_pagination_index3 ON __SCHEMA__.__PREFIX__app_id_to_user_id (recipe_id, app_id, primary_or_recipe_user_time_joined DESC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS app_id_to_user_id_pagination_index4 ON __SCHEMA__.__PREFIX__app_id_to_user_id (recipe_id, app_id, primary_or_recipe_user_time_joined ASC, primary_or_recipe_user_id DESC);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__all_auth_recipe_users (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    primary_or_recipe_user_id CHAR(36) NOT NULL,
    is_linked_or_is_a_primary_user BOOLEAN NOT NULL DEFAULT FALSE,
    recipe_id VARCHAR(128) NOT NULL,
    time_joined BIGINT NOT NULL,
    primary_or_recipe_user_time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__all_auth_recipe_users_pkey PRIMARY KEY (app_id, tenant_id, user_id),
    CONSTRAINT __PREFIX__all_auth_recipe_users_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__all_auth_recipe_users_primary_or_recipe_user_id_fkey FOREIGN KEY (app_id, primary_or_recipe_user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT __PREFIX__all_auth_recipe_users_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_pagination_index1 ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, primary_or_recipe_user_time_joined DESC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_pagination_index2 ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, primary_or_recipe_user_time_joined ASC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_pagination_index3 ON __SCHEMA__.__PREFIX__all_auth_recipe_users (recipe_id, app_id, tenant_id, primary_or_recipe_user_time_joined DESC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_pagination_index4 ON __SCHEMA__.__PREFIX__all_auth_recipe_users (recipe_id, app_id, tenant_id, primary_or_recipe_user_time_joined ASC, primary_or_recipe_user_id DESC);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_primary_user_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (primary_or_recipe_user_id, app_id);
CREATE INDEX IF NOT EXISTS all_auth_recipe_users_recipe_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, recipe_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__user_last_active (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128),
    last_active_time BIGINT,
    -- unnamed in the plugin: PostgreSQL names it <prefix>user_last_active_pkey
    PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__user_last_active_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_last_active_app_id_index ON __SCHEMA__.__PREFIX__user_last_active (app_id);
CREATE INDEX IF NOT EXISTS user_last_active_last_active_time_index ON __SCHEMA__.__PREFIX__user_last_active (last_active_time DESC, app_id DESC);

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__session_access_token_signing_keys (
    app_id VARCHAR(64) DEFAULT 'public',
    created_at_time BIGINT NOT NULL,
    value TEXT,
    CONSTRAINT __PREFIX__session_access_token_signing_keys_pkey PRIMARY KEY (app_id, created_at_time),
    CONSTRAINT __PREFIX__session_access_token_signing_keys_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS access_token_signing_keys_app_id_index ON __SCHEMA__.__PREFIX__session_access_token_signing_keys (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__session_info (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    session_handle VARCHAR(255) NOT NULL,
    user_id VARCHAR(128) NOT NULL,
    refresh_token_hash_2 VARCHAR(128) NOT NULL,
    session_data TEXT,
    expires_at BIGINT NOT NULL,
    created_at_time BIGINT NOT NULL,
    jwt_user_payload TEXT,
    use_static_key BOOLEAN NOT NULL,
    CONSTRAINT __PREFIX__session_info_pkey PRIMARY KEY (app_id, tenant_id, session_handle),
    CONSTRAINT __PREFIX__session_info_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS session_expiry_index ON __SCHEMA__.__PREFIX__session_info (expires_at);
CREATE INDEX IF NOT EXISTS session_info_user_id_app_id_index ON __SCHEMA__.__PREFIX__session_info (user_id, app_id);
CREATE INDEX IF NOT EXISTS session_info_tenant_id_index ON __SCHEMA__.__PREFIX__session_info (app_id, tenant_id);

-- ---------------------------------------------------------------------------
-- Tenant configuration (tenant_configs has no FK: it is the registry itself)
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenant_configs (
    connection_uri_domain VARCHAR(256) DEFAULT '',
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    core_config TEXT,
    email_password_enabled BOOLEAN,
    passwordless_enabled BOOLEAN,
    third_party_enabled BOOLEAN,
    is_first_factors_null BOOLEAN,
    CONSTRAINT __PREFIX__tenant_configs_pkey PRIMARY KEY (connection_uri_domain, app_id, tenant_id)
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenant_thirdparty_providers (
    connection_uri_domain VARCHAR(256) DEFAULT '',
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    third_party_id VARCHAR(28) NOT NULL,
    name VARCHAR(64),
    authorization_endpoint TEXT,
    authorization_endpoint_query_params TEXT,
    token_endpoint TEXT,
    token_endpoint_body_params TEXT,
    user_info_endpoint TEXT,
    user_info_endpoint_query_params TEXT,
    user_info_endpoint_headers TEXT,
    jwks_uri TEXT,
    oidc_discovery_endpoint TEXT,
    require_email BOOLEAN,
    user_info_map_from_id_token_payload_user_id VARCHAR(64),
    user_info_map_from_id_token_payload_email VARCHAR(64),
    user_info_map_from_id_token_payload_email_verified VARCHAR(64),
    user_info_map_from_user_info_endpoint_user_id VARCHAR(64),
    user_info_map_from_user_info_endpoint_email VARCHAR(64),
    user_info_map_from_user_info_endpoint_email_verified VARCHAR(64),
    CONSTRAINT __PREFIX__tenant_thirdparty_providers_pkey PRIMARY KEY (connection_uri_domain, app_id, tenant_id, third_party_id),
    CONSTRAINT __PREFIX__tenant_thirdparty_providers_tenant_id_fkey FOREIGN KEY (connection_uri_domain, app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenant_configs (connection_uri_domain, app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tenant_thirdparty_providers_tenant_id_index ON __SCHEMA__.__PREFIX__tenant_thirdparty_providers (connection_uri_domain, app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenant_first_factors (
    connection_uri_domain VARCHAR(256) DEFAULT '',
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    factor_id VARCHAR(128),
    CONSTRAINT __PREFIX__tenant_first_factors_pkey PRIMARY KEY (connection_uri_domain, app_id, tenant_id, factor_id),
    CONSTRAINT __PREFIX__tenant_first_factors_tenant_id_fkey FOREIGN KEY (connection_uri_domain, app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenant_configs (connection_uri_domain, app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tenant_first_factors_tenant_id_index ON __SCHEMA__.__PREFIX__tenant_first_factors (connection_uri_domain, app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenant_required_secondary_factors (
    connection_uri_domain VARCHAR(256) DEFAULT '',
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    factor_id VARCHAR(128),
    CONSTRAINT __PREFIX__tenant_required_secondary_factors_pkey PRIMARY KEY (connection_uri_domain, app_id, tenant_id, factor_id),
    CONSTRAINT __PREFIX__tenant_required_secondary_factors_tenant_id_fkey FOREIGN KEY (connection_uri_domain, app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenant_configs (connection_uri_domain, app_id, tenant_id) ON DELETE CASCADE
);
-- the index name really is tenant_default_required_factor_ids_tenant_id_index in the plugin
CREATE INDEX IF NOT EXISTS tenant_default_required_factor_ids_tenant_id_index ON __SCHEMA__.__PREFIX__tenant_required_secondary_factors (connection_uri_domain, app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__tenant_thirdparty_provider_clients (
    connection_uri_domain VARCHAR(256) DEFAULT '',
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    third_party_id VARCHAR(28) NOT NULL,
    client_type VARCHAR(64) NOT NULL DEFAULT '',
    client_id VARCHAR(256) NOT NULL,
    client_secret TEXT,
    scope VARCHAR(128)[],
    force_pkce BOOLEAN,
    additional_config TEXT,
    CONSTRAINT __PREFIX__tenant_thirdparty_provider_clients_pkey PRIMARY KEY (connection_uri_domain, app_id, tenant_id, third_party_id, client_type),
    CONSTRAINT __PREFIX__tenant_thirdparty_provider_clients_third_party_id_fkey FOREIGN KEY (connection_uri_domain, app_id, tenant_id, third_party_id)
        REFERENCES __SCHEMA__.__PREFIX__tenant_thirdparty_providers (connection_uri_domain, app_id, tenant_id, third_party_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS tenant_thirdparty_provider_clients_third_party_id_index ON __SCHEMA__.__PREFIX__tenant_thirdparty_provider_clients (connection_uri_domain, app_id, tenant_id, third_party_id);

-- ---------------------------------------------------------------------------
-- Email-password recipe
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__emailpassword_users (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    password_hash VARCHAR(256) NOT NULL,
    time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__emailpassword_users_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT __PREFIX__emailpassword_users_pkey PRIMARY KEY (app_id, user_id)
);
CREATE INDEX IF NOT EXISTS emailpassword_users_email_index ON __SCHEMA__.__PREFIX__emailpassword_users (app_id, email);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__emailpassword_user_to_tenant (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    CONSTRAINT __PREFIX__emailpassword_user_to_tenant_email_key UNIQUE (app_id, tenant_id, email),
    CONSTRAINT __PREFIX__emailpassword_user_to_tenant_pkey PRIMARY KEY (app_id, tenant_id, user_id),
    CONSTRAINT __PREFIX__emailpassword_user_to_tenant_user_id_fkey FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS emailpassword_user_to_tenant_email_index ON __SCHEMA__.__PREFIX__emailpassword_user_to_tenant (app_id, tenant_id, email);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__emailpassword_pswd_reset_tokens (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    token VARCHAR(128) NOT NULL CONSTRAINT __PREFIX__emailpassword_pswd_reset_tokens_token_key UNIQUE,
    -- nullable for backwards compatibility
    email VARCHAR(256),
    token_expiry BIGINT NOT NULL,
    CONSTRAINT __PREFIX__emailpassword_pswd_reset_tokens_pkey PRIMARY KEY (app_id, user_id, token),
    CONSTRAINT __PREFIX__emailpassword_pswd_reset_tokens_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS emailpassword_password_reset_token_expiry_index ON __SCHEMA__.__PREFIX__emailpassword_pswd_reset_tokens (token_expiry);
CREATE INDEX IF NOT EXISTS emailpassword_pswd_reset_tokens_user_id_index ON __SCHEMA__.__PREFIX__emailpassword_pswd_reset_tokens (app_id, user_id);

-- ---------------------------------------------------------------------------
-- Email verification
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__emailverification_verified_emails (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    email VARCHAR(256) NOT NULL,
    CONSTRAINT __PREFIX__emailverification_verified_emails_pkey PRIMARY KEY (app_id, user_id, email),
    CONSTRAINT __PREFIX__emailverification_verified_emails_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS emailverification_verified_emails_app_id_index ON __SCHEMA__.__PREFIX__emailverification_verified_emails (app_id);
CREATE INDEX IF NOT EXISTS emailverification_verified_emails_app_id_email_index ON __SCHEMA__.__PREFIX__emailverification_verified_emails (app_id, email);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__emailverification_tokens (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    email VARCHAR(256) NOT NULL,
    token VARCHAR(128) NOT NULL CONSTRAINT __PREFIX__emailverification_tokens_token_key UNIQUE,
    token_expiry BIGINT NOT NULL,
    CONSTRAINT __PREFIX__emailverification_tokens_pkey PRIMARY KEY (app_id, tenant_id, user_id, email, token),
    CONSTRAINT __PREFIX__emailverification_tokens_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS emailverification_tokens_index ON __SCHEMA__.__PREFIX__emailverification_tokens (token_expiry);
CREATE INDEX IF NOT EXISTS emailverification_tokens_tenant_id_index ON __SCHEMA__.__PREFIX__emailverification_tokens (app_id, tenant_id);

-- ---------------------------------------------------------------------------
-- Third-party recipe
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__thirdparty_users (
    app_id VARCHAR(64) DEFAULT 'public',
    third_party_id VARCHAR(28) NOT NULL,
    third_party_user_id VARCHAR(256) NOT NULL,
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__thirdparty_users_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT __PREFIX__thirdparty_users_pkey PRIMARY KEY (app_id, user_id)
);
CREATE INDEX IF NOT EXISTS thirdparty_users_email_index ON __SCHEMA__.__PREFIX__thirdparty_users (app_id, email);
CREATE INDEX IF NOT EXISTS thirdparty_users_thirdparty_user_id_index ON __SCHEMA__.__PREFIX__thirdparty_users (app_id, third_party_id, third_party_user_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__thirdparty_user_to_tenant (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    third_party_id VARCHAR(28) NOT NULL,
    third_party_user_id VARCHAR(256) NOT NULL,
    CONSTRAINT __PREFIX__thirdparty_user_to_tenant_third_party_user_id_key UNIQUE (app_id, tenant_id, third_party_id, third_party_user_id),
    CONSTRAINT __PREFIX__thirdparty_user_to_tenant_pkey PRIMARY KEY (app_id, tenant_id, user_id),
    CONSTRAINT __PREFIX__thirdparty_user_to_tenant_user_id_fkey FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS thirdparty_user_to_tenant_third_party_user_id_index ON __SCHEMA__.__PREFIX__thirdparty_user_to_tenant (app_id, tenant_id, third_party_id, third_party_user_id);

-- ---------------------------------------------------------------------------
-- JWT recipe signing keys
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__jwt_signing_keys (
    app_id VARCHAR(64) DEFAULT 'public',
    key_id VARCHAR(255) NOT NULL,
    key_string TEXT NOT NULL,
    algorithm VARCHAR(10) NOT NULL,
    created_at BIGINT,
    CONSTRAINT __PREFIX__jwt_signing_keys_pkey PRIMARY KEY (app_id, key_id),
    CONSTRAINT __PREFIX__jwt_signing_keys_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS jwt_signing_keys_app_id_index ON __SCHEMA__.__PREFIX__jwt_signing_keys (app_id);

-- ---------------------------------------------------------------------------
-- Passwordless recipe
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__passwordless_users (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256),
    phone_number VARCHAR(256),
    time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__passwordless_users_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT __PREFIX__passwordless_users_pkey PRIMARY KEY (app_id, user_id)
);
-- these four are on all_auth_recipe_users: the plugin creates them together with passwordless_users
CREATE INDEX IF NOT EXISTS all_auth_recipe_user_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (user_id);
CREATE INDEX IF NOT EXISTS all_auth_recipe_user_id_app_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, user_id);
CREATE INDEX IF NOT EXISTS all_auth_recipe_user_app_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id);
CREATE INDEX IF NOT EXISTS all_auth_recipe_tenant_id_index ON __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id);
CREATE INDEX IF NOT EXISTS passwordless_users_email_index ON __SCHEMA__.__PREFIX__passwordless_users (app_id, email);
CREATE INDEX IF NOT EXISTS passwordless_users_phone_number_index ON __SCHEMA__.__PREFIX__passwordless_users (app_id, phone_number);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__passwordless_user_to_tenant (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256),
    phone_number VARCHAR(256),
    CONSTRAINT __PREFIX__passwordless_user_to_tenant_email_key UNIQUE (app_id, tenant_id, email),
    CONSTRAINT __PREFIX__passwordless_user_to_tenant_phone_number_key UNIQUE (app_id, tenant_id, phone_number),
    CONSTRAINT __PREFIX__passwordless_user_to_tenant_pkey PRIMARY KEY (app_id, tenant_id, user_id),
    CONSTRAINT __PREFIX__passwordless_user_to_tenant_user_id_fkey FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS passwordless_user_to_tenant_email_index ON __SCHEMA__.__PREFIX__passwordless_user_to_tenant (app_id, tenant_id, email);
CREATE INDEX IF NOT EXISTS passwordless_user_to_tenant_phone_number_index ON __SCHEMA__.__PREFIX__passwordless_user_to_tenant (app_id, tenant_id, phone_number);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__passwordless_devices (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    device_id_hash CHAR(44) NOT NULL,
    email VARCHAR(256),
    phone_number VARCHAR(256),
    link_code_salt CHAR(44) NOT NULL,
    failed_attempts INT NOT NULL,
    CONSTRAINT __PREFIX__passwordless_devices_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__passwordless_devices_pkey PRIMARY KEY (app_id, tenant_id, device_id_hash)
);
CREATE INDEX IF NOT EXISTS passwordless_devices_email_index ON __SCHEMA__.__PREFIX__passwordless_devices (app_id, tenant_id, email);
CREATE INDEX IF NOT EXISTS passwordless_devices_phone_number_index ON __SCHEMA__.__PREFIX__passwordless_devices (app_id, tenant_id, phone_number);
CREATE INDEX IF NOT EXISTS passwordless_devices_tenant_id_index ON __SCHEMA__.__PREFIX__passwordless_devices (app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__passwordless_codes (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    code_id CHAR(36) NOT NULL,
    device_id_hash CHAR(44) NOT NULL,
    link_code_hash CHAR(44) NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__passwordless_codes_link_code_hash_key UNIQUE (app_id, tenant_id, link_code_hash),
    CONSTRAINT __PREFIX__passwordless_codes_pkey PRIMARY KEY (app_id, tenant_id, code_id),
    CONSTRAINT __PREFIX__passwordless_codes_device_id_hash_fkey FOREIGN KEY (app_id, tenant_id, device_id_hash)
        REFERENCES __SCHEMA__.__PREFIX__passwordless_devices (app_id, tenant_id, device_id_hash) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS passwordless_codes_created_at_index ON __SCHEMA__.__PREFIX__passwordless_codes (app_id, tenant_id, created_at);
-- the plugin adds this one unconditionally on every start (older databases may lack it)
CREATE INDEX IF NOT EXISTS passwordless_codes_device_id_hash_index ON __SCHEMA__.__PREFIX__passwordless_codes (app_id, tenant_id, device_id_hash);

-- ---------------------------------------------------------------------------
-- User metadata, roles, user-id mapping
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__user_metadata (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    user_metadata TEXT NOT NULL,
    CONSTRAINT __PREFIX__user_metadata_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__user_metadata_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_metadata_app_id_index ON __SCHEMA__.__PREFIX__user_metadata (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__roles (
    app_id VARCHAR(64) DEFAULT 'public',
    role VARCHAR(255) NOT NULL,
    CONSTRAINT __PREFIX__roles_pkey PRIMARY KEY (app_id, role),
    CONSTRAINT __PREFIX__roles_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS roles_app_id_index ON __SCHEMA__.__PREFIX__roles (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__role_permissions (
    app_id VARCHAR(64) DEFAULT 'public',
    role VARCHAR(255) NOT NULL,
    permission VARCHAR(255) NOT NULL,
    CONSTRAINT __PREFIX__role_permissions_pkey PRIMARY KEY (app_id, role, permission),
    CONSTRAINT __PREFIX__role_permissions_role_fkey FOREIGN KEY (app_id, role)
        REFERENCES __SCHEMA__.__PREFIX__roles (app_id, role) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS role_permissions_permission_index ON __SCHEMA__.__PREFIX__role_permissions (app_id, permission);
CREATE INDEX IF NOT EXISTS role_permissions_role_index ON __SCHEMA__.__PREFIX__role_permissions (app_id, role);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__user_roles (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    role VARCHAR(255) NOT NULL,
    CONSTRAINT __PREFIX__user_roles_pkey PRIMARY KEY (app_id, tenant_id, user_id, role),
    CONSTRAINT __PREFIX__user_roles_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS user_roles_role_index ON __SCHEMA__.__PREFIX__user_roles (app_id, tenant_id, role);
CREATE INDEX IF NOT EXISTS user_roles_tenant_id_index ON __SCHEMA__.__PREFIX__user_roles (app_id, tenant_id);
CREATE INDEX IF NOT EXISTS user_roles_app_id_role_index ON __SCHEMA__.__PREFIX__user_roles (app_id, role);
CREATE INDEX IF NOT EXISTS user_roles_app_id_user_id_index ON __SCHEMA__.__PREFIX__user_roles (app_id, user_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__userid_mapping (
    app_id VARCHAR(64) DEFAULT 'public',
    supertokens_user_id CHAR(36) NOT NULL,
    external_user_id VARCHAR(128) NOT NULL,
    external_user_id_info TEXT,
    CONSTRAINT __PREFIX__userid_mapping_supertokens_user_id_key UNIQUE (app_id, supertokens_user_id),
    CONSTRAINT __PREFIX__userid_mapping_external_user_id_key UNIQUE (app_id, external_user_id),
    CONSTRAINT __PREFIX__userid_mapping_pkey PRIMARY KEY (app_id, supertokens_user_id, external_user_id),
    CONSTRAINT __PREFIX__userid_mapping_supertokens_user_id_fkey FOREIGN KEY (app_id, supertokens_user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS userid_mapping_supertokens_user_id_index ON __SCHEMA__.__PREFIX__userid_mapping (app_id, supertokens_user_id);

-- ---------------------------------------------------------------------------
-- Dashboard
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__dashboard_users (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    password_hash VARCHAR(256) NOT NULL,
    time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__dashboard_users_email_key UNIQUE (app_id, email),
    CONSTRAINT __PREFIX__dashboard_users_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__dashboard_users_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS dashboard_users_app_id_index ON __SCHEMA__.__PREFIX__dashboard_users (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__dashboard_user_sessions (
    app_id VARCHAR(64) DEFAULT 'public',
    session_id CHAR(36) NOT NULL,
    user_id CHAR(36) NOT NULL,
    time_created BIGINT NOT NULL,
    expiry BIGINT NOT NULL,
    CONSTRAINT __PREFIX__dashboard_user_sessions_pkey PRIMARY KEY (app_id, session_id),
    CONSTRAINT __PREFIX__dashboard_user_sessions_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__dashboard_users (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS dashboard_user_sessions_expiry_index ON __SCHEMA__.__PREFIX__dashboard_user_sessions (expiry);
CREATE INDEX IF NOT EXISTS dashboard_user_sessions_user_id_index ON __SCHEMA__.__PREFIX__dashboard_user_sessions (app_id, user_id);

-- ---------------------------------------------------------------------------
-- TOTP
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__totp_users (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    CONSTRAINT __PREFIX__totp_users_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__totp_users_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS totp_users_app_id_index ON __SCHEMA__.__PREFIX__totp_users (app_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__totp_user_devices (
    app_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    device_name VARCHAR(256) NOT NULL,
    secret_key VARCHAR(256) NOT NULL,
    period INTEGER NOT NULL,
    skew INTEGER NOT NULL,
    verified BOOLEAN NOT NULL,
    created_at BIGINT,
    CONSTRAINT __PREFIX__totp_user_devices_pkey PRIMARY KEY (app_id, user_id, device_name),
    CONSTRAINT __PREFIX__totp_user_devices_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__totp_users (app_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS totp_user_devices_user_id_index ON __SCHEMA__.__PREFIX__totp_user_devices (app_id, user_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__totp_used_codes (
    app_id VARCHAR(64) DEFAULT 'public',
    tenant_id VARCHAR(64) DEFAULT 'public',
    user_id VARCHAR(128) NOT NULL,
    code VARCHAR(8) NOT NULL,
    is_valid BOOLEAN NOT NULL,
    expiry_time_ms BIGINT NOT NULL,
    created_time_ms BIGINT NOT NULL,
    CONSTRAINT __PREFIX__totp_used_codes_pkey PRIMARY KEY (app_id, tenant_id, user_id, created_time_ms),
    CONSTRAINT __PREFIX__totp_used_codes_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__totp_users (app_id, user_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__totp_used_codes_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS totp_used_codes_expiry_time_ms_index ON __SCHEMA__.__PREFIX__totp_used_codes (app_id, tenant_id, expiry_time_ms);
CREATE INDEX IF NOT EXISTS totp_used_codes_user_id_index ON __SCHEMA__.__PREFIX__totp_used_codes (app_id, user_id);
CREATE INDEX IF NOT EXISTS totp_used_codes_tenant_id_index ON __SCHEMA__.__PREFIX__totp_used_codes (app_id, tenant_id);

-- ---------------------------------------------------------------------------
-- Bulk import
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__bulk_import_users (
    id CHAR(36),
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    primary_user_id VARCHAR(36),
    raw_data TEXT NOT NULL,
    status VARCHAR(128) DEFAULT 'NEW',
    error_msg TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__bulk_import_users_pkey PRIMARY KEY (app_id, id),
    CONSTRAINT __PREFIX__bulk_import_users_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS bulk_import_users_status_updated_at_index ON __SCHEMA__.__PREFIX__bulk_import_users (app_id, status, updated_at);
CREATE INDEX IF NOT EXISTS bulk_import_users_pagination_index1 ON __SCHEMA__.__PREFIX__bulk_import_users (app_id, status, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS bulk_import_users_pagination_index2 ON __SCHEMA__.__PREFIX__bulk_import_users (app_id, created_at DESC, id DESC);

-- ---------------------------------------------------------------------------
-- OAuth provider
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_clients (
    app_id VARCHAR(64),
    client_id VARCHAR(255) NOT NULL,
    client_secret TEXT,
    enable_refresh_token_rotation BOOLEAN NOT NULL,
    is_client_credentials_only BOOLEAN NOT NULL,
    CONSTRAINT __PREFIX__oauth_clients_pkey PRIMARY KEY (app_id, client_id),
    CONSTRAINT __PREFIX__oauth_clients_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_sessions (
    gid VARCHAR(255),
    app_id VARCHAR(64) DEFAULT 'public',
    client_id VARCHAR(255) NOT NULL,
    session_handle VARCHAR(128),
    -- the two UNIQUE constraints are unnamed in the plugin: PostgreSQL names them
    -- <prefix>oauth_sessions_external_refresh_token_key and <prefix>oauth_sessions_internal_refresh_token_key
    external_refresh_token VARCHAR(255) UNIQUE,
    internal_refresh_token VARCHAR(255) UNIQUE,
    -- comma separated list of jtis
    jti TEXT NOT NULL,
    exp BIGINT NOT NULL,
    CONSTRAINT __PREFIX__oauth_sessions_pkey PRIMARY KEY (gid),
    CONSTRAINT __PREFIX__oauth_sessions_client_id_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES __SCHEMA__.__PREFIX__oauth_clients (app_id, client_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS oauth_session_exp_index ON __SCHEMA__.__PREFIX__oauth_sessions (exp DESC);
CREATE INDEX IF NOT EXISTS oauth_session_external_refresh_token_index ON __SCHEMA__.__PREFIX__oauth_sessions (app_id, external_refresh_token DESC);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_m2m_tokens (
    app_id VARCHAR(64) DEFAULT 'public',
    client_id VARCHAR(255) NOT NULL,
    iat BIGINT NOT NULL,
    exp BIGINT NOT NULL,
    CONSTRAINT __PREFIX__oauth_m2m_tokens_pkey PRIMARY KEY (app_id, client_id, iat),
    CONSTRAINT __PREFIX__oauth_m2m_tokens_client_id_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES __SCHEMA__.__PREFIX__oauth_clients (app_id, client_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS oauth_m2m_token_iat_index ON __SCHEMA__.__PREFIX__oauth_m2m_tokens (iat DESC, app_id DESC);
CREATE INDEX IF NOT EXISTS oauth_m2m_token_exp_index ON __SCHEMA__.__PREFIX__oauth_m2m_tokens (exp DESC);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__oauth_logout_challenges (
    app_id VARCHAR(64) DEFAULT 'public',
    challenge VARCHAR(128) NOT NULL,
    client_id VARCHAR(255) NOT NULL,
    post_logout_redirect_uri VARCHAR(1024),
    session_handle VARCHAR(128),
    state VARCHAR(128),
    time_created BIGINT NOT NULL,
    CONSTRAINT __PREFIX__oauth_logout_challenges_pkey PRIMARY KEY (app_id, challenge),
    CONSTRAINT __PREFIX__oauth_logout_challenges_client_id_fkey FOREIGN KEY (app_id, client_id)
        REFERENCES __SCHEMA__.__PREFIX__oauth_clients (app_id, client_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS oauth_logout_challenges_time_created_index ON __SCHEMA__.__PREFIX__oauth_logout_challenges (time_created DESC);

-- ---------------------------------------------------------------------------
-- WebAuthn
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__webauthn_users (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    rp_id VARCHAR(256) NOT NULL,
    time_joined BIGINT NOT NULL,
    CONSTRAINT __PREFIX__webauthn_users_pkey PRIMARY KEY (app_id, user_id),
    CONSTRAINT __PREFIX__webauthn_users_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__webauthn_user_to_tenant (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    CONSTRAINT __PREFIX__webauthn_user_to_tenant_email_key UNIQUE (app_id, tenant_id, email),
    CONSTRAINT __PREFIX__webauthn_user_to_tenant_pkey PRIMARY KEY (app_id, tenant_id, user_id),
    CONSTRAINT __PREFIX__webauthn_user_to_tenant_user_id_fkey FOREIGN KEY (app_id, tenant_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__all_auth_recipe_users (app_id, tenant_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS webauthn_user_to_tenant_email_index ON __SCHEMA__.__PREFIX__webauthn_user_to_tenant (app_id, email);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__webauthn_generated_options (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    id CHAR(36) NOT NULL,
    challenge VARCHAR(256) NOT NULL,
    email VARCHAR(256),
    rp_id VARCHAR(256) NOT NULL,
    rp_name VARCHAR(256) NOT NULL,
    origin VARCHAR(256) NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    user_presence_required BOOLEAN NOT NULL DEFAULT FALSE,
    user_verification VARCHAR(12) NOT NULL DEFAULT 'preferred',
    CONSTRAINT __PREFIX__webauthn_generated_options_pkey PRIMARY KEY (app_id, tenant_id, id),
    CONSTRAINT __PREFIX__webauthn_generated_options_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS webauthn_user_challenges_expires_at_index ON __SCHEMA__.__PREFIX__webauthn_generated_options (app_id, tenant_id, expires_at);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__webauthn_credentials (
    id VARCHAR(256) NOT NULL,
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    rp_id VARCHAR(256),
    user_id CHAR(36),
    counter BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    transports TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__webauthn_credentials_pkey PRIMARY KEY (app_id, rp_id, id),
    CONSTRAINT __PREFIX__webauthn_credentials_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__webauthn_users (app_id, user_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS webauthn_credentials_user_id_index ON __SCHEMA__.__PREFIX__webauthn_credentials (user_id);

-- the plugin hard-codes these two constraint names (singular token, no prefix).
-- The FK targets app_id_to_user_id, not all_auth_recipe_users.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__webauthn_account_recovery_tokens (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    user_id CHAR(36) NOT NULL,
    email VARCHAR(256) NOT NULL,
    token VARCHAR(256) NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT webauthn_account_recovery_token_pkey PRIMARY KEY (app_id, tenant_id, user_id, token),
    CONSTRAINT webauthn_account_recovery_token_user_id_fkey FOREIGN KEY (app_id, user_id)
        REFERENCES __SCHEMA__.__PREFIX__app_id_to_user_id (app_id, user_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX IF NOT EXISTS webauthn_account_recovery_token_token_index ON __SCHEMA__.__PREFIX__webauthn_account_recovery_tokens (app_id, tenant_id, token);
CREATE INDEX IF NOT EXISTS webauthn_account_recovery_token_email_index ON __SCHEMA__.__PREFIX__webauthn_account_recovery_tokens (app_id, tenant_id, email);
CREATE INDEX IF NOT EXISTS webauthn_account_recovery_token_expires_at_index ON __SCHEMA__.__PREFIX__webauthn_account_recovery_tokens (expires_at DESC);

-- ---------------------------------------------------------------------------
-- SAML
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__saml_clients (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    client_id VARCHAR(256) NOT NULL,
    client_secret TEXT,
    sso_login_url TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    default_redirect_uri TEXT NOT NULL,
    idp_entity_id VARCHAR(256) NOT NULL,
    idp_signing_certificate TEXT NOT NULL,
    allow_idp_initiated_login BOOLEAN NOT NULL DEFAULT FALSE,
    enable_request_signing BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__saml_clients_pkey PRIMARY KEY (app_id, tenant_id, client_id),
    CONSTRAINT __PREFIX__saml_clients_idp_entity_id_key UNIQUE (app_id, tenant_id, idp_entity_id),
    CONSTRAINT __PREFIX__saml_clients_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__saml_clients_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS saml_clients_app_id_tenant_id_index ON __SCHEMA__.__PREFIX__saml_clients (app_id, tenant_id);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__saml_relay_state (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    relay_state VARCHAR(256) NOT NULL,
    client_id VARCHAR(256) NOT NULL,
    state TEXT,
    redirect_uri TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__saml_relay_state_pkey PRIMARY KEY (app_id, tenant_id, relay_state),
    CONSTRAINT __PREFIX__saml_relay_state_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__saml_relay_state_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS saml_relay_state_app_id_tenant_id_index ON __SCHEMA__.__PREFIX__saml_relay_state (app_id, tenant_id);
CREATE INDEX IF NOT EXISTS saml_relay_state_expires_at_index ON __SCHEMA__.__PREFIX__saml_relay_state (expires_at);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__saml_claims (
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    client_id VARCHAR(256) NOT NULL,
    code VARCHAR(256) NOT NULL,
    claims TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT __PREFIX__saml_claims_pkey PRIMARY KEY (app_id, tenant_id, code),
    CONSTRAINT __PREFIX__saml_claims_app_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE,
    CONSTRAINT __PREFIX__saml_claims_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS saml_claims_app_id_tenant_id_index ON __SCHEMA__.__PREFIX__saml_claims (app_id, tenant_id);
CREATE INDEX IF NOT EXISTS saml_claims_expires_at_index ON __SCHEMA__.__PREFIX__saml_claims (expires_at);

-- ---------------------------------------------------------------------------
-- Account-info reservation tables (plugin 9.5.0, schema rework)
-- ---------------------------------------------------------------------------

-- The FK is named ..._tenant_id_fkey although it is on app_id only (as in the plugin).
-- third_party_id and third_party_user_id are declared nullable but are NOT NULL
-- through the primary key.
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__recipe_user_account_infos (
    app_id VARCHAR(64) NOT NULL,
    recipe_user_id CHAR(36) NOT NULL,
    recipe_id VARCHAR(128) NOT NULL,
    account_info_type VARCHAR(8) NOT NULL,
    account_info_value TEXT NOT NULL,
    third_party_id VARCHAR(28),
    third_party_user_id VARCHAR(256),
    primary_user_id CHAR(36) NULL,
    CONSTRAINT __PREFIX__recipe_user_account_infos_pkey PRIMARY KEY (app_id, recipe_id, recipe_user_id, account_info_type, third_party_id, third_party_user_id),
    CONSTRAINT __PREFIX__recipe_user_account_infos_tenant_id_fkey FOREIGN KEY (app_id)
        REFERENCES __SCHEMA__.__PREFIX__apps (app_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__recipe_user_tenants (
    app_id VARCHAR(64) NOT NULL,
    recipe_user_id CHAR(36) NOT NULL,
    tenant_id VARCHAR(64) NOT NULL,
    recipe_id VARCHAR(128) NOT NULL,
    account_info_type VARCHAR(8) NOT NULL,
    account_info_value TEXT NOT NULL,
    third_party_id VARCHAR(28),
    third_party_user_id VARCHAR(256),
    CONSTRAINT __PREFIX__recipe_user_tenants_pkey PRIMARY KEY (app_id, tenant_id, recipe_id, account_info_type, third_party_id, third_party_user_id, account_info_value),
    CONSTRAINT __PREFIX__recipe_user_tenants_tenant_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_recipe_user_tenants_tenant ON __SCHEMA__.__PREFIX__recipe_user_tenants (app_id, tenant_id);
CREATE INDEX IF NOT EXISTS idx_recipe_user_tenants_recipe_user_id ON __SCHEMA__.__PREFIX__recipe_user_tenants (app_id, recipe_user_id);
-- on recipe_user_account_infos, but created by the plugin in the recipe_user_tenants step
CREATE INDEX IF NOT EXISTS idx_recipe_user_account_infos_app_recipe_user ON __SCHEMA__.__PREFIX__recipe_user_account_infos (app_id, recipe_user_id);
CREATE INDEX IF NOT EXISTS idx_recipe_user_tenants_account_info ON __SCHEMA__.__PREFIX__recipe_user_tenants (app_id, tenant_id, account_info_type, account_info_value);

-- The FK is named ..._app_id_fkey although it is on (app_id, tenant_id) (as in the plugin).
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__primary_user_tenants (
    app_id VARCHAR(64) NOT NULL,
    tenant_id VARCHAR(64) NOT NULL,
    account_info_type VARCHAR(8) NOT NULL,
    account_info_value TEXT NOT NULL,
    primary_user_id CHAR(36) NOT NULL,
    CONSTRAINT __PREFIX__primary_user_tenants_pkey PRIMARY KEY (app_id, tenant_id, account_info_type, account_info_value),
    CONSTRAINT __PREFIX__primary_user_tenants_app_id_fkey FOREIGN KEY (app_id, tenant_id)
        REFERENCES __SCHEMA__.__PREFIX__tenants (app_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_primary_user_tenants_primary ON __SCHEMA__.__PREFIX__primary_user_tenants (primary_user_id);

-- ---------------------------------------------------------------------------
-- Activity log (plugin 9.5.2): append-only, no PK and no FK, range-partitioned
-- by created_at (epoch ms) per UTC month. The DEFAULT partition is the backstop.
-- Monthly partitions __PREFIX__activity_log_pYYYYMM are created by code (see top).
-- The BRIN index on the parent propagates to every partition (PostgreSQL 11+).
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__activity_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    app_id VARCHAR(64) NOT NULL DEFAULT 'public',
    tenant_id VARCHAR(64) NOT NULL DEFAULT 'public',
    recipe_user_id VARCHAR(128),
    primary_or_recipe_user_id VARCHAR(128),
    event_type VARCHAR(64) NOT NULL,
    status VARCHAR(128),
    auth_principal VARCHAR(256),
    identifier VARCHAR(256),
    created_at BIGINT NOT NULL,
    payload TEXT
) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS __SCHEMA__.__PREFIX__activity_log_default PARTITION OF __SCHEMA__.__PREFIX__activity_log DEFAULT;
CREATE INDEX IF NOT EXISTS activity_log_created_at_brin ON __SCHEMA__.__PREFIX__activity_log USING brin (created_at);
