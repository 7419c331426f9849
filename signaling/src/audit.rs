//! The audit log: one append-only, hash-chained row for every read and write
//! of patient data. Each row stores the previous row's hash and its own hash
//! over its fields and that predecessor, so a changed, removed or inserted row
//! breaks the chain at a place [`verify`] can name. Triggers refuse UPDATE and
//! DELETE; a unique constraint on `prev_hash` stops two writers forking it.
//!
//! Appends are serialised in this process by a mutex (so they do not race for
//! the chain head) and retried on a `prev_hash` conflict (so several server
//! processes on one Postgres stay correct too).

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::db::{classify, Db, DbFailure};
use crate::extract::ClientInfo;
use crate::on_db;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who did something.
#[derive(Debug, Clone)]
pub enum Actor {
    User {
        id: i64,
        role: &'static str,
    },
    /// A patient acting through their join link.
    Patient {
        id: i64,
    },
    /// The server itself or an operator at the command line.
    System,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<i64>, &'static str) {
        match self {
            Actor::User { id, role } => ("user", Some(*id), role),
            Actor::Patient { id } => ("patient", Some(*id), "patient"),
            Actor::System => ("system", None, "system"),
        }
    }
}

/// One thing that happened to patient data.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub actor: &'a Actor,
    /// Verb in `object.verb` form, e.g. `note.read`, `note.sign`, `patient.search`.
    pub action: &'a str,
    pub patient_id: Option<i64>,
    pub object_type: &'a str,
    pub object_id: Option<String>,
    pub client: Option<&'a ClientInfo>,
}

/// A stored row, as read back for verification.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_role: String,
    pub action: String,
    pub patient_id: Option<i64>,
    pub object_type: String,
    pub object_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The hash this row should carry: SHA-256 over a JSON array of every
    /// field but `id` and `hash`, so no separator inside a field (a user agent
    /// can hold anything) can make two different rows hash alike.
    pub fn expected_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.prev_hash,
            self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.actor_kind,
            self.actor_id,
            self.actor_role,
            self.action,
            self.patient_id,
            self.object_type,
            self.object_id,
            self.ip,
            self.user_agent,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// The audit writer held in the application state.
#[derive(Debug)]
pub struct AuditLog {
    db: Db,
    append_lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(db: Db) -> Self {
        AuditLog {
            db,
            append_lock: Mutex::new(()),
        }
    }

    /// Appends one event and returns its row id.
    pub async fn record(&self, event: Event<'_>) -> Result<i64, sqlx::Error> {
        let ids = self.record_all(std::slice::from_ref(&event)).await?;
        Ok(ids[0])
    }

    /// Appends events in order, in one transaction: a list read of twenty
    /// consults costs one lock, one head read and one commit, not twenty.
    pub async fn record_all(&self, events: &[Event<'_>]) -> Result<Vec<i64>, sqlx::Error> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let _guard = self.append_lock.lock().await;
        // Stored to the microsecond, which both backends keep exactly, so the
        // hash recomputed from the stored row matches.
        let now = Utc::now();
        let occurred_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut prev_hash = self.head().await?;
            let rows: Vec<AuditRow> = events
                .iter()
                .map(|event| {
                    let (actor_kind, actor_id, actor_role) = event.actor.parts();
                    let mut row = AuditRow {
                        id: 0,
                        occurred_at,
                        actor_kind: actor_kind.to_string(),
                        actor_id,
                        actor_role: actor_role.to_string(),
                        action: event.action.to_string(),
                        patient_id: event.patient_id,
                        object_type: event.object_type.to_string(),
                        object_id: event.object_id.clone(),
                        ip: event.client.and_then(|c| c.ip_string()),
                        user_agent: event.client.and_then(|c| c.user_agent.clone()),
                        prev_hash: std::mem::take(&mut prev_hash),
                        hash: String::new(),
                    };
                    row.hash = row.expected_hash();
                    prev_hash = row.hash.clone();
                    row
                })
                .collect();
            match self.insert_all(&rows).await {
                Ok(ids) => return Ok(ids),
                // Another process appended first; re-read the head and retry.
                Err(e) if attempts < 5 && matches!(classify(&e), DbFailure::Constraint(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Records `action` by `actor` on one patient's `object_type` record:
    /// the shape of almost every event the API writes.
    pub async fn on_patient(
        &self,
        actor: &Actor,
        client: &ClientInfo,
        action: &str,
        patient_id: i64,
        object_type: &str,
        object_id: impl ToString,
    ) -> Result<i64, sqlx::Error> {
        self.record(Event {
            actor,
            action,
            patient_id: Some(patient_id),
            object_type,
            object_id: Some(object_id.to_string()),
            client: Some(client),
        })
        .await
    }

    async fn head(&self) -> Result<String, sqlx::Error> {
        let head: Option<String> = on_db!(&self.db, pool => {
            sqlx::query_scalar("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        Ok(head.unwrap_or_else(|| GENESIS.to_string()))
    }

    async fn insert_all(&self, rows: &[AuditRow]) -> Result<Vec<i64>, sqlx::Error> {
        const SQL: &str = "INSERT INTO audit_log (occurred_at, actor_kind, actor_id, actor_role, action, \
             patient_id, object_type, object_id, ip, user_agent, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        on_db!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = sqlx::query_scalar(SQL)
                    .bind(row.occurred_at)
                    .bind(&row.actor_kind)
                    .bind(row.actor_id)
                    .bind(&row.actor_role)
                    .bind(&row.action)
                    .bind(row.patient_id)
                    .bind(&row.object_type)
                    .bind(&row.object_id)
                    .bind(&row.ip)
                    .bind(&row.user_agent)
                    .bind(&row.prev_hash)
                    .bind(&row.hash)
                    .fetch_one(&mut *tx)
                    .await?;
                ids.push(id);
            }
            tx.commit().await?;
            Ok(ids)
        })
    }
}

/// The outcome of walking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every row links to its predecessor and hashes right.
    Intact { rows: u64, head: String },
    /// The first row where the chain breaks, and why.
    Broken { row_id: i64, reason: String },
}

/// Walks the whole chain in id order, in pages, and names the first broken link.
pub async fn verify(db: &Db) -> Result<Verdict, sqlx::Error> {
    const PAGE: i64 = 1000;
    let mut expected_prev = GENESIS.to_string();
    let mut after_id = 0i64;
    let mut rows = 0u64;
    loop {
        let page: Vec<AuditRow> = on_db!(db, pool => {
            sqlx::query_as(
                "SELECT id, occurred_at, actor_kind, actor_id, actor_role, action, patient_id, \
                 object_type, object_id, ip, user_agent, prev_hash, hash \
                 FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(PAGE)
            .fetch_all(pool)
            .await?
        });
        if page.is_empty() {
            return Ok(Verdict::Intact {
                rows,
                head: expected_prev,
            });
        }
        for row in page {
            if row.prev_hash != expected_prev {
                return Ok(Verdict::Broken {
                    row_id: row.id,
                    reason: "does not link to the row before it (a row was removed, inserted or altered)".into(),
                });
            }
            if row.expected_hash() != row.hash {
                return Ok(Verdict::Broken {
                    row_id: row.id,
                    reason: "its contents do not match its hash (the row was altered)".into(),
                });
            }
            expected_prev = row.hash.clone();
            after_id = row.id;
            rows += 1;
        }
    }
}
