-- The edge fleet: each edge's latest report (written by flagedge-sync with the
-- counts it ships; read by core's GET /api/v1/edges/ and the console).
CREATE TABLE edge_reports (
    edge_id text PRIMARY KEY,
    region text NOT NULL DEFAULT '',
    version text NOT NULL DEFAULT '',
    -- When the edge cut the batch that carried the report.
    reported_at timestamptz NOT NULL,
    -- When sync wrote it.
    received_at timestamptz NOT NULL DEFAULT now(),
    -- [{environment_key, revision, updated_at, confirmed_secs_ago}]
    environments jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX edge_reports_received ON edge_reports (received_at);
