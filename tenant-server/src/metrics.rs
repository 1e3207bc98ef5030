//! Prometheus metrics, served on their own port. Every label value comes from a bounded set:
//! tool names from the catalog (else `unknown`), tier names from config, fixed reasons and routes.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub tool_invocations: IntCounterVec,
    pub tool_duration: HistogramVec,
    pub active_sessions: IntGauge,
    pub auth_failures: IntCounterVec,
    pub rate_limited: IntCounterVec,
    /// Shared-state operations (Redis) that failed and fell back, by operation.
    pub shared_state_errors: IntCounterVec,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let tool_invocations = IntCounterVec::new(
            Opts::new(
                "mcp_tool_invocations_total",
                "Tool calls by tool, tier and status (ok, error, denied, input_required)",
            ),
            &["tool", "tier", "status"],
        )?;
        let tool_duration = HistogramVec::new(
            HistogramOpts::new("mcp_tool_duration_seconds", "Duration of tool calls").buckets(vec![
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["tool"],
        )?;
        let active_sessions = IntGauge::new("mcp_active_sessions", "Open MCP sessions")?;
        let auth_failures = IntCounterVec::new(
            Opts::new(
                "mcp_auth_failures_total",
                "Rejected requests by authentication failure reason",
            ),
            &["reason"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "mcp_rate_limited_total",
                "Requests refused by a rate limit, by scope (ip, user)",
            ),
            &["scope"],
        )?;
        let shared_state_errors = IntCounterVec::new(
            Opts::new(
                "mcp_shared_state_errors_total",
                "Operations on the state replicas share (Redis) that failed, by operation \
                 (rate_limit, session, cancel); rate limits fall back to this replica's own",
            ),
            &["operation"],
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by matched route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to the response head, by matched route",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            &["route", "method"],
        )?;
        registry.register(Box::new(tool_invocations.clone()))?;
        registry.register(Box::new(tool_duration.clone()))?;
        registry.register(Box::new(active_sessions.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(shared_state_errors.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        Ok(Self {
            registry,
            tool_invocations,
            tool_duration,
            active_sessions,
            auth_failures,
            rate_limited,
            shared_state_errors,
            http_requests,
            http_duration,
        })
    }

    /// The registry, for components that register their own metrics (the Graph client).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// The metric label of a tool name: the catalog name, or `unknown` for anything else.
pub fn tool_label(name: &str) -> &'static str {
    mcp_tenancy_config::catalog::find_tool(name).map_or("unknown", |t| t.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_tool_names_collapse_to_one_label() {
        assert_eq!(tool_label("whoami"), "whoami");
        assert_eq!(tool_label("../../etc/passwd"), "unknown");
    }

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new().unwrap();
        m.auth_failures.with_label_values(&["expired"]).inc();
        let text = m.render().unwrap();
        assert!(
            text.contains("mcp_auth_failures_total{reason=\"expired\"} 1"),
            "{text}"
        );
    }
}
