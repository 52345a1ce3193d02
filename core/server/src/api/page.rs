//! DRF's page-number pagination: `?page=&page_size=` in, `{"count", "next",
//! "previous", "results"}` out, and a page past the end is 404 "Invalid page.".

use axum::http::{HeaderMap, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::from_text;

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
