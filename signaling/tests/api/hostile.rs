//! Every documented endpoint gets hostile input: malformed JSON, oversized
//! bodies, wrong types, SQL metacharacters, invalid UTF-8, bad path and query
//! values. The answer must be a 4xx with the JSON error shape (or a success
//! where the input is harmless), never a 5xx, and the server must stay up.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

both_backends!(every_endpoint_survives_hostile_input, openapi_documents_the_router);

const SQL: &str = "'; DROP TABLE patients; --";

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let sqlish = json!({
        "email": SQL, "password": SQL, "given_names": SQL, "family_names": SQL, "reason": SQL, "q": SQL,
        "curp": SQL, "notice_version": SQL, "language": SQL, "status": SQL, "body": SQL, "clues": SQL, "name": SQL,
        "role": SQL, "full_name": SQL, "kind": SQL
    });
    let wrong_types = json!({
        "email": 1, "password": [], "patient_id": "uno", "starts_at": 12, "duration_min": "30", "version": "1",
        "body": {"vital_signs": {"temperature_c": "hot"}}, "accept_privacy": "yes", "status": 3, "sex": "Z",
        "date_of_birth": "ayer", "active": "no", "kind": 0
    });
    vec![
        ("malformed", b"{\"email\": \"a\", ".to_vec()),
        ("not-an-object", b"[1,2,3]".to_vec()),
        ("string", b"\"hola\"".to_vec()),
        ("null", b"null".to_vec()),
        ("deep-nesting", deep.into_bytes()),
        (
            "invalid-utf8",
            vec![b'{', b'"', b'e', b'"', b':', b'"', 0xff, 0xfe, b'"', b'}'],
        ),
        ("sql-metacharacters", sqlish.to_string().into_bytes()),
        ("wrong-types", wrong_types.to_string().into_bytes()),
        (
            "oversized",
            format!("{{\"reason\": \"{}\"}}", "a".repeat(400 * 1024)).into_bytes(),
        ),
        ("empty", Vec::new()),
    ]
}

/// Concrete paths for a documented template: valid ids/tokens, and hostile ones.
fn fill(template: &str, consult_id: i64, patient_id: i64, token: &str) -> Vec<String> {
    let valid = template
        .replace(
            "{id}",
            &if template.starts_with("/api/patients") {
                patient_id
            } else {
                consult_id
            }
            .to_string(),
        )
        .replace("{token}", token)
        .replace("{version}", "v1")
        .replace("{language}", "es");
    let mut out = vec![valid];
    if template.contains('{') {
        for bad in [
            "%27%3B%20DROP%20TABLE%20x%3B--",
            "%FF%FE",
            "99999999999999999999999",
            "-1",
            "%00",
        ] {
            let mut p = template.to_string();
            for param in ["{id}", "{token}", "{version}", "{language}"] {
                p = p.replace(param, bad);
            }
            out.push(p);
        }
    }
    out
}

async fn check(app: &TestApp, client: &Client, method: &Method, path: &str, label: &str, body: Option<&[u8]>) {
    let mut req = client.request(method.clone(), app.url(path));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_vec());
    }
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} [{label}]: connection failed: {e}"));
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    assert!(
        !status.is_server_error(),
        "{method} {path} [{label}] -> {status}: {text}"
    );
    if status.is_client_error() {
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} [{label}] -> {status}, non-JSON: {text}"));
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{method} {path} [{label}]: {text}"
        );
    }
}

async fn every_endpoint_survives_hostile_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    let created = schedule(&app, &w, 10).await;
    let consult_id = created["consult"]["id"].as_i64().unwrap();
    let token = created["join_link"]["token"].as_str().unwrap().to_string();
    let doc = expect(
        app.client().get(app.url("/api/openapi.json")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let anonymous = app.client();
    let mut requests = 0;
    for (template, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // The logout endpoint would end the specialist's session mid-test.
            if template == "/api/auth/logout" {
                continue;
            }
            for path in fill(template, consult_id, w.patient_id, &token) {
                for client in [&w.specialist, &w.staff, &anonymous] {
                    for (label, body) in bodies() {
                        check(&app, client, &method, &path, label, Some(&body)).await;
                        requests += 1;
                    }
                    for query in [
                        "?q=%FF%FE",
                        "?day=2026-13-45&tz=%27",
                        "?limit=-5&simplified=maybe",
                        "?curp=%27%20OR%201%3D1",
                    ] {
                        check(&app, client, &method, &format!("{path}{query}"), "query", None).await;
                        requests += 1;
                    }
                }
            }
        }
    }
    assert!(requests > 1000, "sent {requests} hostile requests");
    // The data is intact and the server still serves.
    let p = expect(
        w.staff
            .get(app.url(&format!("/api/patients/{}", w.patient_id)))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(p["family_names"], "Núñez Pérez");
    expect(
        app.client().get(app.url("/healthz")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

async fn openapi_documents_the_router(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = expect(
        app.client().get(app.url("/api/openapi.json")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 25, "{} paths documented", paths.len());
    // Every documented operation exists: the router never answers "no such endpoint" for it.
    for (template, ops) in paths {
        let path = template
            .replace("{id}", "1")
            .replace("{token}", "x")
            .replace("{version}", "v1")
            .replace("{language}", "es");
        for method in ops.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client()
                .request(method.clone(), app.url(&path))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let missing = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND && body["error"]["message"] == "endpoint not found");
            assert!(!missing, "{method} {template} is documented but not routed");
        }
    }
}
