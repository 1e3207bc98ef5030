//! The bridge: a stdio MCP server for the local client whose every message goes to the tenant
//! over Streamable HTTP, and back. Messages pass through unchanged (initialize and the protocol
//! version are negotiated by the two ends); only transport failures are answered here, as
//! JSON-RPC errors to the requests they cut off, so the local client never waits forever.

use std::{collections::HashSet, sync::Arc, time::Duration};

use rmcp::{
    RoleClient, RoleServer,
    model::{ClientJsonRpcMessage, ErrorCode, ErrorData, JsonRpcError, RequestId, ServerJsonRpcMessage},
    transport::{
        StreamableHttpClientTransport, Transport, async_rw::AsyncRwTransport,
        common::client_side_sse::ExponentialBackoff,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::sync::mpsc;

use crate::{
    error::{Error, Result},
    session::{AuthorizedClient, Session},
};

/// Reconnects of a broken server stream before its requests are answered with an error.
const STREAM_RETRIES: usize = 3;

/// The upstream transport: rmcp's Streamable HTTP client with the session's tokens, reconnecting
/// a broken stream a few times only (its default retries forever).
pub fn connect(
    http: reqwest::Client,
    session: Arc<Session>,
) -> StreamableHttpClientTransport<AuthorizedClient> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(session.resource());
    let mut backoff = ExponentialBackoff::default();
    backoff.max_times = Some(STREAM_RETRIES);
    backoff.base_duration = Duration::from_millis(500);
    backoff.max_delay = Some(Duration::from_secs(2));
    config.retry_config = Arc::new(backoff);
    StreamableHttpClientTransport::with_client(AuthorizedClient::new(http, session), config)
}

/// Serves the local client on stdin/stdout until it closes its end (Ok) or the tenant's end
/// goes away (an error, after every open request has been answered).
pub async fn run(http: reqwest::Client, session: Arc<Session>) -> Result<()> {
    let resource = session.resource().to_owned();
    let local = AsyncRwTransport::<RoleServer, _, _>::new_server(tokio::io::stdin(), tokio::io::stdout());
    let remote = connect(http, session);
    pump(local, remote, &resource).await
}

/// Moves messages between `local` (the client's side) and `remote` (the tenant's side).
pub async fn pump<L, R>(mut local: L, mut remote: R, resource: &str) -> Result<()>
where
    L: Transport<RoleServer>,
    R: Transport<RoleClient>,
{
    // Requests sent to the tenant and not yet answered, to answer them if it goes away.
    let mut open: HashSet<RequestId> = HashSet::new();
    let (failed_tx, mut failed_rx) = mpsc::unbounded_channel::<(Option<RequestId>, String)>();
    let outcome = loop {
        tokio::select! {
            message = local.receive() => {
                let Some(message) = message else { break Ok(()) };
                let id = match &message {
                    ClientJsonRpcMessage::Request(request) => Some(request.id.clone()),
                    _ => None,
                };
                open.extend(id.clone());
                // The send resolves when the tenant has taken the message (a long call's stream
                // stays open): each in its own task, so a slow one holds up nothing else.
                let sent = remote.send(message);
                let failed = failed_tx.clone();
                tokio::spawn(async move {
                    if let Err(error) = sent.await {
                        let _ = failed.send((id, crate::error::describe(&error)));
                    }
                });
            }
            message = remote.receive() => {
                let Some(message) = message else {
                    break Err(Error::Unreachable {
                        url: resource.to_owned(),
                        reason: "the connection to the tenant ended".into(),
                    });
                };
                if let ServerJsonRpcMessage::Response(response) = &message {
                    open.remove(&response.id);
                } else if let ServerJsonRpcMessage::Error(error) = &message
                    && let Some(id) = &error.id
                {
                    open.remove(id);
                }
                if local.send(message).await.is_err() {
                    break Ok(());
                }
            }
            Some((id, reason)) = failed_rx.recv() => {
                tracing::warn!(%reason, "a message did not reach the tenant");
                match id {
                    Some(id) if open.remove(&id) => {
                        let answer = unreachable_error(Some(id), resource, &reason);
                        if local.send(answer).await.is_err() {
                            break Ok(());
                        }
                    }
                    _ => eprintln!("mcp-tenant: a message did not reach {resource}: {reason}"),
                }
            }
        }
    };
    if let Err(error) = &outcome {
        eprintln!("mcp-tenant: {error}");
        for id in open.drain() {
            let _ = local
                .send(unreachable_error(
                    Some(id),
                    resource,
                    "the connection to the tenant ended",
                ))
                .await;
        }
    }
    let _ = remote.close().await;
    let _ = local.close().await;
    outcome
}

fn unreachable_error(id: Option<RequestId>, resource: &str, reason: &str) -> ServerJsonRpcMessage {
    ServerJsonRpcMessage::Error(JsonRpcError::new(
        id,
        ErrorData::new(
            ErrorCode::INTERNAL_ERROR,
            format!("mcp-tenant could not reach {resource}: {reason}"),
            None,
        ),
    ))
}
