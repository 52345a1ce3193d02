//! The route table: every route is added through [`Routes::add`], which also
//! records it, so the OpenAPI document and the tests can check that nothing is
//! left out. Paths are registered in their canonical form (Flagsmith's, mostly
//! with a trailing slash) and in the other form, so both work.
//!
//! A leaf below every resource module: they add their routes here, and
//! `api/mod.rs` only wires them together. Declared before them with
//! `#[macro_use]`, so they can use [`resource_routes!`].

/// The `routes` function of a resource module: `list` and `create` (the
/// module's own) at `$collection`; at `$item`, `$read` and `$delete` (the
/// module's own, or by default [`super::item`]'s shared ones for `$ty`) and
/// [`super::update`]'s `PUT` and `PATCH` of `$ty`; described from the
/// resource's types (see [`super::doc::Resource`]). A macro because the
/// handlers are the calling module's own functions.
macro_rules! resource_routes {
    ($collection:literal, $item:literal, $docs:expr, $ty:ty) => {
        resource_routes!(pub(super) fn routes, $collection, $item, $docs, $ty);
    };
    ($collection:literal, $item:literal, $docs:expr, $ty:ty, $read:expr, $delete:expr) => {
        resource_routes!(pub(super) fn routes, $collection, $item, $docs, $ty, $read, $delete);
    };
    ($vis:vis fn $name:ident, $collection:literal, $item:literal, $docs:expr, $ty:ty) => {
        resource_routes!(
            $vis fn $name,
            $collection,
            $item,
            $docs,
            $ty,
            super::item::read::<$ty>,
            super::item::delete::<$ty>
        );
    };
    ($vis:vis fn $name:ident, $collection:literal, $item:literal, $docs:expr, $ty:ty, $read:expr, $delete:expr) => {
        $vis fn $name(routes: Routes) -> Routes {
            let docs = $docs;
            routes
                .collection::<$ty, _, _>($collection, &docs)
                .post($collection, docs.create(), create)
                .get($item, docs.read(), $read)
                .put_and_patch::<$ty, _, _, _>($item, &docs)
                .delete($item, docs.delete(), $delete)
        }
    };
}

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};

use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::doc::{Doc, Resource};
use super::list::{Listed, list};
use super::update::{Update, write};
use crate::state::AppState;

/// A route as the router has it: method and path template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, …
    pub method: &'static str,
    /// The canonical path, `{param}` style.
    pub path: &'static str,
}

/// A router that remembers its routes and what the document says of each.
pub struct Routes {
    router: Router<AppState>,
    list: Vec<(Route, Doc)>,
}

macro_rules! method {
    ($name:ident, $method:literal, $filter:ident) => {
        #[doc = concat!("Adds `", $method, " path` (and its other slash form), described by `doc`.")]
        pub fn $name<H, T>(self, path: &'static str, doc: Doc, handler: H) -> Routes
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add(path, $method, doc, on(MethodFilter::$filter, handler))
        }
    };
}

impl Routes {
    /// No routes yet.
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    method!(get, "GET", GET);
    method!(post, "POST", POST);
    method!(put, "PUT", PUT);
    method!(patch, "PATCH", PATCH);
    method!(delete, "DELETE", DELETE);

    /// Adds `GET path`: the page of `T`s [`list`] answers, its query
    /// parameters documented from the filter it reads.
    pub fn collection<T, I, C>(self, path: &'static str, docs: &Resource<T::Answer, I, C>) -> Routes
    where
        T: Listed,
        T::Answer: ToSchema,
        I: ToSchema,
        C: ToSchema,
    {
        self.get(path, docs.list::<T::Filter>(), list::<T>)
    }

    /// Adds `PUT` (the whole item) and `PATCH` (the fields given) of `path`:
    /// both [`write`] an item `T`, as `docs` describes it.
    pub fn put_and_patch<T, I, O, C>(self, path: &'static str, docs: &Resource<O, I, C>) -> Routes
    where
        T: Update<I, O>,
        I: DeserializeOwned + Send + ToSchema + 'static,
        O: Serialize + ToSchema + Send + 'static,
        C: ToSchema,
    {
        self.put(path, docs.replace(), write::<T, I, O, true>)
            .patch(path, docs.update(), write::<T, I, O, false>)
    }

    fn add(
        mut self,
        path: &'static str,
        method: &'static str,
        doc: Doc,
        handler: MethodRouter<AppState>,
    ) -> Routes {
        self.list.push((Route { method, path }, doc));
        let other = match path.strip_suffix('/') {
            Some(trimmed) => trimmed.to_string(),
            None => format!("{path}/"),
        };
        // Router::route merges the methods of a path it already has.
        self.router = self
            .router
            .route(path, handler.clone())
            .route(&other, handler);
        self
    }

    /// The routes added so far, in the order they were added, with their docs.
    pub fn list(&self) -> &[(Route, Doc)] {
        &self.list
    }

    /// The router and the route list.
    pub fn into_parts(self) -> (Router<AppState>, Vec<(Route, Doc)>) {
        (self.router, self.list)
    }
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}
