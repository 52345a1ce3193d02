-- The analytics store flagedge-sync writes and flagedge-core reads: evaluation
-- counts per feature and SDK API calls per resource, per environment (client
-- key), each summed into 1-minute, 15-minute and 1-hour buckets. bucket_start
-- is aligned to its size (UTC). analytics_batches records every ingested batch
-- id, in the same transaction as its counts, so a retried batch is not counted
-- twice. These may live in their own database (--analytics-database-url); the
-- version numbers (1001+) keep them apart from core's own migrations when they
-- share one.
CREATE TABLE analytics_flag_evaluations (
    environment_key text NOT NULL,
    feature_name text NOT NULL,
    bucket_size text NOT NULL CHECK (bucket_size IN ('1m', '15m', '1h')),
    bucket_start timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (environment_key, feature_name, bucket_size, bucket_start)
);
CREATE INDEX analytics_flag_evaluations_range
    ON analytics_flag_evaluations (environment_key, bucket_size, bucket_start);

CREATE TABLE analytics_api_calls (
    environment_key text NOT NULL,
    resource text NOT NULL,
    bucket_size text NOT NULL CHECK (bucket_size IN ('1m', '15m', '1h')),
    bucket_start timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (environment_key, resource, bucket_size, bucket_start)
);
CREATE INDEX analytics_api_calls_range
    ON analytics_api_calls (environment_key, bucket_size, bucket_start);

CREATE TABLE analytics_batches (
    batch_id text PRIMARY KEY,
    edge_id text,
    received_at timestamptz NOT NULL DEFAULT now()
);
