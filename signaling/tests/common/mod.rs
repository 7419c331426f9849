//! Test harness: a real `cerca` server on `127.0.0.1:0` over a real database
//! (a fresh SQLite file, or a fresh Postgres database created in the server
//! named by `DATABASE_URL` and dropped afterwards), with HTTP clients that
//! keep their own cookies like separate browsers.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use signaling::api::users::{create_user, NewUser};
use signaling::auth::Role;
use signaling::db::Db;
use signaling::{AppState, Config};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares one test per backend for an `async fn(Backend)` case.
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub const PASSWORD: &str = "una clave larga y segura";

pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(PathBuf),
    PostgresDb { admin_url: String, name: String },
}

fn random_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12).map(|_| (b'a' + rng.gen_range(0..26)) as char).collect()
}

pub fn postgres_admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!("Postgres tests need DATABASE_URL (a server URL); run ./scripts/test, which starts one if needed")
    })
}

fn with_database(url: &str, name: &str) -> String {
    // Replace the path (database name) of a postgres:// URL, keeping any query.
    let (head, query) = url.split_once('?').map(|(h, q)| (h, Some(q))).unwrap_or((url, None));
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::default();
        let (db, cleanup) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("cerca-test-{}", random_suffix()));
                std::fs::create_dir_all(&dir).unwrap();
                let db = Db::connect(None, &dir).await.expect("sqlite connects");
                (db, Cleanup::SqliteDir(dir))
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let name = format!("cerca_t_{}", random_suffix());
                let admin = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("postgres server reachable");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
                let db = Db::connect(Some(&with_database(&admin_url, &name)), std::path::Path::new("."))
                    .await
                    .expect("postgres connects");
                (db, Cleanup::PostgresDb { admin_url, name })
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.addr = addr;
        config.public_url = Some(format!("http://{addr}"));
        tweak(&mut config);
        let state = AppState::start(db.clone(), config).await.expect("media relay starts");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            signaling::server::run(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            db,
            backend,
            shutdown: Some(tx),
            server: Some(server),
            cleanup,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A new "browser": its own cookie jar. Connections are not reused: the
    /// server may answer a bad request before reading its body and close the
    /// connection, which a pooled client would then reuse and fail on.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }

    pub async fn create_user(&self, email: &str, role: Role, clinic: Option<&str>) -> i64 {
        create_user(
            &self.db,
            NewUser {
                email: email.into(),
                password: PASSWORD.into(),
                role,
                full_name: format!("Dr(a). {}", email.split('@').next().unwrap()),
                cedula: (role == Role::Specialist).then(|| "12345678".to_string()),
                specialty: (role == Role::Specialist).then(|| "Medicina interna".to_string()),
                clinic_clues: clinic.map(str::to_string),
            },
        )
        .await
        .expect("user created")
        .id
    }

    /// Logs `email` in on a fresh client and returns it.
    pub async fn login(&self, email: &str) -> Client {
        let client = self.client();
        let res = client
            .post(self.url("/api/auth/login"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login of {email}");
        client
    }

    /// Inserts a clinic straight into the database (admin set-up).
    pub async fn create_clinic(&self, clues: &str) {
        let sql = "INSERT INTO clinics (clues, name, state, time_zone, created_at) VALUES ($1, $2, 'Chiapas', 'America/Mexico_City', $3)";
        signaling::on_db!(&self.db, pool => {
            sqlx::query(sql).bind(clues).bind(format!("Clínica {clues}")).bind(Utc::now()).execute(pool).await.unwrap();
        });
    }

    /// Runs raw SQL as a direct database session would, returning the error text if refused.
    pub async fn raw_sql(&self, sql: &str) -> Result<u64, String> {
        signaling::on_db!(&self.db, pool => {
            sqlx::query(sql).execute(pool).await.map(|r| r.rows_affected()).map_err(|e| e.to_string())
        })
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        signaling::on_db!(&self.db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap())
    }

    pub async fn scalar_text(&self, sql: &str) -> Option<String> {
        signaling::on_db!(&self.db, pool => sqlx::query_scalar::<_, Option<String>>(sql).fetch_one(pool).await.unwrap())
    }

    pub async fn stop(mut self) {
        self.shutdown_server().await;
    }

    async fn shutdown_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match &self.cleanup {
            Cleanup::SqliteDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PostgresDb { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&admin)
                                .await;
                            admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Reads a JSON body, asserting the status first (with the body in the message).
pub async fn expect(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"))
    }
}

/// Asserts an error response with the given status and code.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    let body = expect(res, status).await;
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(body["error"]["message"].is_string(), "error body: {body}");
    body
}

/// A clinic, a specialist, a staff member of that clinic, and a patient.
pub struct World {
    pub clinic: &'static str,
    pub specialist_id: i64,
    pub specialist: Client,
    pub staff: Client,
    pub patient_id: i64,
}

/// The CURP of the world's patient (María José Núñez Pérez, 1984-03-12, F, Chiapas).
pub const CURP: &str = "NUPM840312MCSXRR08";

pub async fn world(app: &TestApp) -> World {
    let clinic = "CSSSA001234";
    app.create_clinic(clinic).await;
    let specialist_id = app.create_user("especialista@cerca.mx", Role::Specialist, None).await;
    app.create_user("enfermera@clinica.mx", Role::Staff, Some(clinic)).await;
    let specialist = app.login("especialista@cerca.mx").await;
    let staff = app.login("enfermera@clinica.mx").await;
    let patient = expect(
        staff
            .post(app.url("/api/patients"))
            .json(&json!({
                "given_names": "María José",
                "family_names": "Núñez Pérez",
                "date_of_birth": "1984-03-12",
                "sex": "F",
                "phone": "961 123 4567",
            }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    World {
        clinic,
        specialist_id,
        specialist,
        staff,
        patient_id: patient["id"].as_i64().unwrap(),
    }
}

/// The patient accepts the current privacy notice through their join link.
pub async fn give_consent(app: &TestApp, token: &str) {
    expect(
        app.client()
            .post(app.url(&format!("/api/join/{token}/consent")))
            .json(&json!({"notice_version": "v1", "language": "es", "accept_privacy": true}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
}

/// Schedules a consult for the world's patient, starting `in_minutes` from now.
pub async fn schedule(app: &TestApp, w: &World, in_minutes: i64) -> Value {
    let starts_at: DateTime<Utc> = Utc::now() + Duration::minutes(in_minutes);
    expect(
        w.staff
            .post(app.url("/api/consults"))
            .json(&json!({
                "patient_id": w.patient_id,
                "specialist_id": w.specialist_id,
                "starts_at": starts_at,
                "duration_min": 30,
                "reason": "Control de hipertensión",
            }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await
}
pub use media_relay::test_peer as media;
