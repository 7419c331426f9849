//! The README's walk-through, with the real `cerca` binary: create the first
//! admin from the command line, start the server on the SQLite default, log in
//! through the API, set up a clinic and a specialist, create a patient and a
//! consult, get the join link, write and sign a note, watch the database
//! refuse to change it, and verify the audit log from the command line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

const CERCA: &str = env!("CARGO_BIN_EXE_cerca");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cerca(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(CERCA);
    cmd.current_dir(dir).env_remove("DATABASE_URL").env("RUST_LOG", "info");
    cmd
}

async fn ok(res: reqwest::Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test]
async fn readme_walkthrough_on_the_sqlite_default() {
    let dir = std::env::temp_dir().join(format!("cerca-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // 1. The first admin, password on stdin.
    let mut create = cerca(&dir)
        .args(["admin", "create", "--email", "admin@clinica.mx"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"una clave muy segura\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("in the sqlite database"));
    assert!(
        dir.join("data/cerca.sqlite").exists(),
        "the default database lives under ./data/"
    );

    // 2. Serve on a free port; the log line says where.
    let mut child = cerca(&dir)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let server = Server(child);
    let mut lines = stderr.lines();
    let mut addr = None;
    // Read until the "listening" line; if the server exits first, the lines end.
    for line in lines.by_ref() {
        let line = line.unwrap();
        assert!(
            !line.contains("\u{1b}["),
            "no colour codes when stderr is a pipe: {line}"
        );
        let listening = line.contains("cerca listening");
        if let Some(rest) = line.split("addr=").nth(1).filter(|_| listening) {
            addr = Some(rest.split_whitespace().next().unwrap().to_string());
            break;
        }
    }
    // Keep draining, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let base = format!("http://{}", addr.expect("server logged its address"));
    let url = |p: &str| format!("{base}{p}");
    let admin = reqwest::Client::builder().cookie_store(true).build().unwrap();

    // 3. Log in, add a clinic and a specialist.
    ok(
        admin
            .post(url("/api/auth/login"))
            .json(&json!({"email": "admin@clinica.mx", "password": "una clave muy segura"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    ok(
        admin
            .post(url("/api/clinics"))
            .json(&json!({"clues": "CSSSA017213", "name": "Centro de Salud Rural San Andrés", "state": "Chiapas"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    // The specialist's account from the command line, as the README shows
    // (the server is running; both use the same SQLite file).
    let mut create = cerca(&dir)
        .args([
            "user",
            "create",
            "--role",
            "specialist",
            "--email",
            "dra.lopez@cerca.mx",
            "--name",
            "Dra. Ana López",
        ])
        .args(["--cedula", "7654321", "--specialty", "Medicina interna"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"otra clave segura\n").unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created specialist dra.lopez@cerca.mx"));
    let clinic = cerca(&dir)
        .args([
            "clinic",
            "create",
            "--clues",
            "CSSSA017999",
            "--name",
            "Casa de Salud La Esperanza",
        ])
        .output()
        .unwrap();
    assert!(clinic.status.success());
    let clinics = ok(admin.get(url("/api/clinics")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(clinics.as_array().unwrap().len(), 2, "{clinics}");

    // 4. The specialist registers a patient and schedules a consult.
    let dra = reqwest::Client::builder().cookie_store(true).build().unwrap();
    ok(
        dra.post(url("/api/auth/login"))
            .json(&json!({"email": "dra.lopez@cerca.mx", "password": "otra clave segura"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let patient = ok(
        dra.post(url("/api/patients"))
            .json(&json!({"given_names": "Rosa", "family_names": "Hernández Gómez", "date_of_birth": "1970-05-04", "sex": "F"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let created = ok(
        dra.post(url("/api/consults"))
            .json(&json!({"patient_id": patient["id"], "clinic_clues": "CSSSA017213", "starts_at": chrono::Utc::now() + chrono::Duration::minutes(10),
                          "duration_min": 30, "reason": "Dolor torácico atípico"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let id = created["consult"]["id"].as_i64().unwrap();
    let join = created["join_link"]["url"].as_str().unwrap();
    assert!(join.starts_with(&format!("{base}/j/")));
    let page = reqwest::get(join).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // 5. Write and sign the note.
    ok(
        dra.put(url(&format!("/api/consults/{id}/note")))
            .json(&json!({"version": 0, "body": {"reason": "Dolor torácico atípico", "assessment": "Dolor musculoesquelético", "diagnoses": [{"code": "R07.4"}]}}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let signed = ok(
        dra.post(url(&format!("/api/consults/{id}/note/sign")))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(signed["signed"], true);
    drop(server);

    // 6. The database refuses to change it, even from a direct SQL session.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.join("data/cerca.sqlite").display()))
        .await
        .unwrap();
    let err = sqlx::query("UPDATE consult_notes SET body = '{}'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    assert!(sqlx::query("DELETE FROM consult_notes").execute(&pool).await.is_err());
    pool.close().await;

    // 7. The audit log verifies.
    let verify = cerca(&dir).args(["audit", "verify"]).output().unwrap();
    assert!(verify.status.success());
    assert!(String::from_utf8_lossy(&verify.stdout).contains("audit log intact"));
    let _ = std::fs::remove_dir_all(&dir);
}
