//! The `PUT` and `PATCH` handlers of a resource, generated over its
//! `update(state, admin, ids, input, full)`: PUT requires every required field
//! (`full`), PATCH changes what it is given. Either way `update` reads the
//! current row inside its write transaction (`SELECT … FOR UPDATE`, see
//! [`Lock`](super::lookup::Lock)), so two partial updates never lose each
//! other's fields.
//!
//! Declared first in `api/mod.rs` (`#[macro_use]`), so every resource module
//! can use the macro; its expansion names the extractors the module imports.

macro_rules! put_and_patch {
    ($put:ident, $patch:ident, $update:ident, $ids:ty, $input:ty, $output:ty) => {
        async fn $put(
            State(state): State<AppState>,
            admin: Admin,
            Ids(ids): Ids<$ids>,
            Body(input): Body<$input>,
        ) -> ApiResult<Json<$output>> {
            $update(state, admin, ids, input, true).await
        }

        async fn $patch(
            State(state): State<AppState>,
            admin: Admin,
            Ids(ids): Ids<$ids>,
            Body(input): Body<$input>,
        ) -> ApiResult<Json<$output>> {
            $update(state, admin, ids, input, false).await
        }
    };
}
