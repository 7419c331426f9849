//! Patients: CURP validation, folios, search, and who may see whom.

use reqwest::StatusCode;
use serde_json::json;
use signaling::auth::Role;

use crate::both_backends;
use crate::common::*;

both_backends!(
    curp_is_validated_never_generated,
    search_by_name_and_curp,
    patients_are_visible_only_to_their_clinic_and_specialists,
    patient_details_can_be_corrected,
);

async fn curp_is_validated_never_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let post = |body: serde_json::Value| w.staff.post(app.url("/api/patients")).json(&body).send();
    let base =
        json!({"given_names": "Eduardo", "family_names": "Gómez Díaz", "date_of_birth": "1956-12-31", "sex": "M"});
    let with = |curp: &str| {
        let mut b = base.clone();
        b["curp"] = json!(curp);
        b
    };
    // Wrong check digit.
    expect_error(
        post(with("GODE561231HDFNRD04")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_curp",
    )
    .await;
    // Valid CURP, but born on another day than the form says.
    let mut other_day = with("GODE561231HDFNRD05");
    other_day["date_of_birth"] = json!("1956-12-30");
    expect_error(post(other_day).await.unwrap(), StatusCode::BAD_REQUEST, "curp_mismatch").await;
    let p = expect(post(with("gode561231hdfnrd05")).await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(p["curp"], "GODE561231HDFNRD05");
    assert!(p["folio"].as_str().unwrap().starts_with("CER-"));
    expect_error(
        post(with("GODE561231HDFNRD05")).await.unwrap(),
        StatusCode::CONFLICT,
        "patient_exists",
    )
    .await;
    // Without a CURP: a folio, and no CURP invented.
    let world_patient = expect(
        w.staff
            .get(app.url(&format!("/api/patients/{}", w.patient_id)))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(world_patient["curp"].is_null());
    assert!(world_patient["folio"].as_str().unwrap().starts_with("CER-"));
    assert_eq!(world_patient["phone"], "+529611234567");
    // Future birth dates and unknown languages are refused.
    let mut future = base.clone();
    future["date_of_birth"] = json!("2999-01-01");
    expect_error(post(future).await.unwrap(), StatusCode::BAD_REQUEST, "validation").await;
}

async fn search_by_name_and_curp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let search = |q: &str| w.staff.get(app.url("/api/patients")).query(&[("q", q)]).send();
    let found = expect(search("nunez maria").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        found.as_array().unwrap().len(),
        1,
        "accent- and order-insensitive: {found}"
    );
    let none = expect(search("rodriguez").await.unwrap(), StatusCode::OK).await;
    assert!(none.as_array().unwrap().is_empty());
    // LIKE wildcards are literal.
    let none = expect(search("%").await.unwrap(), StatusCode::OK).await;
    assert!(none.as_array().unwrap().is_empty());
    // A patient with a CURP, registered by another clinic's staff, is found by
    // exact CURP (so nobody registers them twice) but not by name.
    app.create_clinic("OCSSA000111").await;
    app.create_user("otra@clinica.mx", Role::Staff, Some("OCSSA000111"))
        .await;
    let other = app.login("otra@clinica.mx").await;
    expect(
        other
            .post(app.url("/api/patients"))
            .json(
                &json!({"given_names": "Eduardo", "family_names": "Gómez Díaz", "date_of_birth": "1956-12-31",
                          "sex": "M", "curp": "GODE561231HDFNRD05"}),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let by_name = expect(search("gomez").await.unwrap(), StatusCode::OK).await;
    assert!(by_name.as_array().unwrap().is_empty());
    let by_curp = expect(
        w.staff
            .get(app.url("/api/patients"))
            .query(&[("curp", "GODE561231HDFNRD05")])
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_curp[0]["family_names"], "Gómez Díaz");
    expect_error(
        w.staff
            .get(app.url("/api/patients"))
            .query(&[("curp", "NOTACURP")])
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_curp",
    )
    .await;
    // Searches are audited per patient returned.
    let audited = app
        .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'patient.search'")
        .await;
    assert!(audited >= 2, "audited {audited}");
}

async fn patients_are_visible_only_to_their_clinic_and_specialists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let path = format!("/api/patients/{}", w.patient_id);
    app.create_user("otro@cerca.mx", Role::Specialist, None).await;
    app.create_clinic("OCSSA000111").await;
    app.create_user("otra@clinica.mx", Role::Staff, Some("OCSSA000111"))
        .await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let other_spec = app.login("otro@cerca.mx").await;
    let other_staff = app.login("otra@clinica.mx").await;
    let admin = app.login("admin@cerca.mx").await;
    expect(w.staff.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    // The specialist sees the patient only once they have a consult together.
    expect_error(
        w.specialist.get(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    schedule(&app, &w, 60).await;
    expect(w.specialist.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    expect_error(
        other_spec.get(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        other_staff.get(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        admin.get(app.url(&path)).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = expect(
        other_staff.get(app.url("/api/patients?q=maria")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(listed.as_array().unwrap().is_empty());
    expect_error(
        admin.get(app.url("/api/patients?q=maria")).send().await.unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

async fn patient_details_can_be_corrected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let path = format!("/api/patients/{}", w.patient_id);
    let patch = |body: serde_json::Value| w.staff.patch(app.url(&path)).json(&body).send();
    // A CURP that does not match the recorded birth date is refused.
    expect_error(
        patch(json!({"curp": "GODE561231HDFNRD05"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "curp_mismatch",
    )
    .await;
    let p = expect(
        patch(json!({"phone": "55 1234 5678", "family_names": "Núñez Pérez de León", "curp": CURP}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["phone"], "+525512345678");
    assert_eq!(p["curp"], CURP);
    assert_eq!(p["given_names"], "María José", "fields not sent stay as they were");
    let found = expect(
        w.staff.get(app.url("/api/patients?q=leon")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "search follows the corrected name");
    expect_error(
        patch(json!({"curp": CURP})).await.unwrap(),
        StatusCode::CONFLICT,
        "curp_on_record",
    )
    .await;
    expect_error(
        patch(json!({"preferred_language": "klingon"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    // Outside the scope: 404, as for a read.
    app.create_user("otro@cerca.mx", Role::Specialist, None).await;
    let other = app.login("otro@cerca.mx").await;
    expect_error(
        other
            .patch(app.url(&path))
            .json(&json!({"phone": "5512345678"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let audited = app
        .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'patient.update'")
        .await;
    assert_eq!(audited, 1);
}
