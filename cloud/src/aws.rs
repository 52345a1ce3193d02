//! SDK clients, configured the lean way: rustls with ring through
//! aws-smithy-http-client (no aws-lc, no legacy hyper 0.14 stack), region and
//! credentials from the usual AWS environment, and an optional endpoint override
//! for S3/DynamoDB-compatible local servers (path-style S3 then).

pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls;

/// Where the AWS APIs are.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// The region (falls back to `AWS_REGION`, then `us-east-1`).
    pub region: Option<String>,
    /// An endpoint override, e.g. `http://127.0.0.1:5000` for moto.
    pub endpoint_url: Option<String>,
    /// Fixed credentials (access key, secret) instead of the environment's chain,
    /// for S3/DynamoDB-compatible servers that only need something to sign with.
    pub static_credentials: Option<(String, String)>,
}

/// The shared SDK configuration.
pub async fn sdk_config(options: &AwsOptions) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let region = options
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .region(Region::new(region));
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((access_key, secret)) = &options.static_credentials {
        let credentials =
            aws_sdk_s3::config::Credentials::new(access_key, secret, None, None, "flagedge-static");
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}

/// An S3 client (path-style addressing when the endpoint is overridden).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

/// A DynamoDB client.
pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
