//! The browser app in `web-client/`, embedded at compile time so the binary
//! is the whole deployment. `/j/<token>` serves the patient page; the page
//! reads the token from its own URL.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

use crate::state::AppState;

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../web-client");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .route("/app", get(|| async { file("app.html") }))
        .route("/kiosk", get(|| async { file("kiosk.html") }))
        .route("/j/{token}", get(|| async { file("patient.html") }))
        .route(
            "/static/{*path}",
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

fn file(path: &str) -> Response {
    match WEB.get_file(path) {
        Some(f) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            ([(header::CONTENT_TYPE, mime.as_ref().to_string())], f.contents()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
