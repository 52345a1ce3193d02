//! # flagedge-core
//!
//! The source of truth: PostgreSQL holds organisations, projects,
//! environments and their keys, features, segments and overrides; an admin
//! REST API shaped like Flagsmith's edits them; every edit that changes what an
//! environment serves bumps that environment's revision and NOTIFYs; documents
//! are built from the database in Flagsmith's format and served to SDKs, edges
//! and flagedge-sync, which follows the change feed.
//!
//! Where to look:
//! - [`db`] — connecting, migrations, and the revision rule every write follows;
//! - [`document`] — environment documents from the database ([`rules`]: a
//!   segment's rule tree as stored);
//! - [`changes`] — LISTEN/NOTIFY into a wake-up signal for long-polls;
//! - [`counts`] — adding counts to the analytics tables (the bucket rule);
//! - [`api`] — the routes, one module per resource family;
//! - [`console`] — the web pages, which call the API in process;
//! - [`auth`], [`keys`] — admin keys, the sync token, key generation;
//! - [`error`], [`extract`], [`validate`] — how bad input is answered;
//! - [`config`], [`server`] — the binary's settings, serving and shutdown.

pub mod api;
pub mod auth;
pub mod changes;
pub mod config;
pub mod console;
pub mod counts;
pub mod db;
pub mod document;
pub mod error;
pub mod extract;
pub mod keys;
pub mod rules;
pub mod server;
pub mod state;
pub mod validate;
