//! The edge's endpoints, by normalised path: what the API dispatches on and
//! what request metrics are labelled by. A leaf: it knows paths, nothing else.

use http::Method;

/// The endpoints, by normalised path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1/flags/`
    Flags,
    /// `/api/v1/identities/`
    Identities,
    /// `/api/v1/environment-document/`
    EnvironmentDocument,
    /// `/api/v1/analytics/flags/`
    AnalyticsV1,
    /// `/api/v2/analytics/flags/`
    AnalyticsV2,
    /// `/api/v1/traits/`
    Traits,
    /// `/api/v1/traits/bulk/`
    TraitsBulk,
    /// `/health`
    Health,
    /// `/ready`
    Ready,
    /// `/proxy/health` (edge-proxy)
    ProxyHealth,
    /// `/proxy/health/liveness` (edge-proxy)
    ProxyLiveness,
    /// `/proxy/health/readiness` (edge-proxy)
    ProxyReadiness,
    /// `/metrics`
    Metrics,
    /// `/api/v1/openapi.json`
    OpenApi,
    /// `/sse/environments/<client key>/stream`
    Sse,
    /// `/ofrep/v1/evaluate/flags`
    OfrepBulk,
    /// `/ofrep/v1/evaluate/flags/<flag key>`
    OfrepFlag,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Every route, for metrics tables.
    pub const ALL: [Route; 18] = [
        Route::Flags,
        Route::Identities,
        Route::EnvironmentDocument,
        Route::AnalyticsV1,
        Route::AnalyticsV2,
        Route::Traits,
        Route::TraitsBulk,
        Route::Health,
        Route::Ready,
        Route::ProxyHealth,
        Route::ProxyLiveness,
        Route::ProxyReadiness,
        Route::Metrics,
        Route::OpenApi,
        Route::Sse,
        Route::OfrepBulk,
        Route::OfrepFlag,
        Route::NotFound,
    ];

    /// Routes a path; a trailing slash is optional everywhere.
    pub fn of(path: &str) -> Route {
        let path = path.strip_suffix('/').unwrap_or(path);
        match path {
            "/api/v1/flags" => Route::Flags,
            "/api/v1/identities" => Route::Identities,
            "/api/v1/environment-document" => Route::EnvironmentDocument,
            "/api/v1/analytics/flags" => Route::AnalyticsV1,
            "/api/v2/analytics/flags" => Route::AnalyticsV2,
            "/api/v1/traits" => Route::Traits,
            "/api/v1/traits/bulk" => Route::TraitsBulk,
            "/health" => Route::Health,
            "/ready" => Route::Ready,
            "/proxy/health" => Route::ProxyHealth,
            "/proxy/health/liveness" => Route::ProxyLiveness,
            "/proxy/health/readiness" => Route::ProxyReadiness,
            "/metrics" => Route::Metrics,
            "/api/v1/openapi.json" => Route::OpenApi,
            "/ofrep/v1/evaluate/flags" => Route::OfrepBulk,
            _ if sse_client_key(path).is_some() => Route::Sse,
            _ if ofrep_flag_key(path).is_some() => Route::OfrepFlag,
            _ => Route::NotFound,
        }
    }

    /// The metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Route::Flags => "flags",
            Route::Identities => "identities",
            Route::EnvironmentDocument => "environment-document",
            Route::AnalyticsV1 => "analytics-v1",
            Route::AnalyticsV2 => "analytics-v2",
            Route::Traits => "traits",
            Route::TraitsBulk => "traits-bulk",
            Route::Health => "health",
            Route::Ready => "ready",
            Route::ProxyHealth => "proxy-health",
            Route::ProxyLiveness => "proxy-liveness",
            Route::ProxyReadiness => "proxy-readiness",
            Route::Metrics => "metrics",
            Route::OpenApi => "openapi",
            Route::Sse => "sse",
            Route::OfrepBulk => "ofrep-bulk",
            Route::OfrepFlag => "ofrep-flag",
            Route::NotFound => "not-found",
        }
    }

    pub fn methods(self) -> &'static [Method] {
        const GET: &[Method] = &[Method::GET, Method::HEAD];
        const POST: &[Method] = &[Method::POST];
        const GET_POST: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
        const PUT: &[Method] = &[Method::PUT];
        match self {
            Route::Identities => GET_POST,
            Route::AnalyticsV1
            | Route::AnalyticsV2
            | Route::Traits
            | Route::OfrepBulk
            | Route::OfrepFlag => POST,
            Route::TraitsBulk => PUT,
            _ => GET,
        }
    }
}

/// The client key in `/sse/environments/<client key>/stream`.
pub fn sse_client_key(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/sse/environments/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let key = rest.strip_suffix("/stream")?;
    (!key.is_empty() && !key.contains('/')).then_some(key)
}

/// The flag key in a single-flag OFREP path, percent-decoded as a path segment
/// (`+` is a plus, `&` and `=` belong to the key).
pub fn ofrep_flag_key(path: &str) -> Option<String> {
    let key = path.strip_prefix("/ofrep/v1/evaluate/flags/")?;
    let key = key.strip_suffix('/').unwrap_or(key);
    (!key.is_empty() && !key.contains('/')).then(|| {
        percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_slash() {
        assert_eq!(Route::of("/api/v1/flags/"), Route::Flags);
        assert_eq!(Route::of("/api/v1/flags"), Route::Flags);
        assert_eq!(
            Route::of("/api/v1/environment-document"),
            Route::EnvironmentDocument
        );
        assert_eq!(Route::of("/api/v1/flags//"), Route::NotFound);
        assert_eq!(Route::of("/api/v1/flagsx/"), Route::NotFound);
    }

    #[test]
    fn flag_keys_decode() {
        assert_eq!(
            ofrep_flag_key("/ofrep/v1/evaluate/flags/new_checkout").as_deref(),
            Some("new_checkout")
        );
        assert_eq!(
            ofrep_flag_key("/ofrep/v1/evaluate/flags/a%20b/").as_deref(),
            Some("a b")
        );
        assert_eq!(
            ofrep_flag_key("/ofrep/v1/evaluate/flags/a+b&c=d%2Fe").as_deref(),
            Some("a+b&c=d/e")
        );
        assert_eq!(ofrep_flag_key("/ofrep/v1/evaluate/flags/"), None);
        assert_eq!(ofrep_flag_key("/ofrep/v1/evaluate/flags/a/b"), None);
    }
}
