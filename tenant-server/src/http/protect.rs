//! The layer in front of `/mcp`: per-IP rate limit, bearer token verification (every request),
//! per-user rate limit. The verified [`Caller`](crate::caller::Caller) goes into the request
//! extensions, where rmcp hands it to the MCP handler.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};

use super::{
    errors::{rate_limited, unauthorized},
    guards::RequestId,
    resource_metadata_url,
};
use crate::{app::AppState, audit, auth::bearer_token, ratelimit::retry_after_secs};

pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();

    if let Err(wait) = state.limits.per_ip.check(&client_ip) {
        state.metrics.rate_limited.with_label_values(&["ip"]).inc();
        return rate_limited(retry_after_secs(wait));
    }

    let verified = match bearer_token(request.headers()) {
        Ok(token) => state.auth.authenticate(token).await,
        Err(failure) => Err(failure),
    };
    let caller = match verified {
        Ok(caller) => caller,
        Err(failure) => {
            state
                .metrics
                .auth_failures
                .with_label_values(&[failure.reason()])
                .inc();
            audit::auth_failure(&state.config.tenant.name, failure, &client_ip, &request_id);
            return unauthorized(&resource_metadata_url(&state.config), failure);
        }
    };

    if let Err(wait) = state.limits.per_user.check(&caller.user_key()) {
        state.metrics.rate_limited.with_label_values(&["user"]).inc();
        return rate_limited(retry_after_secs(wait));
    }

    request.extensions_mut().insert(caller);
    next.run(request).await
}
