//! Microsoft Graph: the HTTP client used by the Microsoft 365 tools (requests, paging, `$batch`,
//! retries), the delegated token providers, query building and the per-user cache. Nothing here
//! knows about tools: callers pass a [`CallContext`] and get [`GraphError`]s back.

mod batch;
mod cache;
mod call;
mod client;
mod endpoint;
mod error;
mod metrics;
pub mod odata;
mod paging;
mod request;
mod retry;
mod token;

pub use batch::{BatchItem, BatchResponse};
pub use cache::{CacheKind, UserCache};
pub use call::CallContext;
pub use client::{GraphClient, GraphClientConfig};
pub use endpoint::Endpoint;
pub use error::GraphError;
pub use metrics::GraphMetrics;
pub use paging::Page;
pub use request::GraphRequest;
pub use retry::RetryPolicy;
pub use token::{
    AccessToken, DEV_GRAPH_TOKEN, DevTokenProvider, GraphTokenProvider, OboSettings, OboTokenProvider,
    ProviderSetupError, TokenError, provider_for,
};
