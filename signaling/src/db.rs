//! One storage handle over Postgres (production) or SQLite (the zero-set-up
//! default). Queries are written once, in the SQL both dialects share, and the
//! [`on_db!`](crate::on_db) macro compiles each query body against both
//! drivers, so a query that only one backend understands fails a test on the
//! other rather than hiding behind an abstraction.

use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The storage handle. Cloning is cheap (pools are reference counted).
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same body against whichever pool `db` holds, binding the pool to
/// `$pool`. The body is type-checked once per backend.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}

impl Db {
    /// Connects to `url` (`postgres://` or `sqlite://`), or to
    /// `<data_dir>/cerca.sqlite` when `url` is `None`, and applies migrations.
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> anyhow::Result<Db> {
        let db = match url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new().max_connections(16).connect_with(options).await?;
                Db::Postgres(pool)
            }
            Some(url) if url.starts_with("sqlite:") => {
                Db::Sqlite(Self::sqlite_pool(SqliteConnectOptions::from_str(url)?).await?)
            }
            Some(other) => anyhow::bail!(
                "DATABASE_URL must start with postgres:// or sqlite: (got {:?})",
                other.split(':').next().unwrap_or("")
            ),
            None => {
                std::fs::create_dir_all(data_dir)?;
                let path = data_dir.join("cerca.sqlite");
                Db::Sqlite(Self::sqlite_pool(SqliteConnectOptions::new().filename(path)).await?)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn sqlite_pool(options: SqliteConnectOptions) -> anyhow::Result<SqlitePool> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            // Writers queue instead of failing at once: SQLite allows one writer.
            .busy_timeout(std::time::Duration::from_secs(10));
        Ok(SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Postgres(pool) => PG_MIGRATIONS.run(pool).await?,
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// What a database error means to a caller that may have caused it.
#[derive(Debug, PartialEq, Eq)]
pub enum DbFailure<'a> {
    /// A unique or check constraint rejected the row; holds the constraint
    /// name where the backend reports it (Postgres) or the message (SQLite).
    Constraint(&'a str),
    /// A trigger refused a change to an immutable clinical record.
    Immutable,
    Other,
}

/// Classifies a database error so handlers can answer 4xx for what the
/// caller did and keep 5xx for what the server did.
pub fn classify(err: &sqlx::Error) -> DbFailure<'_> {
    let sqlx::Error::Database(db_err) = err else {
        return DbFailure::Other;
    };
    let message = db_err.message();
    if message.contains("immutable") || message.contains("append-only") {
        return DbFailure::Immutable;
    }
    if db_err.is_unique_violation() || db_err.is_check_violation() || db_err.is_foreign_key_violation() {
        return DbFailure::Constraint(db_err.constraint().unwrap_or(message));
    }
    DbFailure::Other
}
