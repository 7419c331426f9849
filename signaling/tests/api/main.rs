//! Behaviour tests of the HTTP API against a real server and real databases.
//! Every case runs twice: on SQLite and on Postgres.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod audit;
mod consults;
mod hostile;
mod join;
mod notes;
mod patients;
mod rooms;
mod ws;
