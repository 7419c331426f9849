//! Assembles the application and serves it until the shutdown future
//! completes. `main` binds the listener and passes a signal future; tests pass
//! a `127.0.0.1:0` listener and their own future.

use std::future::Future;
use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::error_body;
use crate::state::AppState;

pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api", crate::api::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::metrics))
        .route("/ws", get(crate::ws::upgrade))
        .merge(crate::web::router())
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::REFERRER_POLICY,
            // Join links carry a secret in the path; never leak it to other sites.
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(TraceLayer::new_for_http())
        // A panic is a bug; answer with the JSON error shape, never a dropped connection.
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(error_body("internal", "internal error")),
            )
                .into_response()
        }))
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    let ok = crate::on_db!(&state.db, pool => sqlx::query("SELECT 1").execute(pool).await.is_ok());
    let missing = crate::api::consent::missing_notice_fields(&state.config);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if ok { "ok" } else { "database unavailable" },
            "backend": state.db.backend(),
            "privacy_notice_unconfigured": missing,
        })),
    )
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let db = state.db.clone();
    tracing::info!(addr = %listener.local_addr()?, backend = db.backend(), "cerca listening");
    let missing = crate::api::consent::missing_notice_fields(&state.config);
    if !missing.is_empty() {
        // Patients would consent to a notice that does not name who holds their data.
        tracing::warn!(
            ?missing,
            "privacy notice not fully configured: set privacy.<field> in the config file"
        );
    }
    // Upgraded sockets outlive graceful shutdown; tell them to close (which
    // also lets the media relay stop once their state handles drop).
    let rooms = state.rooms.clone();
    let shutdown = async move {
        shutdown.await;
        rooms.shutdown();
    };
    axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await?;
    db.close().await;
    tracing::info!("cerca stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
