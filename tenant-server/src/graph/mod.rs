//! Microsoft Graph: the HTTP client used by the Microsoft 365 tools, the delegated token
//! providers, query building and the per-user cache.

mod cache;
mod client;
mod error;
mod metrics;
pub mod odata;
mod token;

pub use cache::{CacheKind, UserCache};
pub use client::{BatchItem, BatchResponse, GraphClient, GraphClientConfig, GraphRequest, Page, RetryPolicy};
pub use error::GraphError;
pub use metrics::{Endpoint, GraphMetrics};
pub use token::{
    AccessToken, DEV_GRAPH_TOKEN, DevTokenProvider, GraphTokenProvider, OboSettings, OboTokenProvider,
    ProviderSetupError, TokenError, provider_for,
};
