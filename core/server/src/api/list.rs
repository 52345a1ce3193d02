//! The one query shape behind every list endpoint: count the rows a filter
//! selects, then read one page of them in a stable order, and answer with
//! DRF's page body ([`PageRequest::respond`]). A resource says which rows an
//! admin may see ([`Listed`]); the one `GET` handler ([`list`]) does the rest.
//!
//! The count and the page are built from the same `FROM … WHERE …` text and
//! the same bound filter values, so they cannot disagree on what is listed.
//! Filter values are bound `$1, $2, …` in the order [`Listing::bind`] is
//! called; `LIMIT`/`OFFSET` take the next two placeholders.

use std::future::Future;

use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, Encode, FromRow, PgPool, Postgres, Type};
use utoipa::IntoParams;

use super::lookup::{environment_ref, project_organisation};
use super::page::{Page, PageRequest, Paged};
use crate::auth::{Admin, Caller};
use crate::error::ApiResult;
use crate::extract::{Ids, Query, from_text};

/// Rows of a resource's table, listed at its collection path.
pub trait Listed: Into<Self::Answer> + Send + Unpin + for<'r> FromRow<'r, PgRow> + 'static {
    /// The ids of the collection path: `()`, `i64`, `String`, …
    type Parent: DeserializeOwned + Send + 'static;
    /// The query parameters that narrow the list.
    type Filter: DeserializeOwned + IntoParams + Send + 'static;
    /// What the list answers for each row.
    type Answer: Serialize + Send;

    /// The rows `admin` may see under `parent`, narrowed by `filter` (404
    /// when the parent is not theirs).
    fn listing(
        db: &PgPool,
        admin: &Admin,
        parent: Self::Parent,
        filter: Self::Filter,
    ) -> impl Future<Output = ApiResult<Listing>> + Send;

    /// The answers for one page of rows (by default each row made into its answer).
    fn answers(
        _db: &PgPool,
        rows: Vec<Self>,
    ) -> impl Future<Output = ApiResult<Vec<Self::Answer>>> + Send {
        async move { Ok(rows.into_iter().map(Into::into).collect()) }
    }
}

/// `GET` a collection: one page of the rows the caller may see.
pub async fn list<T: Listed>(
    Caller { state, admin }: Caller,
    Ids(parent): Ids<T::Parent>,
    request: PageRequest,
    Query(filter): Query<T::Filter>,
) -> ApiResult<Json<Paged<T::Answer>>> {
    let listing = T::listing(&state.db, &admin, parent, filter).await?;
    let page = request.page()?;
    let (count, rows) = listing.rows::<T>(&state.db, page).await?;
    request.respond(page, count, T::answers(&state.db, rows).await?)
}

/// The filter of lists that take none (unknown parameters are ignored, as DRF does).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Unfiltered {}

/// The filter of lists whose rows belong to an organisation.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganisationFilter {
    /// Only this organisation's.
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    pub organisation: Option<i64>,
}

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

    /// The rows of `table` (which has an `organisation_id`) in the
    /// organisations `admin` may see, and in `filter`'s when it names one.
    pub fn of_organisations(
        columns: &str,
        table: &str,
        admin: &Admin,
        filter: OrganisationFilter,
    ) -> Listing {
        let from = format!(
            "{table} WHERE ($1::bigint IS NULL OR organisation_id = $1) \
             AND ($2::bigint IS NULL OR organisation_id = $2)"
        );
        Listing::new(columns, &from)
            .bind(admin.organisation)
            .bind(filter.organisation)
    }

    /// The rows of `table` in the environment client key `key` names (404 when
    /// the admin may not see it): `$1` is the environment's id, so `condition`
    /// (`AND …`, or empty) binds from `$2`.
    pub async fn in_environment(
        db: &PgPool,
        admin: &Admin,
        key: &str,
        (columns, table): (&str, &str),
        condition: &str,
    ) -> ApiResult<Listing> {
        let environment = environment_ref(db, admin, key).await?;
        let from = format!("{table} WHERE environment_id = $1 {condition}");
        Ok(Listing::new(columns, &from).bind(environment.id))
    }

    /// The rows of `table` in project `project` (404 when the admin may not see
    /// it): `$1` is the project's id, so `condition` (`AND …`, or empty) binds from `$2`.
    pub async fn in_project(
        db: &PgPool,
        admin: &Admin,
        project: i64,
        (columns, table): (&str, &str),
        condition: &str,
    ) -> ApiResult<Listing> {
        project_organisation(db, admin, project).await?;
        let from = format!("{table} WHERE project_id = $1 {condition}");
        Ok(Listing::new(columns, &from).bind(project))
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

    /// The page `request` asks for, of the rows as they are answered.
    pub async fn respond<R>(self, db: &PgPool, request: &PageRequest) -> ApiResult<Json<Paged<R>>>
    where
        R: Send + Unpin + for<'r> FromRow<'r, PgRow>,
    {
        let page = request.page()?;
        let (count, rows) = self.rows::<R>(db, page).await?;
        request.respond(page, count, rows)
    }
}
