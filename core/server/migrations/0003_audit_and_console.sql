-- The audit log and the console's sessions.
--
-- Every row written by an admin (through the admin API or the console) is
-- recorded by a trigger, so no write path can forget to: the writer names
-- itself with `set_config('flagedge.admin_key', <admin key id>, true)` at the
-- start of its transaction (db::begin_audited). Writes that name no admin —
-- SDKs identifying with traits, sync, analytics — are not audited.

CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The admin key that wrote, and its name then (keys may be renamed or deleted).
    admin_key_id bigint,
    admin_key_name text NOT NULL,
    organisation_id bigint,
    project_id bigint,
    environment_id bigint,
    feature_id bigint,
    -- The table's name, singular: feature, feature_state, segment, ...
    resource text NOT NULL,
    resource_id bigint,
    action text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    -- The row before and after, without secrets (key hashes, server-side keys).
    before jsonb,
    after jsonb,
    -- One admin request is one transaction: its rows share this.
    transaction_id bigint NOT NULL DEFAULT txid_current()
);
CREATE INDEX audit_log_environment ON audit_log (environment_id, id);
CREATE INDEX audit_log_feature ON audit_log (feature_id, id);
CREATE INDEX audit_log_project ON audit_log (project_id, id);
CREATE INDEX audit_log_organisation ON audit_log (organisation_id, id);

CREATE FUNCTION flagedge_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_id bigint := nullif(current_setting('flagedge.admin_key', true), '')::bigint;
    key_name text;
    old_row jsonb;
    new_row jsonb;
    row_ jsonb;
    resource_name text := TG_ARGV[0];
    org bigint;
    project bigint;
    environment bigint;
    feature bigint;
BEGIN
    IF key_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD) - 'key_hash' - 'key';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW) - 'key_hash' - 'key';
    END IF;
    -- A revision bump is bookkeeping, not a change anyone made.
    IF TG_OP = 'UPDATE' AND (old_row - 'revision' - 'updated_at') = (new_row - 'revision' - 'updated_at') THEN
        RETURN NULL;
    END IF;
    row_ := coalesce(new_row, old_row);
    environment := (row_ ->> 'environment_id')::bigint;
    feature := (row_ ->> 'feature_id')::bigint;
    project := (row_ ->> 'project_id')::bigint;
    org := (row_ ->> 'organisation_id')::bigint;
    CASE TG_TABLE_NAME
        WHEN 'organisations' THEN org := (row_ ->> 'id')::bigint;
        WHEN 'environments' THEN environment := (row_ ->> 'id')::bigint;
        WHEN 'features' THEN feature := (row_ ->> 'id')::bigint;
        WHEN 'traits' THEN
            SELECT i.environment_id INTO environment FROM identities i
             WHERE i.id = (row_ ->> 'identity_id')::bigint;
        WHEN 'mv_feature_state_values' THEN
            SELECT s.environment_id, s.feature_id INTO environment, feature FROM feature_states s
             WHERE s.id = (row_ ->> 'feature_state_id')::bigint;
        ELSE NULL;
    END CASE;
    IF project IS NULL AND environment IS NOT NULL THEN
        SELECT e.project_id INTO project FROM environments e WHERE e.id = environment;
    END IF;
    IF project IS NULL AND feature IS NOT NULL THEN
        SELECT f.project_id INTO project FROM features f WHERE f.id = feature;
    END IF;
    IF org IS NULL AND project IS NOT NULL THEN
        SELECT p.organisation_id INTO org FROM projects p WHERE p.id = project;
    END IF;
    SELECT k.name INTO key_name FROM admin_api_keys k WHERE k.id = key_id;
    INSERT INTO audit_log (admin_key_id, admin_key_name, organisation_id, project_id,
                           environment_id, feature_id, resource, resource_id, action, before, after)
    VALUES (key_id, coalesce(key_name, '(deleted key)'), org, project, environment, feature,
            resource_name, (row_ ->> 'id')::bigint,
            CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END,
            old_row, new_row);
    RETURN NULL;
END
$$;

CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON organisations
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('organisation');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('project');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('environment');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON server_keys
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('server_key');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON features
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('feature');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON mv_options
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('multivariate_option');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON segments
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('segment');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON feature_segments
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('segment_override');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON identities
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('identity');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON traits
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('trait');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON feature_states
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('feature_state');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON mv_feature_state_values
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('multivariate_value');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON admin_api_keys
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('admin_key');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON proxy_keys
    FOR EACH ROW EXECUTE FUNCTION flagedge_audit('proxy_key');

-- Console sessions: the cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE console_sessions (
    id_hash bytea PRIMARY KEY,
    admin_key_id bigint NOT NULL REFERENCES admin_api_keys ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
