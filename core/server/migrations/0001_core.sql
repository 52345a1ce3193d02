-- flagedge-core's data: what an environment document carries (SPEC §2), plus
-- the keys that guard it. Every table that feeds documents hangs off a project
-- (ON DELETE CASCADE), so deleting a parent removes everything beneath it.

-- One global revision counter. Every write that changes what an environment
-- serves stamps that environment with nextval() under a transaction-level
-- advisory lock, so revisions become visible in the order they were taken.
CREATE SEQUENCE flagedge_revision AS bigint START 1;

-- The highest committed revision overall (also moved by deletions, which leave
-- no environment row behind to carry it).
CREATE TABLE flagedge_meta (
    id int PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL
);
INSERT INTO flagedge_meta (id, revision) VALUES (1, 0);

CREATE TABLE organisations (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    persist_trait_data boolean NOT NULL DEFAULT true,
    feature_analytics boolean NOT NULL DEFAULT false,
    stop_serving_flags boolean NOT NULL DEFAULT false,
    created_date timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id bigserial PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations ON DELETE CASCADE,
    name text NOT NULL,
    hide_disabled_flags boolean NOT NULL DEFAULT false,
    enable_realtime_updates boolean NOT NULL DEFAULT false,
    created_date timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_organisation ON projects (organisation_id);

CREATE TABLE environments (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    api_key text NOT NULL UNIQUE,
    allow_client_traits boolean NOT NULL DEFAULT true,
    hide_sensitive_data boolean NOT NULL DEFAULT false,
    hide_disabled_flags boolean,
    use_identity_composite_key_for_hashing boolean NOT NULL DEFAULT true,
    use_identity_overrides_in_local_eval boolean NOT NULL DEFAULT false,
    revision bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    created_date timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX environments_project ON environments (project_id);
CREATE INDEX environments_revision ON environments (revision);

-- Server-side keys (`ser.` + random); revoked by active = false or deletion.
CREATE TABLE server_keys (
    id bigserial PRIMARY KEY,
    environment_id bigint NOT NULL REFERENCES environments ON DELETE CASCADE,
    key text NOT NULL UNIQUE,
    name text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX server_keys_environment ON server_keys (environment_id);

CREATE TABLE features (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    type text NOT NULL CHECK (type IN ('STANDARD', 'MULTIVARIATE')),
    initial_value jsonb NOT NULL DEFAULT 'null',
    default_enabled boolean NOT NULL DEFAULT false,
    description text,
    is_server_key_only boolean NOT NULL DEFAULT false,
    created_date timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE mv_options (
    id bigserial PRIMARY KEY,
    feature_id bigint NOT NULL REFERENCES features ON DELETE CASCADE,
    value jsonb NOT NULL,
    key text,
    default_percentage_allocation double precision NOT NULL DEFAULT 100
        CHECK (default_percentage_allocation BETWEEN 0 AND 100),
    uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid()
);
CREATE INDEX mv_options_feature ON mv_options (feature_id);

CREATE TABLE segments (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects ON DELETE CASCADE,
    name text NOT NULL,
    description text,
    -- The rule tree exactly as the admin API takes it (validated on write).
    rules jsonb NOT NULL DEFAULT '[]',
    created_date timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

-- A segment override's link: this segment overrides this feature in this
-- environment, with this priority (lower is stronger).
CREATE TABLE feature_segments (
    id bigserial PRIMARY KEY,
    feature_id bigint NOT NULL REFERENCES features ON DELETE CASCADE,
    segment_id bigint NOT NULL REFERENCES segments ON DELETE CASCADE,
    environment_id bigint NOT NULL REFERENCES environments ON DELETE CASCADE,
    priority integer NOT NULL DEFAULT 0,
    UNIQUE (feature_id, segment_id, environment_id)
);

CREATE TABLE identities (
    id bigserial PRIMARY KEY,
    environment_id bigint NOT NULL REFERENCES environments ON DELETE CASCADE,
    identifier text NOT NULL,
    identity_uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    created_date timestamptz NOT NULL DEFAULT now(),
    UNIQUE (environment_id, identifier)
);

CREATE TABLE traits (
    id bigserial PRIMARY KEY,
    identity_id bigint NOT NULL REFERENCES identities ON DELETE CASCADE,
    trait_key text NOT NULL,
    trait_value jsonb NOT NULL,
    created_date timestamptz NOT NULL DEFAULT now(),
    UNIQUE (identity_id, trait_key)
);

-- Feature states: exactly one of three scopes. Environment defaults have
-- neither feature_segment_id nor identity_id; segment overrides have the
-- first; identity overrides the second.
CREATE TABLE feature_states (
    id bigserial PRIMARY KEY,
    feature_id bigint NOT NULL REFERENCES features ON DELETE CASCADE,
    environment_id bigint NOT NULL REFERENCES environments ON DELETE CASCADE,
    feature_segment_id bigint UNIQUE REFERENCES feature_segments ON DELETE CASCADE,
    identity_id bigint REFERENCES identities ON DELETE CASCADE,
    enabled boolean NOT NULL DEFAULT false,
    feature_state_value jsonb NOT NULL DEFAULT 'null',
    featurestate_uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (feature_segment_id IS NULL OR identity_id IS NULL)
);
CREATE UNIQUE INDEX feature_states_environment_default
    ON feature_states (environment_id, feature_id)
    WHERE feature_segment_id IS NULL AND identity_id IS NULL;
CREATE UNIQUE INDEX feature_states_identity
    ON feature_states (identity_id, feature_id) WHERE identity_id IS NOT NULL;

-- A multivariate option's share in one feature state.
CREATE TABLE mv_feature_state_values (
    id bigserial PRIMARY KEY,
    feature_state_id bigint NOT NULL REFERENCES feature_states ON DELETE CASCADE,
    mv_option_id bigint NOT NULL REFERENCES mv_options ON DELETE CASCADE,
    percentage_allocation double precision NOT NULL
        CHECK (percentage_allocation BETWEEN 0 AND 100),
    mv_fs_value_uuid uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    UNIQUE (feature_state_id, mv_option_id)
);

-- Admin API keys: only a SHA-256 of the secret is kept. organisation_id NULL
-- means an instance-wide key (the one `flagedge-core init` prints).
CREATE TABLE admin_api_keys (
    id bigserial PRIMARY KEY,
    organisation_id bigint REFERENCES organisations ON DELETE CASCADE,
    name text NOT NULL,
    prefix text NOT NULL UNIQUE,
    key_hash bytea NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    expiry_date timestamptz,
    created timestamptz NOT NULL DEFAULT now()
);
