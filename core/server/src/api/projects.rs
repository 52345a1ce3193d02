//! `/api/v1/projects/`: projects hold features and segments; their settings
//! (`hide_disabled_flags`, `enable_realtime_updates`, the name) are in every
//! environment document of the project, so changing one bumps them all.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::format::iso;
use super::lookup::{Lock, project_organisation};
use super::page::{PageQuery, paginated};
use super::routes::Routes;
use crate::auth::Admin;
use crate::db::{self, Scope};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::extract::{Body, Ids, Query, from_text};
use crate::state::AppState;
use crate::validate;
use sqlx::PgConnection;

pub(super) fn routes(routes: Routes) -> Routes {
    routes
        .add(
            "/api/v1/projects/",
            &["GET", "POST"],
            get(list).post(create),
        )
        .add(
            "/api/v1/projects/{id}/",
            &["GET", "PUT", "PATCH", "DELETE"],
            get(read).put(put).patch(patch).delete(delete),
        )
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    organisation_id: i64,
    hide_disabled_flags: bool,
    enable_realtime_updates: bool,
    created_date: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, name, organisation_id, hide_disabled_flags, enable_realtime_updates, created_date";

fn to_json(row: &Row) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "organisation": row.organisation_id,
        "hide_disabled_flags": row.hide_disabled_flags,
        "enable_realtime_updates": row.enable_realtime_updates,
        "created_date": iso(row.created_date),
    })
}

#[derive(Deserialize, Default)]
struct Input {
    name: Option<String>,
    organisation: Option<i64>,
    hide_disabled_flags: Option<bool>,
    enable_realtime_updates: Option<bool>,
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default, deserialize_with = "from_text::opt_i64")]
    organisation: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<PageQuery>,
    Query(filter): Query<Filter>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let page = q.page()?;
    const WHERE: &str = "WHERE ($1::bigint IS NULL OR organisation_id = $1) \
                         AND ($2::bigint IS NULL OR organisation_id = $2)";
    let (count,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM projects {WHERE}"))
        .bind(admin.organisation)
        .bind(filter.organisation)
        .fetch_one(&state.db)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projects {WHERE} ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(admin.organisation)
    .bind(filter.organisation)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&state.db)
    .await?;
    paginated(
        &uri,
        &headers,
        page,
        count,
        rows.iter().map(to_json).collect(),
    )
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(input): Body<Input>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut errors = FieldErrors::new();
    validate::name(
        &mut errors,
        "name",
        input.name.as_deref(),
        validate::NAME_MAX,
    );
    let organisation = match input.organisation.or(admin.organisation) {
        None => {
            errors.add("organisation", "This field is required.");
            0
        }
        Some(o) => o,
    };
    errors.check()?;
    if !admin.may_see(organisation) {
        return Err(ApiError::field(
            "organisation",
            "Invalid pk - object does not exist.",
        ));
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "INSERT INTO projects (name, organisation_id, hide_disabled_flags, enable_realtime_updates) \
         SELECT $1, id, $3, $4 FROM organisations WHERE id = $2 RETURNING {COLUMNS}"
    ))
    .bind(input.name)
    .bind(organisation)
    .bind(input.hide_disabled_flags.unwrap_or(false))
    .bind(input.enable_realtime_updates.unwrap_or(false))
    .fetch_optional(&state.db)
    .await?;
    let row =
        row.ok_or_else(|| ApiError::field("organisation", "Invalid pk - object does not exist."))?;
    Ok((StatusCode::CREATED, Json(to_json(&row))))
}

async fn fetch(db: &mut PgConnection, admin: &Admin, id: i64, lock: Lock) -> ApiResult<Row> {
    project_organisation(&mut *db, admin, id).await?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM projects WHERE id = $1{}",
        lock.clause()
    ))
    .bind(id)
    .fetch_optional(&mut *db)
    .await?;
    row.ok_or(ApiError::NotFound)
}

async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(
        &fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?,
    )))
}

async fn update(
    state: AppState,
    admin: Admin,
    id: i64,
    input: Input,
    full: bool,
) -> ApiResult<Json<Value>> {
    let mut tx = db::begin_write(&state.db).await?;
    let current = fetch(&mut tx, &admin, id, Lock::ForUpdate).await?;
    let mut errors = FieldErrors::new();
    if full || input.name.is_some() {
        validate::name(
            &mut errors,
            "name",
            input.name.as_deref(),
            validate::NAME_MAX,
        );
    }
    if input
        .organisation
        .is_some_and(|o| o != current.organisation_id)
    {
        errors.add(
            "organisation",
            "A project cannot move to another organisation.",
        );
    }
    errors.check()?;

    let row: Row = sqlx::query_as(&format!(
        "UPDATE projects SET name = $2, hide_disabled_flags = $3, enable_realtime_updates = $4 \
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(input.name.unwrap_or(current.name))
    .bind(
        input
            .hide_disabled_flags
            .unwrap_or(current.hide_disabled_flags),
    )
    .bind(
        input
            .enable_realtime_updates
            .unwrap_or(current.enable_realtime_updates),
    )
    .fetch_one(&mut *tx)
    .await?;
    db::bump(&mut tx, Scope::Project(id)).await?;
    tx.commit().await?;
    Ok(Json(to_json(&row)))
}

put_and_patch!(put, patch, update, i64, Input);

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Ids(id): Ids<i64>,
) -> ApiResult<StatusCode> {
    fetch(&mut *state.db.acquire().await?, &admin, id, Lock::Read).await?;
    let mut tx = db::begin_write(&state.db).await?;
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    db::bump(&mut tx, Scope::Deleted).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
