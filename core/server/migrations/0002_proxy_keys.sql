-- Proxy keys (`pk.<prefix>.<secret>`, Flagsmith's `proxy_key`): an edge proxy
-- presents one as `X-Proxy-Key` to read its organisation's environments and
-- keys (`GET /api/v1/proxy/config/`) and to report usage. Like admin keys,
-- only the prefix (to find the row) and a SHA-256 of the whole key are kept.
-- Revoking sets `revoked`; the row stays so the key's history is visible.
CREATE TABLE proxy_keys (
    id bigserial PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations ON DELETE CASCADE,
    name text NOT NULL,
    prefix text NOT NULL UNIQUE,
    key_hash bytea NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX proxy_keys_organisation ON proxy_keys (organisation_id);
