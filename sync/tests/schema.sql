-- The analytics tables as flagedge-core's migration defines them (kept here
-- until core's migration can be applied directly by these tests).
CREATE TABLE analytics_flag_evaluations (
    environment_key text NOT NULL,
    feature_name text NOT NULL,
    bucket_size text NOT NULL CHECK (bucket_size IN ('1m', '15m', '1h')),
    bucket_start timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (environment_key, feature_name, bucket_size, bucket_start)
);
CREATE TABLE analytics_api_calls (
    environment_key text NOT NULL,
    resource text NOT NULL,
    bucket_size text NOT NULL CHECK (bucket_size IN ('1m', '15m', '1h')),
    bucket_start timestamptz NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (environment_key, resource, bucket_size, bucket_start)
);
CREATE TABLE analytics_batches (
    batch_id text PRIMARY KEY,
    edge_id text,
    received_at timestamptz NOT NULL DEFAULT now()
);
