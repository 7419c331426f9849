//! Accounts: login, sessions, the rate limit, roles.

use reqwest::StatusCode;
use serde_json::json;
use signaling::auth::Role;

use crate::both_backends;
use crate::common::*;

both_backends!(
    login_me_logout,
    wrong_password_and_unknown_account_look_the_same,
    login_is_rate_limited_per_account,
    admin_creates_users_with_role_rules,
    only_admin_manages_users,
    deactivation_ends_sessions,
    session_cookie_is_httponly_and_strict,
    users_change_their_own_password,
);

async fn login_me_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let client = app.client();
    expect_error(
        client.get(app.url("/api/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let me = expect(
        client
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": " Admin@Cerca.MX ", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "admin");
    let me = expect(client.get(app.url("/api/me")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(me["email"], "admin@cerca.mx");
    expect(
        client.post(app.url("/api/auth/logout")).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        client.get(app.url("/api/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    // Sessions are stored hashed: no row holds a cookie value.
    let stored = app
        .scalar_text("SELECT token_hash FROM sessions LIMIT 1")
        .await
        .unwrap();
    assert_eq!(stored.len(), 64);
}

async fn wrong_password_and_unknown_account_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let c = app.client();
    let a = expect_error(
        c.post(app.url("/api/auth/login"))
            .json(&json!({"email": "admin@cerca.mx", "password": "equivocada123"}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let b = expect_error(
        c.post(app.url("/api/auth/login"))
            .json(&json!({"email": "nadie@cerca.mx", "password": "equivocada123"}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(a, b);
}

async fn login_is_rate_limited_per_account(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.login_attempts = 3).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let c = app.client();
    for _ in 0..3 {
        let res = c
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "admin@cerca.mx", "password": "equivocada123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while.
    expect_error(
        c.post(app.url("/api/auth/login"))
            .json(&json!({"email": "admin@cerca.mx", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    )
    .await;
}

async fn admin_creates_users_with_role_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    app.create_clinic("CSSSA001234").await;
    let admin = app.login("admin@cerca.mx").await;
    let post = |body: serde_json::Value| admin.post(app.url("/api/users")).json(&body).send();
    let spec = expect(
        post(
            json!({"email": "dra@cerca.mx", "password": PASSWORD, "role": "specialist", "full_name": "Dra. Ana López",
                    "cedula": "7654321", "specialty": "Cardiología"}),
        )
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(spec["cedula"], "7654321");
    expect_error(
        post(
            json!({"email": "dr2@cerca.mx", "password": PASSWORD, "role": "specialist", "full_name": "Dr. Sin Cédula"}),
        )
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    expect_error(
        post(json!({"email": "staff@cerca.mx", "password": PASSWORD, "role": "staff", "full_name": "Sin clínica"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await;
    expect_error(
        post(json!({"email": "staff@cerca.mx", "password": PASSWORD, "role": "staff", "full_name": "X", "clinic_clues": "NOEXISTE01"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "unknown_clinic",
    )
    .await;
    expect_error(
        post(json!({"email": "corta@cerca.mx", "password": "corta", "role": "admin", "full_name": "X"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    expect_error(
        post(json!({"email": "DRA@cerca.mx", "password": PASSWORD, "role": "admin", "full_name": "Otra"}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    let staff = expect(
        post(json!({"email": "staff@cerca.mx", "password": PASSWORD, "role": "staff", "full_name": "Enf. Rosa", "clinic_clues": "csssa001234"}))
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(staff["clinic_clues"], "CSSSA001234");
    let users = expect(admin.get(app.url("/api/users")).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(users.as_array().unwrap().len(), 3);
    assert!(users.to_string().find("password").is_none(), "no hashes in listings");
}

async fn only_admin_manages_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = world(&app).await;
    for client in [&w.specialist, &w.staff] {
        expect_error(
            client.get(app.url("/api/users")).send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        expect_error(
            client
                .post(app.url("/api/users"))
                .json(&json!({"email": "x@cerca.mx", "password": PASSWORD, "role": "admin", "full_name": "X"}))
                .send()
                .await
                .unwrap(),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    expect_error(
        app.client().get(app.url("/api/users")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

async fn deactivation_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let id = app.create_user("dra@cerca.mx", Role::Specialist, None).await;
    let admin = app.login("admin@cerca.mx").await;
    let dra = app.login("dra@cerca.mx").await;
    expect(dra.get(app.url("/api/me")).send().await.unwrap(), StatusCode::OK).await;
    let user = expect(
        admin
            .patch(app.url(&format!("/api/users/{id}")))
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(user["active"], false);
    expect_error(
        dra.get(app.url("/api/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    expect_error(
        app.client()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "dra@cerca.mx", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

async fn session_cookie_is_httponly_and_strict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("admin@cerca.mx", Role::Admin, None).await;
    let res = app
        .client()
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "admin@cerca.mx", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.starts_with("cerca_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
}

async fn users_change_their_own_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_user("dra@cerca.mx", Role::Specialist, None).await;
    let here = app.login("dra@cerca.mx").await;
    let elsewhere = app.login("dra@cerca.mx").await;
    let change = |current: &str, new: &str| {
        here.post(app.url("/api/me/password"))
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    expect_error(
        change("equivocada123", "nueva clave larga").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(
        change(PASSWORD, "corta").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    expect(
        change(PASSWORD, "nueva clave larga").await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    // This session stays; the other one ends; the old password no longer works.
    expect(here.get(app.url("/api/me")).send().await.unwrap(), StatusCode::OK).await;
    expect_error(
        elsewhere.get(app.url("/api/me")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let login = |password: &str| {
        app.client()
            .post(app.url("/api/auth/login"))
            .json(&json!({"email": "dra@cerca.mx", "password": password}))
            .send()
    };
    expect_error(
        login(PASSWORD).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect(login("nueva clave larga").await.unwrap(), StatusCode::OK).await;
}
