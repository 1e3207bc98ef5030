//! Microsoft 365 tools over Microsoft Graph. Every call runs with the calling user's delegated
//! Graph token (from the [`GraphTokenProvider`](crate::graph::GraphTokenProvider) inside the
//! [`GraphClient`]), never with the MCP client's token.

mod brief;
mod calendar;
mod directory;
mod mail;
mod model;
mod teams;
mod text;
mod triage;
mod upstream;

use std::{marker::PhantomData, sync::Arc, time::Duration};

use async_trait::async_trait;
use mcp_tenancy_config::GraphConfig;
use prometheus::Registry;
use rmcp::model::ToolAnnotations;
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

pub use triage::{Scored, Signals, TriageMessage, score_message};

use crate::{
    graph::{GraphClient, GraphClientConfig, GraphError, GraphMetrics, GraphTokenProvider, UserCache},
    tools::{Tool, ToolContext, ToolDefinition, ToolError, ToolOutput, ToolResult},
};

/// What the Microsoft 365 tools share: the Graph client (which holds the token provider) and
/// the per-user cache of repeated read-only answers.
#[derive(Clone)]
pub struct M365Deps {
    pub graph: Arc<GraphClient>,
    pub cache: Arc<UserCache>,
}

/// Why the Microsoft 365 tools could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum M365SetupError {
    #[error("Graph client: {0}")]
    Graph(#[from] GraphError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl M365Deps {
    /// How long combined tools reuse a user's profile, manager, people and sent-items answers.
    pub const CACHE_TTL: Duration = Duration::from_secs(300);
    /// Most cached answers kept (four kinds per active user).
    pub const CACHE_ENTRIES: u64 = 20_000;

    /// The Graph client for `graph` (base URL and API version from the tenant config) using
    /// `tokens` for delegated tokens, and the per-user cache; metrics go to `registry`.
    pub fn new(
        graph: &GraphConfig,
        tokens: Arc<dyn GraphTokenProvider>,
        registry: &Registry,
    ) -> Result<Self, M365SetupError> {
        let metrics = GraphMetrics::register(registry)?;
        let client = GraphClient::new(GraphClientConfig::from_config(graph), tokens, metrics)?;
        let cache = UserCache::new(Self::CACHE_TTL, Self::CACHE_ENTRIES, registry)?;
        Ok(Self {
            graph: Arc::new(client),
            cache: Arc::new(cache),
        })
    }
}

/// Every Microsoft 365 tool, in catalog order. The server filters them by config (groups,
/// read-only drops the tools whose catalog entry `writes`, disabled names) and by role.
pub fn m365_tools(deps: M365Deps) -> Vec<Arc<dyn Tool>> {
    vec![
        adapt::<mail::ListMessages>(&deps),
        adapt::<mail::Search>(&deps),
        adapt::<mail::GetMessage>(&deps),
        adapt::<mail::Send>(&deps),
        adapt::<mail::Reply>(&deps),
        adapt::<mail::CreateDraft>(&deps),
        adapt::<triage::InboxTriage>(&deps),
        adapt::<calendar::ListEvents>(&deps),
        adapt::<calendar::CreateEvent>(&deps),
        adapt::<calendar::FindMeetingTimes>(&deps),
        adapt::<brief::MeetingBrief>(&deps),
        adapt::<teams::ListTeams>(&deps),
        adapt::<teams::ListChannels>(&deps),
        adapt::<teams::SendChannelMessage>(&deps),
        adapt::<teams::CreateOnlineMeeting>(&deps),
        adapt::<directory::ContactsSearch>(&deps),
        adapt::<directory::PeopleSearch>(&deps),
        adapt::<directory::FilesSearch>(&deps),
    ]
}

/// A typed Microsoft 365 tool; [`Adapter`] turns it into a [`Tool`].
#[async_trait]
trait M365Tool: Send + Sync + 'static {
    type Args: DeserializeOwned + JsonSchema + Send;
    type Output: Serialize + JsonSchema;
    const NAME: &'static str;
    const TITLE: &'static str;
    const DESCRIPTION: &'static str;
    /// Whether it sends, creates or changes anything (then it is marked destructive).
    const WRITES: bool;

    /// Runs with validated arguments; returns the structured result and a one-line summary.
    async fn run(
        deps: &M365Deps,
        ctx: &ToolContext,
        args: Self::Args,
    ) -> Result<(Self::Output, String), ToolError>;
}

struct Adapter<T: M365Tool> {
    deps: M365Deps,
    definition: ToolDefinition,
    _tool: PhantomData<fn() -> T>,
}

fn object_schema<T: JsonSchema>() -> Arc<Map<String, Value>> {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    match v.as_object_mut() {
        Some(o) => {
            o.remove("$schema");
            Arc::new(std::mem::take(o))
        }
        None => Arc::new(Map::from_iter([(
            "type".to_string(),
            Value::String("object".into()),
        )])),
    }
}

fn adapt<T: M365Tool>(deps: &M365Deps) -> Arc<dyn Tool> {
    let annotations = if T::WRITES {
        ToolAnnotations::with_title(T::TITLE)
            .read_only(false)
            .destructive(true)
            .idempotent(false)
            .open_world(true)
    } else {
        ToolAnnotations::with_title(T::TITLE)
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(true)
    };
    Arc::new(Adapter::<T> {
        deps: deps.clone(),
        definition: ToolDefinition {
            name: T::NAME,
            title: T::TITLE,
            description: T::DESCRIPTION,
            input_schema: object_schema::<T::Args>(),
            output_schema: object_schema::<T::Output>(),
            annotations,
        },
        _tool: PhantomData,
    })
}

#[async_trait]
impl<T: M365Tool> Tool for Adapter<T> {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult {
        let args: T::Args = serde_json::from_value(Value::Object(arguments))
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let (output, text) = T::run(&self.deps, ctx, args).await?;
        let structured = serde_json::to_value(output).map_err(|e| {
            tracing::error!(tool = T::NAME, error = %e, "tool output did not serialize");
            ToolError::Internal {
                request_id: ctx.request_id.clone(),
            }
        })?;
        Ok(ToolOutput { structured, text })
    }
}

/// `value` (default `default`) within `1..=max`, or an error naming the argument.
fn bounded(name: &str, value: Option<u32>, default: u32, max: u32) -> Result<u32, ToolError> {
    let v = value.unwrap_or(default);
    if (1..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ToolError::InvalidArguments(format!(
            "`{name}` must be between 1 and {max}"
        )))
    }
}

fn invalid(e: impl std::fmt::Display) -> ToolError {
    ToolError::InvalidArguments(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deps_from_config_register_their_metrics_once() {
        let graph = GraphConfig {
            base_url: "https://graph.microsoft.com".parse().unwrap(),
            api_version: "v1.0".into(),
        };
        let tokens: Arc<dyn GraphTokenProvider> = Arc::new(
            crate::graph::DevTokenProvider::new(mcp_tenancy_config::Environment::Development).unwrap(),
        );
        let registry = Registry::new();
        let deps = M365Deps::new(&graph, tokens.clone(), &registry).unwrap();
        assert_eq!(m365_tools(deps).len(), 18);
        assert!(matches!(
            M365Deps::new(&graph, tokens, &registry),
            Err(M365SetupError::Metrics(_))
        ));
    }

    #[test]
    fn bounds_are_enforced() {
        assert_eq!(bounded("count", None, 10, 50).unwrap(), 10);
        assert!(bounded("count", Some(51), 10, 50).is_err());
        assert!(bounded("count", Some(0), 10, 50).is_err());
    }
}
