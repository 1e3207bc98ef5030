//! The two routers: the public one with `/mcp` and OAuth metadata; the operations one with
//! `/metrics`, `/healthz`, `/readyz`.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use http::StatusCode;
use mcp_tenancy_config::{HEALTH_PATH, READY_PATH};
use tower_http::timeout::TimeoutLayer;

pub use crate::state::{AppState, Extras, StateError};
use crate::{
    http::{guards, headers, protect, well_known},
    mcp::endpoint,
    request_id,
};

/// Counts and times HTTP requests by matched route (bounded labels).
async fn track_http(
    State(state): State<AppState>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = route.map_or_else(|| "unmatched".to_owned(), |r| r.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let method = if matches!(method.as_str(), "GET" | "POST" | "DELETE" | "OPTIONS") {
        method
    } else {
        "other".into()
    };
    let response = next.run(request).await;
    let m = &state.metrics;
    m.http_requests
        .with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The public router: `/mcp` (authenticated) and the RFC 9728 metadata.
pub fn app(state: AppState) -> Router {
    let mcp = Router::new()
        .route("/mcp", any(endpoint::mcp))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            protect::authenticate,
        ));
    let mut public = Router::new()
        .route("/.well-known/oauth-protected-resource", get(well_known::root))
        .route("/.well-known/oauth-protected-resource/mcp", get(well_known::mcp));
    if let Some(server) = &state.oauth {
        public = public.merge(crate::oauth::router(
            server.clone(),
            state.mcp.calls.registry.clone(),
        ));
    }
    if let Some(upstream) = &state.dev_sign_in {
        public = public.merge(crate::dev::sign_in_routes(upstream.clone()));
    }
    let public = public.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(10),
    ));
    let mut router = Router::new()
        .merge(mcp)
        .merge(public)
        .route_layer(middleware::from_fn_with_state(state.clone(), track_http))
        .layer(headers::cors_layer(&state.config))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guards::check_host_and_origin,
        ))
        .layer(middleware::from_fn(request_id::assign_request_id));
    for layer in headers::security_header_layers() {
        router = router.layer(layer);
    }
    router.with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let keys = state.gate.auth.ready().await;
    let store = state.store.ping().await.is_ok();
    let status = if keys && store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({"config": true, "keys": keys, "store": store})),
    )
        .into_response()
}

/// The operations router, on its own port: `/metrics`, `/healthz`, `/readyz`.
pub fn ops_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(HEALTH_PATH, get(|| async { "ok" }))
        .route(READY_PATH, get(readyz))
        .with_state(state)
}
