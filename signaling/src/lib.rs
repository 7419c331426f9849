//! Cerca's server: identity, scheduling, consult notes, consent and the audit
//! log, behind a JSON API, plus the WebSocket signaling that drives the media
//! relay and the embedded web client.
//!
//! The shape, top to bottom:
//!
//! * [`server::run`] takes a bound listener, an [`AppState`] and a shutdown
//!   future; `main.rs` only parses the command line. Tests call the same `run`
//!   on `127.0.0.1:0`.
//! * [`api`] holds one module per resource. Every handler validates its input
//!   at the boundary through the extractors in [`extract`], and every failure
//!   is an [`error::ApiError`] that renders as `{ "error": { "code", "message" } }`.
//! * [`db`] is one handle over Postgres or SQLite. Queries are written once in
//!   the dialect both share (`$1` placeholders, `RETURNING`), and the
//!   [`on_db!`] macro type-checks each against both drivers.
//! * Clinical rules the law cares about (signed notes are immutable, the audit
//!   log is append-only) are enforced by database triggers, not only here.
//! * [`audit`] appends a hash-chained row for every read and write of patient
//!   data; `cerca audit verify` walks the chain.

pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clinical;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod quality;
pub mod server;
pub mod state;
pub mod web;
pub mod ws;

pub use config::Config;
pub use state::AppState;
