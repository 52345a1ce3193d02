//! The console's route table: every page is added through [`Pages`], which
//! records it, so tests can visit every route (without a session, without a
//! CSRF token) and cannot miss one. Public routes (sign-in, assets) are
//! recorded apart.

use axum::Router;
use axum::routing::MethodRouter;

use super::state::ConsoleState;

/// A route as recorded: method, path template, and whether it needs a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRoute {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, `{param}` style.
    pub path: &'static str,
    /// Whether a signed-in session is required.
    pub signed_in: bool,
}

/// A router that remembers its routes.
pub struct Pages {
    router: Router<ConsoleState>,
    list: Vec<PageRoute>,
}

impl Pages {
    /// No routes yet.
    pub fn new() -> Pages {
        Pages {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<ConsoleState>,
        signed_in: bool,
    ) -> Pages {
        for method in methods {
            self.list.push(PageRoute {
                method,
                path,
                signed_in,
            });
        }
        self.router = self.router.route(path, handler);
        self
    }

    /// A page that needs a session (its handler takes `Session` or `Posted`).
    pub fn route(
        self,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<ConsoleState>,
    ) -> Pages {
        self.add(path, methods, handler, true)
    }

    /// A route anyone may call (signing in, stylesheets).
    pub fn public(
        self,
        path: &'static str,
        methods: &[&'static str],
        handler: MethodRouter<ConsoleState>,
    ) -> Pages {
        self.add(path, methods, handler, false)
    }

    /// The router and the route list.
    pub fn into_parts(self) -> (Router<ConsoleState>, Vec<PageRoute>) {
        (self.router, self.list)
    }
}

impl Default for Pages {
    fn default() -> Pages {
        Pages::new()
    }
}
