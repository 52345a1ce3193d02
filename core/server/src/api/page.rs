//! DRF's page-number pagination: `?page=&page_size=` in, `{"count", "next",
//! "previous", "results"}` out, and a page past the end is 404 "Invalid page.".

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, from_text};

/// `?page=&page_size=` (DRF's page-number pagination).
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    page: Option<i64>,
    /// Rows per page (default 100, at most 1000).
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

/// One page of a list, in DRF's shape.
#[derive(Serialize, Debug)]
pub struct Paged<T> {
    /// Rows in the whole list.
    pub count: i64,
    /// The next page's URL.
    pub next: Option<String>,
    /// The previous page's URL.
    pub previous: Option<String>,
    /// This page's rows.
    pub results: Vec<T>,
}

/// The paginated body: `{"count", "next", "previous", "results"}`.
pub fn paginated<T>(
    uri: &Uri,
    headers: &HeaderMap,
    page: Page,
    count: i64,
    results: Vec<T>,
) -> ApiResult<axum::Json<Paged<T>>> {
    if page.number > 1 && page.offset() >= count {
        return Err(ApiError::InvalidPage);
    }
    let link = |number: i64| -> Option<String> {
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
        Some(format!("http://{host}{}?{}", uri.path(), query.join("&")))
    };
    let next = if page.offset() + page.size < count {
        link(page.number + 1)
    } else {
        None
    };
    let previous = if page.number > 1 {
        link(page.number - 1)
    } else {
        None
    };
    Ok(axum::Json(Paged {
        count,
        next,
        previous,
        results,
    }))
}

/// What a list handler needs for its page: `?page=&page_size=`, and the
/// request's URI and `Host` that the `next`/`previous` links are built from.
/// Only the query can be rejected (400), exactly as `Query<PageQuery>` is.
pub struct PageRequest {
    query: PageQuery,
    uri: Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for PageRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<PageQuery>::from_request_parts(parts, state).await?;
        Ok(PageRequest {
            query,
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl PageRequest {
    /// The page asked for (see [`PageQuery::page`]).
    pub fn page(&self) -> ApiResult<Page> {
        self.query.page()
    }

    /// The paginated body (see [`paginated`]).
    pub fn respond<T>(
        &self,
        page: Page,
        count: i64,
        results: Vec<T>,
    ) -> ApiResult<axum::Json<Paged<T>>> {
        paginated(&self.uri, &self.headers, page, count, results)
    }
}
