//! The JSON API under `/api`: one module per resource, the router, and the
//! OpenAPI document generated from the handlers' annotations.

pub mod access;
pub mod auth;
pub mod cie10;
pub mod consent;
pub mod consults;
pub mod join;
pub mod join_links;
pub mod network_check;
pub mod notes;
pub mod patients;
pub mod time;
pub mod users;
pub mod validate;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Largest request body accepted. A full note is well under this; anything
/// bigger is refused with 413 before it is parsed.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cerca API",
        description = "Telemedicine consults for rural Mexico. Errors are always `{ \"error\": { \"code\", \"message\" } }`."
    ),
    paths(
        auth::login,
        auth::logout,
        auth::me,
        auth::change_password,
        users::create,
        users::list,
        users::update,
        users::specialists,
        users::create_clinic,
        users::list_clinics,
        patients::create,
        patients::search,
        patients::get,
        patients::update,
        consults::create,
        consults::list,
        consults::get,
        consults::for_patient,
        consults::reschedule,
        consults::change_status,
        join_links::reissue,
        join_links::revoke,
        consent::notice_index,
        consent::notice,
        consent::kiosk_consent,
        consent::staff_revoke,
        consent::list,
        join::info,
        join::give_consent,
        join::revoke_consent,
        join::arrive,
        network_check::start,
        network_check::stop,
        notes::get,
        notes::save,
        notes::sign,
        notes::add_addendum,
        notes::export,
        cie10::search,
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/password", post(auth::change_password))
        .route("/users", post(users::create).get(users::list))
        .route("/users/{id}", axum::routing::patch(users::update))
        .route("/specialists", get(users::specialists))
        .route("/clinics", post(users::create_clinic).get(users::list_clinics))
        .route("/patients", post(patients::create).get(patients::search))
        .route("/patients/{id}", get(patients::get).patch(patients::update))
        .route("/patients/{id}/consults", get(consults::for_patient))
        .route("/consults", post(consults::create).get(consults::list))
        .route("/consults/{id}", get(consults::get).patch(consults::reschedule))
        .route("/consults/{id}/status", post(consults::change_status))
        .route(
            "/consults/{id}/join-link",
            post(join_links::reissue).delete(join_links::revoke),
        )
        .route("/consults/{id}/consent", post(consent::kiosk_consent))
        .route("/consults/{id}/consent/revoke", post(consent::staff_revoke))
        .route("/consults/{id}/consents", get(consent::list))
        .route("/consults/{id}/note", get(notes::get).put(notes::save))
        .route("/consults/{id}/note/sign", post(notes::sign))
        .route("/consults/{id}/note/addenda", post(notes::add_addendum))
        .route("/consults/{id}/note/export", get(notes::export))
        .route("/privacy-notice", get(consent::notice_index))
        .route("/privacy-notice/{version}/{language}", get(consent::notice))
        .route("/join/{token}", get(join::info))
        .route("/join/{token}/consent", post(join::give_consent))
        .route("/join/{token}/consent/revoke", post(join::revoke_consent))
        .route("/join/{token}/arrive", post(join::arrive))
        .route("/join/{token}/network-check", post(network_check::start))
        .route(
            "/join/{token}/network-check/{check_id}",
            axum::routing::delete(network_check::stop),
        )
        .route("/cie10", get(cie10::search))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("endpoint")
}

async fn method_not_allowed() -> (axum::http::StatusCode, Json<ErrorBody>) {
    (
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        Json(crate::error::error_body(
            "method_not_allowed",
            "this endpoint does not take that method",
        )),
    )
}
