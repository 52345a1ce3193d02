//! The route table: every route is added through [`Routes::add`], which also
//! records it, so the OpenAPI document and the tests can check that nothing is
//! left out. Paths are registered in their canonical form (Flagsmith's, mostly
//! with a trailing slash) and in the other form, so both work.
//!
//! A leaf below every resource module: they add their routes here, and
//! `api/mod.rs` only wires them together. Declared before them with
//! `#[macro_use]`, so they can use [`resource_routes!`].

/// The `routes` function of a resource module whose handlers have the usual
/// names: `list` and `create` at `$collection`, `read`, `put`, `patch` and
/// `delete` at `$item` (see [`Routes::resource`]). A macro because the
/// handlers are the calling module's own functions.
macro_rules! resource_routes {
    ($collection:literal, $item:literal) => {
        pub(super) fn routes(routes: Routes) -> Routes {
            routes.resource(
                $collection,
                get(list).post(create),
                $item,
                get(read).put(put).patch(patch).delete(delete),
            )
        }
    };
}

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

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
    /// No routes yet.
    pub fn new() -> Routes {
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

    /// The usual pair of a resource: `collection` answers GET (list) and POST
    /// (create), `item` answers GET, PUT, PATCH and DELETE.
    pub fn resource(
        self,
        collection: &'static str,
        list_and_create: MethodRouter<AppState>,
        item: &'static str,
        read_update_delete: MethodRouter<AppState>,
    ) -> Routes {
        self.add(collection, &["GET", "POST"], list_and_create).add(
            item,
            &["GET", "PUT", "PATCH", "DELETE"],
            read_update_delete,
        )
    }

    /// The routes added so far, in the order they were added.
    pub fn list(&self) -> &[Route] {
        &self.list
    }

    /// The router and the route list.
    pub fn into_parts(self) -> (Router<AppState>, Vec<Route>) {
        (self.router, self.list)
    }
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}
