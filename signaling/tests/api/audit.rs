//! The audit log: every read is recorded, the chain verifies, and tampering
//! (after disabling the append-only trigger) is caught at the right row.

use reqwest::StatusCode;
use signaling::audit::{verify, Verdict};

use crate::both_backends;
use crate::common::*;

both_backends!(
    reads_are_audited_with_actor_and_client,
    tampering_breaks_the_chain_at_that_row
);

async fn reads_are_audited_with_actor_and_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let path = format!("/api/patients/{}", w.patient_id);
    let before = app
        .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'patient.read'")
        .await;
    w.staff
        .get(app.url(&path))
        .header("user-agent", "KioskBrowser/1.0")
        .send()
        .await
        .unwrap();
    let after = app
        .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'patient.read'")
        .await;
    assert_eq!(after, before + 1);
    let ua = app
        .scalar_text("SELECT user_agent FROM audit_log WHERE action = 'patient.read' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(ua.as_deref(), Some("KioskBrowser/1.0"));
    let ip = app
        .scalar_text("SELECT ip FROM audit_log WHERE action = 'patient.read' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    let role = app
        .scalar_text("SELECT actor_role FROM audit_log WHERE action = 'patient.read' ORDER BY id DESC LIMIT 1")
        .await;
    assert_eq!(role.as_deref(), Some("staff"));
    // The log refuses changes through SQL.
    assert!(app
        .raw_sql("UPDATE audit_log SET action = 'x'")
        .await
        .unwrap_err()
        .contains("append-only"));
    assert!(app.raw_sql("DELETE FROM audit_log").await.is_err());
}

async fn tampering_breaks_the_chain_at_that_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    for _ in 0..3 {
        let res = w
            .staff
            .get(app.url(&format!("/api/patients/{}", w.patient_id)))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let rows = match verify(&app.db).await.unwrap() {
        Verdict::Intact { rows, .. } => rows,
        broken => panic!("fresh chain is broken: {broken:?}"),
    };
    assert!(rows >= 4);
    let target = app
        .scalar_i64("SELECT id FROM audit_log ORDER BY id LIMIT 1 OFFSET 2")
        .await;
    // An attacker with database access first has to switch the guard off.
    match app.backend {
        Backend::Postgres => {
            app.raw_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
                .await
                .unwrap();
        }
        Backend::Sqlite => {
            app.raw_sql("DROP TRIGGER audit_log_no_update").await.unwrap();
            app.raw_sql("DROP TRIGGER audit_log_no_delete").await.unwrap();
        }
    }
    app.raw_sql(&format!(
        "UPDATE audit_log SET actor_role = 'admin' WHERE id = {target}"
    ))
    .await
    .unwrap();
    assert_eq!(
        verify(&app.db).await.unwrap(),
        Verdict::Broken {
            row_id: target,
            reason: "its contents do not match its hash (the row was altered)".into()
        }
    );
    // Deleting a row instead breaks the link of the row after it.
    app.raw_sql(&format!("DELETE FROM audit_log WHERE id = {target}"))
        .await
        .unwrap();
    let next = app
        .scalar_i64(&format!("SELECT MIN(id) FROM audit_log WHERE id > {target}"))
        .await;
    match verify(&app.db).await.unwrap() {
        Verdict::Broken { row_id, reason } => {
            assert_eq!(row_id, next);
            assert!(reason.contains("does not link"), "{reason}");
        }
        intact => panic!("deletion not detected: {intact:?}"),
    }
}
