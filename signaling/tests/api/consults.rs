//! Consults: scheduling, lists, the status machine, authorization.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;
use signaling::auth::Role;

use crate::both_backends;
use crate::common::*;

both_backends!(
    create_yields_a_shareable_join_link,
    lists_by_day_specialist_and_clinic,
    reschedule_and_cancel,
    illegal_transitions_are_rejected,
    consults_are_scoped_to_specialist_and_clinic,
    patient_history_lists_visible_consults,
);

async fn create_yields_a_shareable_join_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 60).await;
    let link = &created["join_link"];
    let token = link["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256-bit token, base64url");
    assert_eq!(link["url"], app.url(&format!("/j/{token}")));
    let wa = link["whatsapp_url"].as_str().unwrap();
    assert!(wa.starts_with("https://wa.me/529611234567?text="), "{wa}");
    assert!(link["message"].as_str().unwrap().contains("Hola María José"));
    assert!(wa.contains(&urlencoding::encode(token).to_string()));
    // Only the hash is stored.
    let stored = app.scalar_text("SELECT token_hash FROM join_links").await.unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64);
    assert_eq!(created["consult"]["status"], "scheduled");
    assert_eq!(created["consult"]["clinic_clues"], w.clinic);
    // Window: 30 min before to 2 h after the start.
    let starts = chrono::DateTime::parse_from_rfc3339(created["consult"]["starts_at"].as_str().unwrap()).unwrap();
    let opens = chrono::DateTime::parse_from_rfc3339(link["opens_at"].as_str().unwrap()).unwrap();
    let closes = chrono::DateTime::parse_from_rfc3339(link["closes_at"].as_str().unwrap()).unwrap();
    assert_eq!(starts - opens, Duration::minutes(30));
    assert_eq!(closes - starts, Duration::hours(2));
}

async fn lists_by_day_specialist_and_clinic(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let today = schedule(&app, &w, 5).await;
    let in_three_days = schedule(&app, &w, 3 * 24 * 60).await;
    let tz = "America/Mexico_City";
    let day = |offset_days: i64| {
        (Utc::now() + Duration::days(offset_days) + Duration::minutes(5))
            .with_timezone(&tz.parse::<chrono_tz::Tz>().unwrap())
            .date_naive()
            .to_string()
    };
    let list = |client: &reqwest::Client, query: Vec<(&str, String)>| {
        client.get(app.url("/api/consults")).query(&query).send()
    };
    let l = expect(
        list(&w.specialist, vec![("day", day(0)), ("tz", tz.into())])
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let ids: Vec<_> = l.as_array().unwrap().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, vec![today["consult"]["id"].clone()]);
    assert_eq!(l[0]["patient_name"], "María José Núñez Pérez");
    let week = expect(
        list(&w.staff, vec![("from", day(0)), ("days", "7".into())])
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(week.as_array().unwrap().len(), 2);
    let by_spec = expect(
        list(
            &w.staff,
            vec![("from", day(0)), ("specialist_id", w.specialist_id.to_string())],
        )
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_spec.as_array().unwrap().len(), 2);
    let by_clinic = expect(
        list(&w.specialist, vec![("from", day(0)), ("clinic", "OTRA00001".into())])
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(by_clinic.as_array().unwrap().is_empty());
    let day3 = expect(list(&w.staff, vec![("day", day(3))]).await.unwrap(), StatusCode::OK).await;
    assert_eq!(day3[0]["id"], in_three_days["consult"]["id"]);
    expect_error(
        list(&w.staff, vec![("day", "2026-02-30".into())]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_query",
    )
    .await;
    expect_error(
        list(&w.staff, vec![("tz", "Mars/Olympus".into())]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
}

async fn reschedule_and_cancel(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 60).await;
    let id = created["consult"]["id"].as_i64().unwrap();
    let new_start = Utc::now() + Duration::days(1);
    let moved = expect(
        w.specialist
            .patch(app.url(&format!("/api/consults/{id}")))
            .json(&json!({"starts_at": new_start, "duration_min": 45}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(moved["duration_min"], 45);
    // The old link now refuses: the window moved with the consult (opens tomorrow).
    let token = created["join_link"]["token"].as_str().unwrap();
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{token}")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "join_link_not_open",
    )
    .await;
    let status = |body: serde_json::Value| {
        w.staff
            .post(app.url(&format!("/api/consults/{id}/status")))
            .json(&body)
            .send()
    };
    expect_error(
        status(json!({"status": "cancelled"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    let cancelled = expect(
        status(json!({"status": "cancelled", "reason": "La paciente pidió otra fecha"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "La paciente pidió otra fecha");
    expect_error(
        w.specialist
            .patch(app.url(&format!("/api/consults/{id}")))
            .json(&json!({"duration_min": 30}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{token}")))
            .send()
            .await
            .unwrap(),
        StatusCode::GONE,
        "consult_cancelled",
    )
    .await;
}

async fn illegal_transitions_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = schedule(&app, &w, 10).await["consult"]["id"].as_i64().unwrap();
    let status = |s: &str| {
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/status")))
            .json(&json!({"status": s}))
            .send()
    };
    expect_error(
        status("in_call").await.unwrap(),
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    expect_error(
        status("completed").await.unwrap(),
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    expect_error(status("flying").await.unwrap(), StatusCode::BAD_REQUEST, "validation").await;
    expect(status("no_show").await.unwrap(), StatusCode::OK).await;
    expect_error(
        status("scheduled").await.unwrap(),
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
}

async fn consults_are_scoped_to_specialist_and_clinic(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = schedule(&app, &w, 60).await["consult"]["id"].as_i64().unwrap();
    let other_id = app.create_user("otro@cerca.mx", Role::Specialist, None).await;
    app.create_clinic("OCSSA000111").await;
    app.create_user("otra@clinica.mx", Role::Staff, Some("OCSSA000111"))
        .await;
    let other_spec = app.login("otro@cerca.mx").await;
    let other_staff = app.login("otra@clinica.mx").await;
    let path = format!("/api/consults/{id}");
    expect(w.specialist.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    expect(w.staff.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    for c in [&other_spec, &other_staff] {
        expect_error(
            c.get(app.url(&path)).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            c.post(app.url(&format!("{path}/status")))
                .json(&json!({"status": "no_show"}))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        let listed = expect(c.get(app.url("/api/consults")).send().await.unwrap(), StatusCode::OK).await;
        assert!(listed.as_array().unwrap().is_empty());
    }
    // A specialist may not book for someone else; staff may not book for another clinic.
    let starts_at = Utc::now() + Duration::hours(2);
    expect_error(
        w.specialist
            .post(app.url("/api/consults"))
            .json(&json!({"patient_id": w.patient_id, "specialist_id": other_id, "starts_at": starts_at, "duration_min": 30, "reason": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        w.staff
            .post(app.url("/api/consults"))
            .json(
                &json!({"patient_id": w.patient_id, "specialist_id": other_id, "clinic_clues": "OCSSA000111",
                          "starts_at": starts_at, "duration_min": 30, "reason": "x"}),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Another clinic's staff cannot book a patient they cannot see.
    expect_error(
        other_staff
            .post(app.url("/api/consults"))
            .json(&json!({"patient_id": w.patient_id, "specialist_id": other_id, "starts_at": starts_at, "duration_min": 30, "reason": "x"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn patient_history_lists_visible_consults(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let first = schedule(&app, &w, 10).await["consult"]["id"].clone();
    let second = schedule(&app, &w, 3 * 24 * 60).await["consult"]["id"].clone();
    let path = format!("/api/patients/{}/consults", w.patient_id);
    let history = expect(w.specialist.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    let ids: Vec<_> = history.as_array().unwrap().iter().map(|c| c["id"].clone()).collect();
    assert_eq!(ids, vec![second, first], "newest first");
    // Another specialist's consults with the same patient are not listed to this one.
    let other_id = app.create_user("otro@cerca.mx", Role::Specialist, None).await;
    expect(
        w.staff
            .post(app.url("/api/consults"))
            .json(&json!({"patient_id": w.patient_id, "specialist_id": other_id, "starts_at": Utc::now() + Duration::hours(5),
                          "duration_min": 30, "reason": "Otra especialidad"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mine = expect(w.specialist.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let clinic = expect(w.staff.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(clinic.as_array().unwrap().len(), 3);
    let other = app.login("otro@cerca.mx").await;
    let theirs = expect(other.get(app.url(&path)).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(theirs.as_array().unwrap().len(), 1);
}
