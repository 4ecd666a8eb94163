//! http: `/metrics` (Prometheus text), `/healthz` (the process is alive), `/readyz` (the
//! identity index is loaded and the worker is consuming).

use crate::telemetry::Metrics;
use crate::worker::Status;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    status: Arc<Status>,
}

pub fn router(metrics: Arc<Metrics>, status: Arc<Status>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { metrics, status })
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn ready_handler(State(s): State<AppState>) -> impl IntoResponse {
    if s.status.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Bind `listen` and serve until `shutdown` turns true. Returns the bound address (useful with
/// port 0) once listening.
pub async fn serve(
    listen: &str,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(metrics, status);
    let handle = tokio::spawn(async move {
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "http server failed");
        }
    });
    Ok((addr, handle))
}
