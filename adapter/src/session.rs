//! A signed-in connection to one tenant: the stored sign-in, renewed when it nears expiry or the
//! server refuses it, and an HTTP client for rmcp's Streamable HTTP transport that sends the
//! current token with every request.

use std::{collections::HashMap, sync::Arc};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use tokio::sync::Mutex;

use crate::{
    error::{Error, Result},
    oauth,
    store::{SignIn, Store},
};

pub struct Session {
    http: reqwest::Client,
    store: Store,
    resource: String,
    current: Mutex<SignIn>,
    /// Why the sign-in ended, once a renewal said so.
    ended: std::sync::Mutex<Option<Error>>,
}

impl Session {
    /// The stored sign-in for `resource`; an error that says to log in when there is none.
    pub fn open(http: reqwest::Client, store: Store, resource: &str) -> Result<Arc<Self>> {
        let Some(sign_in) = store.load(resource)? else {
            return Err(Error::SignIn {
                resource: resource.to_owned(),
                reason: "there is no sign-in on this device".into(),
            });
        };
        Ok(Arc::new(Self {
            http,
            store,
            resource: resource.to_owned(),
            current: Mutex::new(sign_in),
            ended: std::sync::Mutex::new(None),
        }))
    }

    /// The sign-in error a renewal met, if one did: the reason a request failed.
    pub fn sign_in_error(&self) -> Option<Error> {
        let ended = self.ended.lock().ok()?;
        match &*ended {
            Some(Error::SignIn { resource, reason }) => Some(Error::SignIn {
                resource: resource.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        }
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// An access token that is not about to expire.
    pub async fn token(&self) -> Result<String> {
        let mut current = self.current.lock().await;
        if oauth::expiring(&current) {
            self.renew_locked(&mut current).await?;
        }
        Ok(current.access_token.clone())
    }

    /// A token other than `rejected` (which the server refused): renewed unless another request
    /// already renewed it.
    pub async fn replace(&self, rejected: &str) -> Result<String> {
        let mut current = self.current.lock().await;
        if current.access_token == rejected {
            self.renew_locked(&mut current).await?;
        }
        Ok(current.access_token.clone())
    }

    async fn renew_locked(&self, current: &mut SignIn) -> Result<()> {
        match oauth::refresh(&self.http, current).await {
            Ok(renewed) => {
                // The old refresh token is spent (rotation): the new one must be kept.
                self.store.save(&renewed)?;
                tracing::info!(resource = %self.resource, "renewed the access token");
                *current = renewed;
                Ok(())
            }
            Err(error) => {
                if let Error::SignIn { resource, reason } = &error {
                    eprintln!("mcp-tenant: {error}");
                    if let Ok(mut ended) = self.ended.lock() {
                        *ended = Some(Error::SignIn {
                            resource: resource.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
                Err(error)
            }
        }
    }
}

/// rmcp's reqwest client with the session's token on every request; a 401 renews the token once
/// and repeats the request.
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    session: Arc<Session>,
}

impl AuthorizedClient {
    pub fn new(http: reqwest::Client, session: Arc<Session>) -> Self {
        Self { http, session }
    }

    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, StreamableHttpError<reqwest::Error>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        let token = self.session.token().await.map_err(transport_error)?;
        match call(token.clone()).await {
            Err(StreamableHttpError::AuthRequired(challenge)) => {
                tracing::debug!(%challenge, "the server refused the access token; renewing it");
                let renewed = self.session.replace(&token).await.map_err(transport_error)?;
                call(renewed).await
            }
            other => other,
        }
    }
}

/// A session error where the transport wants one: its message is what the local client sees.
fn transport_error(error: Error) -> StreamableHttpError<reqwest::Error> {
    StreamableHttpError::Io(std::io::Error::other(error.to_string()))
}

impl StreamableHttpClient for AuthorizedClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.delete_session(
                uri.clone(),
                session_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<sse_stream::Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                Some(token),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<sse_stream::Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.with_token(|token| {
            self.http.get_stream_with_max_sse_event_size(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                Some(token),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }
}
