//! The HTTP API: one module per resource family, wired here.
//!
//! Every route is added through [`Routes::add`], which also records it, so the
//! OpenAPI document and the tests can check that nothing is left out. Paths
//! are registered in their canonical form (Flagsmith's, mostly with a trailing
//! slash) and in the other form, so both work.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Uri};
use axum::routing::MethodRouter;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::from_text;
use crate::state::AppState;

/// The `PUT` and `PATCH` handlers of a resource, over its
/// `update(state, admin, ids, input, full)`: PUT requires every required field
/// (`full`), PATCH changes what it is given.
macro_rules! put_and_patch {
    ($put:ident, $patch:ident, $update:ident, $ids:ty, $input:ty) => {
        async fn $put(
            State(state): State<AppState>,
            admin: Admin,
            Ids(ids): Ids<$ids>,
            Body(input): Body<$input>,
        ) -> ApiResult<Json<Value>> {
            $update(state, admin, ids, input, true).await
        }

        async fn $patch(
            State(state): State<AppState>,
            admin: Admin,
            Ids(ids): Ids<$ids>,
            Body(input): Body<$input>,
        ) -> ApiResult<Json<Value>> {
            $update(state, admin, ids, input, false).await
        }
    };
}

pub mod admin_keys;
pub mod analytics;
pub mod edge;
pub mod environments;
pub mod feature_segments;
pub mod feature_states;
pub mod features;
pub mod health;
pub mod identities;
pub mod mv_options;
pub mod openapi;
pub mod organisations;
pub mod projects;
pub mod proxy;
pub mod proxy_keys;
pub mod sdk;
pub mod sdk_analytics;
pub mod segments;
pub mod server_keys;

/// A route as the router has it: method and path template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The canonical path, `{param}` style.
    pub path: &'static str,
}

/// A router that remembers its routes.
pub struct Routes {
    router: Router<AppState>,
    list: Vec<Route>,
}

impl Routes {
    fn new() -> Routes {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Adds `handler` for `methods` at `path` (and its other slash form).
    pub fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<AppState>,
    ) -> Routes {
        for method in methods {
            self.list.push(Route { method, path });
        }
        let other = match path.strip_suffix('/') {
            Some(trimmed) => trimmed.to_string(),
            None => format!("{path}/"),
        };
        self.router = self
            .router
            .route(path, handler.clone())
            .route(&other, handler);
        self
    }
}

fn all_routes() -> Routes {
    let routes = Routes::new();
    let routes = health::routes(routes);
    let routes = openapi::routes(routes);
    let routes = sdk::routes(routes);
    let routes = sdk_analytics::routes(routes);
    let routes = edge::routes(routes);
    let routes = analytics::routes(routes);
    let routes = proxy::routes(routes);
    let routes = organisations::routes(routes);
    let routes = admin_keys::routes(routes);
    let routes = proxy_keys::routes(routes);
    let routes = projects::routes(routes);
    let routes = environments::routes(routes);
    let routes = server_keys::routes(routes);
    let routes = features::routes(routes);
    let routes = mv_options::routes(routes);
    let routes = segments::routes(routes);
    let routes = feature_segments::routes(routes);
    let routes = feature_states::routes(routes);
    identities::routes(routes)
}

/// Every route, sorted.
pub fn route_list() -> Vec<Route> {
    let mut list = all_routes().list;
    list.sort();
    list
}

/// The application.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    all_routes()
        .router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// `?page=&page_size=` (DRF's page-number pagination).
#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    page: Option<i64>,
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    page_size: Option<i64>,
}

/// Largest page.
pub const PAGE_SIZE_MAX: i64 = 1000;
/// Page size when none is asked for.
pub const PAGE_SIZE_DEFAULT: i64 = 100;

/// A validated page request.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    /// 1-based page number.
    pub number: i64,
    /// Rows per page.
    pub size: i64,
}

impl PageQuery {
    /// The page, or 404 "Invalid page." as DRF answers.
    pub fn page(&self) -> ApiResult<Page> {
        let number = self.page.unwrap_or(1);
        if number < 1 {
            return Err(ApiError::InvalidPage);
        }
        let size = self
            .page_size
            .unwrap_or(PAGE_SIZE_DEFAULT)
            .clamp(1, PAGE_SIZE_MAX);
        Ok(Page { number, size })
    }
}

impl Page {
    /// SQL LIMIT.
    pub fn limit(&self) -> i64 {
        self.size
    }

    /// SQL OFFSET.
    pub fn offset(&self) -> i64 {
        (self.number - 1).saturating_mul(self.size)
    }
}

/// The paginated body: `{"count", "next", "previous", "results"}`.
pub fn paginated(
    uri: &Uri,
    headers: &HeaderMap,
    page: Page,
    count: i64,
    results: Vec<Value>,
) -> ApiResult<axum::Json<Value>> {
    if page.number > 1 && page.offset() >= count {
        return Err(ApiError::InvalidPage);
    }
    let link = |number: i64| -> Value {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let mut query: Vec<String> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .map(str::to_string)
            .collect();
        query.push(format!("page={number}"));
        Value::String(format!("http://{host}{}?{}", uri.path(), query.join("&")))
    };
    let next = if page.offset() + page.size < count {
        link(page.number + 1)
    } else {
        Value::Null
    };
    let previous = if page.number > 1 {
        link(page.number - 1)
    } else {
        Value::Null
    };
    Ok(axum::Json(json!({
        "count": count,
        "next": next,
        "previous": previous,
        "results": results,
    })))
}

/// A timestamp as the API writes it (ISO 8601, UTC, microseconds).
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// An optional timestamp.
pub fn iso_opt(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::String(iso(at)))
}

/// Parses an ISO 8601 / RFC 3339 date-time field.
pub fn parse_time(field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::field(
                field,
                "Datetime has wrong format. Use ISO 8601 (e.g. 2025-01-01T00:00:00Z).",
            )
        })
}

/// The organisation of a project the admin may see, or 404.
pub async fn project_organisation(db: &PgPool, admin: &Admin, project: i64) -> ApiResult<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT organisation_id FROM projects WHERE id = $1")
        .bind(project)
        .fetch_optional(db)
        .await?;
    let (organisation,) = row.ok_or(ApiError::NotFound)?;
    admin.check(organisation)?;
    Ok(organisation)
}

/// An environment the admin may see, found by its client key.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct EnvironmentRef {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its project's organisation.
    pub organisation_id: i64,
    /// Its client key.
    pub api_key: String,
}

/// Finds an environment by client key, or 404.
pub async fn environment_ref(
    db: &PgPool,
    admin: &Admin,
    api_key: &str,
) -> ApiResult<EnvironmentRef> {
    let row: Option<EnvironmentRef> = sqlx::query_as(
        "SELECT e.id, e.project_id, p.organisation_id, e.api_key FROM environments e \
         JOIN projects p ON p.id = e.project_id WHERE e.api_key = $1",
    )
    .bind(api_key)
    .fetch_optional(db)
    .await?;
    let environment = row.ok_or(ApiError::NotFound)?;
    admin.check(environment.organisation_id)?;
    Ok(environment)
}

/// A JSON value for ids given either as a number or as numeric text.
pub fn id_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
