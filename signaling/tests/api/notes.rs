//! The consult note: drafts with optimistic concurrency, signing, the
//! database refusing changes to signed notes, addenda, export.

use reqwest::StatusCode;
use serde_json::{json, Value};
use signaling::auth::Role;

use crate::both_backends;
use crate::common::*;

both_backends!(
    draft_autosave_detects_stale_writes,
    signed_note_is_frozen_even_for_raw_sql,
    addenda_only_after_signing_and_immutable,
    only_the_consults_specialist_writes_and_staff_read_signed,
    export_contains_the_record_and_is_audited,
);

fn body() -> Value {
    json!({
        "reason": "Valoración de hipertensión descontrolada",
        "subjective": "Cefalea occipital de 3 días.",
        "objective": "Consciente, orientada.",
        "vital_signs": {"systolic_mmhg": 165, "diastolic_mmhg": 100, "heart_rate_bpm": 88, "temperature_c": 36.7, "spo2_percent": 96},
        "assessment": "Hipertensión arterial sistémica no controlada.",
        "diagnoses": [{"code": "i10"}],
        "diagnostic_criteria": "TA > 140/90 en dos tomas.",
        "study_plan": "Química sanguínea, EGO, ECG.",
        "treatment": [{"drug": "Losartán", "dose": "50 mg", "route": "oral", "frequency": "cada 24 h", "duration": "30 días"}],
        "prognosis": "Bueno para la vida.",
        "suggestions": "Control semanal de TA en la clínica."
    })
}

async fn consult_in_call(app: &TestApp, w: &World) -> i64 {
    let created = schedule(app, w, 5).await;
    let id = created["consult"]["id"].as_i64().unwrap();
    let token = created["join_link"]["token"].as_str().unwrap();
    let patient = app.client();
    give_consent(app, token).await;
    expect(
        patient
            .post(app.url(&format!("/api/join/{token}/arrive")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect(
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/status")))
            .json(&json!({"status": "in_call"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    id
}

async fn save(app: &TestApp, client: &reqwest::Client, id: i64, version: i64, body: Value) -> reqwest::Response {
    client
        .put(app.url(&format!("/api/consults/{id}/note")))
        .json(&json!({"version": version, "body": body}))
        .send()
        .await
        .unwrap()
}

async fn draft_autosave_detects_stale_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = consult_in_call(&app, &w).await;
    let first = expect(
        save(&app, &w.specialist, id, 0, json!({"reason": "Borrador"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["signed"], false);
    let second = expect(save(&app, &w.specialist, id, 1, body()).await, StatusCode::OK).await;
    assert_eq!(second["version"], 2);
    assert_eq!(second["body"]["diagnoses"][0]["code"], "I10");
    assert!(second["body"]["diagnoses"][0]["description"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .contains("hipertens"));
    // A second tab still on version 1 must not overwrite version 2.
    expect_error(
        save(&app, &w.specialist, id, 1, json!({"reason": "viejo"})).await,
        StatusCode::CONFLICT,
        "stale_version",
    )
    .await;
    expect_error(
        save(&app, &w.specialist, id, 0, json!({"reason": "viejo"})).await,
        StatusCode::CONFLICT,
        "stale_version",
    )
    .await;
    let current = expect(
        w.specialist
            .get(app.url(&format!("/api/consults/{id}/note")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(current["body"]["reason"], body()["reason"]);
    // Typed vital signs are range-checked; unknown codes refused.
    let mut bad = body();
    bad["vital_signs"]["spo2_percent"] = json!(140);
    expect_error(
        save(&app, &w.specialist, id, 2, bad).await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    let mut bad = body();
    bad["vital_signs"]["temperature_c"] = json!("caliente");
    expect_error(
        save(&app, &w.specialist, id, 2, bad).await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    let mut bad = body();
    bad["diagnoses"] = json!([{"code": "XYZ.123"}]);
    expect_error(
        save(&app, &w.specialist, id, 2, bad).await,
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
}

async fn signed_note_is_frozen_even_for_raw_sql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = consult_in_call(&app, &w).await;
    expect(
        save(&app, &w.specialist, id, 0, json!({"subjective": "sin motivo"})).await,
        StatusCode::OK,
    )
    .await;
    let sign = |version: i64| {
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/note/sign")))
            .json(&json!({"version": version}))
            .send()
    };
    expect_error(sign(1).await.unwrap(), StatusCode::BAD_REQUEST, "incomplete_note").await;
    expect(save(&app, &w.specialist, id, 1, body()).await, StatusCode::OK).await;
    expect_error(sign(1).await.unwrap(), StatusCode::CONFLICT, "stale_version").await;
    let signed = expect(sign(2).await.unwrap(), StatusCode::OK).await;
    assert_eq!(signed["signed"], true);
    assert_eq!(signed["author_cedula"], "12345678");
    assert_eq!(signed["content_hash"].as_str().unwrap().len(), 64);
    let version = signed["version"].as_i64().unwrap();
    expect_error(
        save(&app, &w.specialist, id, version, body()).await,
        StatusCode::CONFLICT,
        "note_signed",
    )
    .await;
    expect_error(sign(version).await.unwrap(), StatusCode::CONFLICT, "note_signed").await;
    // The database itself refuses, whoever asks.
    let update = app.raw_sql("UPDATE consult_notes SET body = '{}'").await;
    assert!(update.unwrap_err().contains("immutable"));
    let unsign = app.raw_sql("UPDATE consult_notes SET signed_at = NULL").await;
    assert!(unsign.is_err());
    let delete = app.raw_sql("DELETE FROM consult_notes").await;
    assert!(delete.is_err());
    let after = expect(
        w.specialist
            .get(app.url(&format!("/api/consults/{id}/note")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(after["body"], signed["body"]);
    assert_eq!(after["signed"], true);
    if app.backend == Backend::Postgres {
        assert!(app.raw_sql("TRUNCATE consult_notes CASCADE").await.is_err());
    }
}

async fn addenda_only_after_signing_and_immutable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = consult_in_call(&app, &w).await;
    let add = |text: &str| {
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/note/addenda")))
            .json(&json!({"body": text}))
            .send()
    };
    expect_error(add("antes").await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    expect(save(&app, &w.specialist, id, 0, body()).await, StatusCode::OK).await;
    expect_error(
        add("antes de firmar").await.unwrap(),
        StatusCode::CONFLICT,
        "note_not_signed",
    )
    .await;
    expect(
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/note/sign")))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_error(add("   ").await.unwrap(), StatusCode::BAD_REQUEST, "validation").await;
    let note = expect(
        add("Corrección: la dosis de losartán es 25 mg.").await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(note["addenda"].as_array().unwrap().len(), 1);
    assert_eq!(note["addenda"][0]["author_cedula"], "12345678");
    assert!(app.raw_sql("UPDATE note_addenda SET body = 'otra cosa'").await.is_err());
    assert!(app.raw_sql("DELETE FROM note_addenda").await.is_err());
}

async fn only_the_consults_specialist_writes_and_staff_read_signed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = consult_in_call(&app, &w).await;
    app.create_user("otro@cerca.mx", Role::Specialist, None).await;
    let other = app.login("otro@cerca.mx").await;
    expect_error(
        save(&app, &other, id, 0, body()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        save(&app, &w.staff, id, 0, body()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect(save(&app, &w.specialist, id, 0, body()).await, StatusCode::OK).await;
    // Staff do not see the draft...
    expect_error(
        w.staff
            .get(app.url(&format!("/api/consults/{id}/note")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/note/sign")))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    // ...but the referring clinic reads the signed note.
    let note = expect(
        w.staff
            .get(app.url(&format!("/api/consults/{id}/note")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(note["body"]["suggestions"], "Control semanal de TA en la clínica.");
    expect_error(
        other
            .get(app.url(&format!("/api/consults/{id}/note")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn export_contains_the_record_and_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = consult_in_call(&app, &w).await;
    expect(save(&app, &w.specialist, id, 0, body()).await, StatusCode::OK).await;
    expect_error(
        w.specialist
            .get(app.url(&format!("/api/consults/{id}/note/export")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "note_not_signed",
    )
    .await;
    expect(
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/note/sign")))
            .json(&json!({"version": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let record = expect(
        w.specialist
            .get(app.url(&format!("/api/consults/{id}/note/export")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(record["patient"]["family_names"], "Núñez Pérez");
    assert_eq!(record["note"]["signed"], true);
    assert_eq!(record["consents"][0]["kind"], "privacy");
    for action in ["note.write", "note.sign", "note.export"] {
        let n = app
            .scalar_i64(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND patient_id = {}",
                w.patient_id
            ))
            .await;
        assert!(n >= 1, "{action} audited");
    }
}
