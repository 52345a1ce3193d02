//! The console's only way to the data: the admin API's own router, called in
//! process with the signed-in admin attached (see `auth::Admin`). Every read
//! and write a page makes goes through the same handler, validation,
//! authorization, revision bump and audit record as a JSON call would, so the
//! console cannot drift from the API.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value};
use tower::ServiceExt;

use crate::auth::Admin;

/// Largest API answer a page reads (a page of 1,000 rows fits many times over).
const ANSWER_LIMIT: usize = 64 << 20;

/// Why the API refused.
#[derive(Debug, Clone)]
pub enum Refused {
    /// 400 with errors per field (`{"name": ["…"]}`), shown beside the fields.
    Fields(Map<String, Value>),
    /// Anything else: the status and the API's `detail`.
    Status(StatusCode, String),
}

impl Refused {
    /// A refusal of one field, as the API words them (for checks made before calling it).
    pub fn for_field(field: &str, message: String) -> Refused {
        let mut fields = Map::new();
        fields.insert(
            field.to_string(),
            Value::Array(vec![Value::String(message)]),
        );
        Refused::Fields(fields)
    }

    /// The message for `field`, if the API named it.
    pub fn field(&self, field: &str) -> Option<String> {
        match self {
            Refused::Fields(fields) => fields.get(field).map(message),
            Refused::Status(..) => None,
        }
    }

    /// Everything the API said, one line per field.
    pub fn summary(&self) -> String {
        match self {
            Refused::Fields(fields) => fields
                .iter()
                .map(|(field, text)| format!("{field}: {}", message(text)))
                .collect::<Vec<_>>()
                .join("; "),
            Refused::Status(_, detail) => detail.clone(),
        }
    }

    /// The HTTP status to answer a page with.
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Fields(_) => StatusCode::BAD_REQUEST,
            Refused::Status(status, _) => *status,
        }
    }
}

/// A DRF error value as one line: messages joined, nested objects flattened.
fn message(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(message).collect::<Vec<_>>().join(" "),
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k}: {}", message(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The admin API as one signed-in admin.
#[derive(Clone)]
pub struct Api {
    router: Router,
    admin: Admin,
}

impl Api {
    /// Calls `router` as `admin`.
    pub fn new(router: Router, admin: Admin) -> Api {
        Api { router, admin }
    }

    /// The admin the calls are made as.
    pub fn admin(&self) -> Admin {
        self.admin
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, Refused> {
        self.call(Method::GET, path, None).await
    }

    /// Every row of a list endpoint (`path` may carry a query): pages of 1,000, followed.
    pub async fn all(&self, path: &str) -> Result<Vec<Value>, Refused> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut rows = Vec::new();
        for page in 1.. {
            let answer = self
                .get(&format!("{path}{separator}page_size=1000&page={page}"))
                .await?;
            if let Some(Value::Array(results)) = answer.get("results") {
                rows.extend(results.iter().cloned());
            }
            if answer.get("next").is_none_or(Value::is_null) {
                break;
            }
        }
        Ok(rows)
    }

    /// `POST path` with a JSON body; the answer's JSON.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, Refused> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body; the answer's JSON.
    pub async fn put(&self, path: &str, body: Value) -> Result<Value, Refused> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body; the answer's JSON.
    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, Refused> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, Refused> {
        self.call(Method::DELETE, path, None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Refused> {
        let mut builder = Request::builder().method(method).uri(path);
        let body = match body {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let mut request = builder
            .body(body)
            .map_err(|e| Refused::Status(StatusCode::BAD_REQUEST, e.to_string()))?;
        request.extensions_mut().insert(self.admin);
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = to_bytes(response.into_body(), ANSWER_LIMIT)
            .await
            .map_err(|e| Refused::Status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(json);
        }
        match json {
            Value::Object(fields)
                if status == StatusCode::BAD_REQUEST && !fields.contains_key("detail") =>
            {
                Err(Refused::Fields(fields))
            }
            other => Err(Refused::Status(
                status,
                other
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("The request failed.")
                    .to_string(),
            )),
        }
    }
}
