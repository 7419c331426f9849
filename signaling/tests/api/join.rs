//! The patient's link: window, consent before the waiting room, kiosk
//! consent with a witness, revocation.

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    patient_consents_then_waits,
    consent_must_be_express_and_current,
    kiosk_consent_names_the_witness,
    link_outside_window_or_revoked_is_refused,
    privacy_notice_names_the_configured_operator,
    network_check_runs_alone_in_the_relay_and_ends,
);

fn consent_body(recording: bool) -> serde_json::Value {
    json!({"notice_version": "v1", "language": "es", "accept_privacy": true, "recording": recording})
}

async fn patient_consents_then_waits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 10).await;
    let token = created["join_link"]["token"].as_str().unwrap().to_string();
    let id = created["consult"]["id"].as_i64().unwrap();
    let patient = app.client();
    let info = expect(
        patient
            .get(app.url(&format!("/api/join/{token}")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(info["patient_given_names"], "María José");
    assert_eq!(info["consent"]["privacy"], false);
    assert!(
        info.get("reason").is_none(),
        "the link page does not show the clinical reason"
    );
    // No waiting room (and so no media) before consent.
    expect_error(
        patient
            .post(app.url(&format!("/api/join/{token}/arrive")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "consent_required",
    )
    .await;
    let status = expect(
        patient
            .post(app.url(&format!("/api/join/{token}/consent")))
            .json(&consent_body(false))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status, json!({"privacy": true, "recording": false}));
    let arrived = expect(
        patient
            .post(app.url(&format!("/api/join/{token}/arrive")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(arrived["status"], "waiting");
    // A reload arrives again without error.
    expect(
        patient
            .post(app.url(&format!("/api/join/{token}/arrive")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let records = expect(
        w.staff
            .get(app.url(&format!("/api/consults/{id}/consents")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(records.as_array().unwrap().len(), 1);
    assert_eq!(records[0]["method"], "own_device");
    assert_eq!(records[0]["notice_version"], "v1");
    // Recording consent is separate, and revocable.
    let status = expect(
        patient
            .post(app.url(&format!("/api/join/{token}/consent")))
            .json(&consent_body(true))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["recording"], true);
    let status = expect(
        patient
            .post(app.url(&format!("/api/join/{token}/consent/revoke")))
            .json(&json!({"kind": "recording"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status, json!({"privacy": true, "recording": false}));
    // Consent rows are evidence: the database refuses to rewrite or delete them.
    assert!(app
        .raw_sql("UPDATE consents SET method = 'own_device', witness_user_id = NULL, kind = 'privacy'")
        .await
        .is_err());
    assert!(app.raw_sql("DELETE FROM consents").await.is_err());
    let actions = app
        .scalar_i64("SELECT COUNT(*) FROM audit_log WHERE actor_kind = 'patient'")
        .await;
    assert!(actions >= 4, "patient actions audited: {actions}");
}

async fn consent_must_be_express_and_current(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let token = schedule(&app, &w, 10).await["join_link"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let post = |body: serde_json::Value| {
        app.client()
            .post(app.url(&format!("/api/join/{token}/consent")))
            .json(&body)
            .send()
    };
    expect_error(
        post(json!({"notice_version": "v1", "language": "es", "accept_privacy": false}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "consent_required",
    )
    .await;
    expect_error(
        post(json!({"notice_version": "v0", "language": "es", "accept_privacy": true}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "notice_outdated",
    )
    .await;
    expect_error(
        post(json!({"notice_version": "v1", "language": "fr", "accept_privacy": true}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    let notice = expect(
        app.client().get(app.url("/api/privacy-notice")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(notice["current_version"], "v1");
    for lang in ["es", "en"] {
        for simplified in ["true", "false"] {
            let n = expect(
                app.client()
                    .get(app.url(&format!("/api/privacy-notice/v1/{lang}?simplified={simplified}")))
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await;
            assert!(
                n["text"].as_str().unwrap().len() > 200,
                "{lang} simplified={simplified} has text"
            );
        }
    }
    expect_error(
        app.client()
            .get(app.url("/api/privacy-notice/v9/es"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn kiosk_consent_names_the_witness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let id = schedule(&app, &w, 10).await["consult"]["id"].as_i64().unwrap();
    // Only clinic staff witness at a kiosk.
    expect_error(
        w.specialist
            .post(app.url(&format!("/api/consults/{id}/consent")))
            .json(&consent_body(false))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let status = expect(
        w.staff
            .post(app.url(&format!("/api/consults/{id}/consent")))
            .json(&consent_body(false))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(status["privacy"], true);
    let records = expect(
        w.staff
            .get(app.url(&format!("/api/consults/{id}/consents")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(records[0]["method"], "kiosk_witnessed");
    let staff_id = app
        .scalar_i64("SELECT id FROM users WHERE email = 'enfermera@clinica.mx'")
        .await;
    assert_eq!(records[0]["witness_user_id"], staff_id);
}

async fn link_outside_window_or_revoked_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.join_closes_after = chrono::Duration::minutes(20)).await;
    let w = world(&app).await;
    // Started 40 minutes ago: the link closed 20 minutes ago.
    let expired = schedule(&app, &w, -40).await["join_link"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{expired}")))
            .send()
            .await
            .unwrap(),
        StatusCode::GONE,
        "join_link_expired",
    )
    .await;
    // Starts in two days: not open yet.
    let early = schedule(&app, &w, 2 * 24 * 60).await["join_link"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{early}")))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "join_link_not_open",
    )
    .await;
    // Unknown and malformed tokens.
    let unknown = "A".repeat(43);
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{unknown}")))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.client()
            .get(app.url("/api/join/'%20OR%201=1--"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Reissuing revokes the old link; revoking kills the new one.
    let created = schedule(&app, &w, 5).await;
    let id = created["consult"]["id"].as_i64().unwrap();
    let old = created["join_link"]["token"].as_str().unwrap().to_string();
    let new = expect(
        w.staff
            .post(app.url(&format!("/api/consults/{id}/join-link")))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let new = new["token"].as_str().unwrap().to_string();
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{old}")))
            .send()
            .await
            .unwrap(),
        StatusCode::GONE,
        "join_link_revoked",
    )
    .await;
    expect(
        app.client()
            .get(app.url(&format!("/api/join/{new}")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect(
        w.staff
            .delete(app.url(&format!("/api/consults/{id}/join-link")))
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        app.client()
            .get(app.url(&format!("/api/join/{new}")))
            .send()
            .await
            .unwrap(),
        StatusCode::GONE,
        "join_link_revoked",
    )
    .await;
    // The patient page itself is served for any token; it explains the error in the patient's language.
    let page = app
        .client()
        .get(app.url(&format!("/j/{expired}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

async fn privacy_notice_names_the_configured_operator(backend: Backend) {
    // Unconfigured: every field shows as a visible [placeholder] and /healthz says so.
    let bare = TestApp::spawn(backend).await;
    let n = expect(
        bare.client()
            .get(bare.url("/api/privacy-notice/v1/es"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(n["text"].as_str().unwrap().contains("[operator_name]"));
    let health = expect(
        bare.client().get(bare.url("/healthz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["privacy_notice_unconfigured"].as_array().unwrap().len(), 9);
    drop(bare);

    let app = TestApp::spawn_with(backend, |c| {
        let text = "privacy.operator_name = Servicios de Salud de Chiapas\n\
                    privacy.operator_address = Blvd. Belisario Domínguez 1000, Tuxtla Gutiérrez\n\
                    privacy.requests_address = Oficina de Datos Personales, planta baja\n\
                    privacy.contact_email = privacidad@salud.chiapas.example\n\
                    privacy.contact_phone = 961 000 0000\n\
                    privacy.office_hours = lunes a viernes, 9:00 a 15:00\n\
                    privacy.privacy_officer = Unidad de Transparencia\n\
                    privacy.notice_url = https://salud.chiapas.example/privacidad\n\
                    privacy.effective_date = 1 de diciembre de 2026\n";
        c.apply_file(text).unwrap();
    })
    .await;
    for (lang, simplified) in [("es", false), ("es", true), ("en", false), ("en", true)] {
        let n = expect(
            app.client()
                .get(app.url(&format!("/api/privacy-notice/v1/{lang}?simplified={simplified}")))
                .send()
                .await
                .unwrap(),
            StatusCode::OK,
        )
        .await;
        let text = n["text"].as_str().unwrap();
        assert!(text.contains("Servicios de Salud de Chiapas"), "{lang} {simplified}");
        assert!(
            !text.contains("{{") && !text.contains("[operator_"),
            "{lang} {simplified}: unfilled field"
        );
    }
    let health = expect(
        app.client().get(app.url("/healthz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(health["privacy_notice_unconfigured"].as_array().unwrap().is_empty());
}

/// Participants the relay holds, from `/metrics`.
async fn relay_participants(app: &TestApp) -> u64 {
    let text = app
        .client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("cerca_relay_participants "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no participant count in\n{text}"))
}

async fn network_check_runs_alone_in_the_relay_and_ends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 10).await;
    let token = created["join_link"]["token"].as_str().unwrap().to_string();
    let patient = app.client();
    let url = app.url(&format!("/api/join/{token}/network-check"));
    // A fresh peer's offer each time (an offer is good for one negotiation).
    let offer = || async { crate::common::media::Client::start("patient", 2).await.create_offer() };

    // Not before consent: nothing reaches the relay before the notice is accepted.
    expect_error(
        patient
            .post(&url)
            .json(&json!({"sdp": offer().await}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "consent_required",
    )
    .await;
    give_consent(&app, &token).await;
    for (body, code) in [
        (json!({"sdp": "not an sdp"}), "bad_sdp"),
        (json!({"sdp": ""}), "bad_sdp"),
        (json!({"sdp": "v=0\r\n".repeat(10_000)}), "bad_sdp"),
        (json!({"offer": "x"}), "malformed"),
    ] {
        let res = patient.post(&url).json(&body).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let got: serde_json::Value = res.json().await.unwrap();
        assert!(got["error"]["code"] == code || code == "malformed", "{got}");
    }
    assert_eq!(
        relay_participants(&app).await,
        0,
        "refused checks leave nothing in the relay"
    );

    let start = || async {
        let res = patient.post(&url).json(&json!({"sdp": offer().await})).send();
        expect(res.await.unwrap(), StatusCode::OK).await
    };
    let check = start().await;
    let sdp = check["sdp"].as_str().unwrap();
    assert!(sdp.contains("a=ice-lite") && sdp.contains("a=candidate:"), "{sdp}");
    assert_eq!(check["expires_in_s"], 20);
    assert_eq!(relay_participants(&app).await, 1);
    // A second check replaces the first: still one.
    let second = start().await;
    assert_ne!(second["check_id"], check["check_id"]);
    assert_eq!(relay_participants(&app).await, 1);
    // Ending the old one is a 404; ending the current one empties the relay.
    let stop = |id: &serde_json::Value| format!("{url}/{}", id.as_str().unwrap());
    expect_error(
        patient.delete(stop(&check["check_id"])).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = patient.delete(stop(&second["check_id"])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(relay_participants(&app).await, 0);
    app.stop().await;
}
