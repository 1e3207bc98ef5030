//! Runs the routers on their listeners until shutdown: stop accepting, let tool calls in
//! progress finish (bounded by the request timeout), then end sessions and streams.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::app::{AppState, app, ops_app};

/// How often idle sessions and rate-limit buckets are swept (at least twice per idle timeout, so
/// that shared sessions with requests in flight stay alive in the store).
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

pub async fn serve(
    state: AppState,
    listener: TcpListener,
    ops_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = {
        let state = state.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let idle = state.config.server.session_idle_timeout.as_duration();
            let every = SWEEP_INTERVAL.min(idle / 2).max(Duration::from_secs(1));
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        state.mcp.sessions.sweep().await;
                        state.gate.limits.sweep();
                    }
                    () = stop.cancelled() => return,
                }
            }
        })
    };

    // Shared sessions: the other replicas' cancellations and session ends.
    let follower = {
        let state = state.clone();
        let stop = stop.clone();
        tokio::spawn(async move { state.mcp.sessions.follow(stop).await })
    };

    // Without TCP_NODELAY every small SSE write waits for the peer's delayed ACK (~40 ms).
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    // On the signal: stop accepting at once, let tool calls in progress finish, then end the
    // sessions and their streams so the open connections can close.
    let signalled = tokio_util::sync::CancellationToken::new();
    let drain = {
        let state = state.clone();
        let stop = stop.clone();
        let signalled = signalled.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => return,
            }
            signalled.cancel();
            tracing::info!(
                in_flight = state.mcp.calls.inflight.count(),
                "shutting down: finishing tool calls in progress"
            );
            let grace = state.config.server.request_timeout.as_duration();
            if tokio::time::timeout(grace, state.mcp.calls.inflight.wait_idle())
                .await
                .is_err()
            {
                tracing::warn!("tool calls still running at the end of the grace period");
            }
            state.sessions_shutdown.cancel();
            stop.cancel();
        })
    };
    let ops = {
        let stop = stop.clone();
        axum::serve(ops_listener, ops_app(state.clone()))
            .with_graceful_shutdown(async move { stop.cancelled().await })
    };
    let main = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signalled.cancelled_owned());
    let (main, ops) = tokio::join!(main, ops);
    stop.cancel();
    let _ = sweeper.await;
    let _ = follower.await;
    let _ = drain.await;
    tracing::info!("stopped");
    main.and(ops)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received");
}
