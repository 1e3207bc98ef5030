//! Microsoft 365 tools over Microsoft Graph. Every call runs with the calling user's delegated
//! Graph token (from the [`GraphTokenProvider`](crate::graph::GraphTokenProvider) inside the
//! [`GraphClient`]), never with the MCP client's token.

mod brief;
mod calendar;
mod catch_up;
mod directory;
mod files;
mod mail;
mod model;
mod tasks;
mod teams;
mod text;
mod triage;
mod upstream;

use std::{sync::Arc, time::Duration};

use mcp_tenancy_config::{AccessConfig, GraphConfig, ToolSets, catalog::find_tool};
use prometheus::Registry;

pub use triage::{Scored, Signals, TriageMessage, score_message};

use crate::{
    caller::Caller,
    graph::{GraphClient, GraphClientConfig, GraphError, GraphMetrics, GraphTokenProvider, UserCache},
    tools::{
        Tool, ToolError,
        typed::{TypedTool, typed},
    },
};

/// What the Microsoft 365 tools share: the Graph client (which holds the token provider), the
/// per-user cache of repeated read-only answers, which tools the tenant offers to whom (tools
/// that combine sources read a source only where its own tool is allowed), and, in Builtin mode,
/// the users' sign-ins.
#[derive(Clone)]
pub struct M365Deps {
    pub graph: Arc<GraphClient>,
    pub cache: Arc<UserCache>,
    pub policy: Arc<ToolPolicy>,
    pub sign_ins: Option<Arc<dyn SignIns>>,
}

/// Which tools a caller may use: the tenant offers them (`tools`) and the caller's tiers or
/// service account allow them (`access`), as `tools/call` decides.
#[derive(Clone, Debug, Default)]
pub struct ToolPolicy {
    pub tools: ToolSets,
    pub access: AccessConfig,
}

impl ToolPolicy {
    pub fn allows(&self, caller: &Caller, tool: &str) -> bool {
        find_tool(tool).is_some_and(|t| self.tools.offers(t))
            && crate::authz::decide(caller, &self.access, tool).is_allowed()
    }
}

/// When users signed in, for "since your last sign-in".
#[async_trait::async_trait]
pub trait SignIns: Send + Sync {
    /// When the caller signed in before the sign-in their token comes from, if on record.
    async fn previous_sign_in(&self, caller: &Caller) -> Option<jiff::Timestamp>;
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
        Ok(Self::from_parts(Arc::new(client), Arc::new(cache)))
    }

    /// Deps over `graph` and `cache` that offer every tool to everyone and know no sign-ins;
    /// [`M365Deps::with_policy`] and [`M365Deps::with_sign_ins`] narrow that.
    pub fn from_parts(graph: Arc<GraphClient>, cache: Arc<UserCache>) -> Self {
        Self {
            graph,
            cache,
            policy: Arc::new(ToolPolicy::default()),
            sign_ins: None,
        }
    }

    pub fn with_policy(mut self, policy: ToolPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    pub fn with_sign_ins(mut self, sign_ins: Arc<dyn SignIns>) -> Self {
        self.sign_ins = Some(sign_ins);
        self
    }
}

/// Every Microsoft 365 tool. The registry orders them by the catalog and filters them by config
/// (groups, read-only drops the tools whose catalog entry `writes`, disabled names) and by role.
pub fn m365_tools(deps: M365Deps) -> Vec<Arc<dyn Tool>> {
    [
        mail::tools,
        triage::tools,
        calendar::tools,
        brief::tools,
        catch_up::tools,
        teams::tools,
        directory::tools,
        files::tools,
        tasks::tools,
    ]
    .iter()
    .flat_map(|tools| tools(&deps))
    .collect()
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
    use mcp_tenancy_config::catalog::TOOL_CATALOG;

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
        let m365 = TOOL_CATALOG.iter().filter(|t| t.group.is_m365());
        assert_eq!(m365_tools(deps).len(), m365.count());
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
