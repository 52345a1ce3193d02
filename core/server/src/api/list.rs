//! The one query shape behind every list endpoint: count the rows a filter
//! selects, then read one page of them in a stable order, and answer with
//! DRF's page body ([`PageRequest::respond`]).
//!
//! The count and the page are built from the same `FROM … WHERE …` text and
//! the same bound filter values, so they cannot disagree on what is listed.
//! Filter values are bound `$1, $2, …` in the order [`Listing::bind`] is
//! called; `LIMIT`/`OFFSET` take the next two placeholders.

use axum::Json;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Encode, FromRow, PgPool, Postgres, Type};

use super::page::{Page, PageRequest, Paged};
use crate::error::ApiResult;

/// What a list endpoint reads: its select list, its `FROM … WHERE …` and the
/// values of the filter's placeholders.
pub struct Listing {
    columns: String,
    from: String,
    order: &'static str,
    params: PgArguments,
    count: usize,
    // The first value that failed to encode; reported when the query runs,
    // as `sqlx::query(..).bind(..)` does.
    error: Option<sqlx::error::BoxDynError>,
}

impl Listing {
    /// `SELECT {columns} FROM {from}`, ordered by `id` unless [`Listing::order_by`] says otherwise.
    pub fn new(columns: &str, from: &str) -> Listing {
        Listing {
            columns: columns.to_string(),
            from: from.to_string(),
            order: "id",
            params: PgArguments::default(),
            count: 0,
            error: None,
        }
    }

    /// The `ORDER BY` list (it must end in a unique column, so pages are stable).
    pub fn order_by(mut self, order: &'static str) -> Listing {
        self.order = order;
        self
    }

    /// Binds the next filter placeholder.
    pub fn bind<T>(mut self, value: T) -> Listing
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres>,
    {
        if let Err(error) = self.params.add(value)
            && self.error.is_none()
        {
            self.error = Some(error);
        }
        self.count += 1;
        self
    }

    /// How many rows the filter selects, and the rows of `page`.
    pub async fn rows<R>(self, db: &PgPool, page: Page) -> ApiResult<(i64, Vec<R>)>
    where
        R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        if let Some(error) = self.error {
            return Err(sqlx::Error::Encode(error).into());
        }
        let Listing {
            columns,
            from,
            order,
            params,
            count: n,
            ..
        } = self;
        let (count,): (i64,) =
            sqlx::query_as_with(&format!("SELECT count(*) FROM {from}"), params.clone())
                .fetch_one(db)
                .await?;
        let mut params = params;
        params.add(page.limit()).map_err(sqlx::Error::Encode)?;
        params.add(page.offset()).map_err(sqlx::Error::Encode)?;
        let sql = format!(
            "SELECT {columns} FROM {from} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows: Vec<R> = sqlx::query_as_with(&sql, params).fetch_all(db).await?;
        Ok((count, rows))
    }

    /// One page of the rows, each as `answer` makes it.
    pub async fn respond<R, T>(
        self,
        db: &PgPool,
        request: &PageRequest,
        page: Page,
        answer: impl Fn(R) -> T,
    ) -> ApiResult<Json<Paged<T>>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        let (count, rows) = self.rows::<R>(db, page).await?;
        request.respond(page, count, rows.into_iter().map(answer).collect())
    }
}
