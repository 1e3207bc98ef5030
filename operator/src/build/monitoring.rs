//! Prometheus operator objects: a ServiceMonitor for the metrics port and a PrometheusRule with the
//! tenant's alerts. Small serde types with only the fields set here; no crate of them builds with
//! kube 5.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Serialize;

use super::{
    BuildError, Child, ChildRole,
    meta::{Context, METRICS_PORT_NAME, MONITORING, SERVER_NAME, dynamic_child},
};

const GROUP: &str = "monitoring.coreos.com";
/// Where each alert's runbook section lives (`#<alert name in lower case>`).
pub const RUNBOOK_BASE_URL: &str = "https://github.com/mcp-tenancy/mcp-tenancy/blob/main/docs/runbooks.md";
/// Every alert the PrometheusRule can contain, in order.
pub const ALERT_NAMES: &[&str] = &[
    "McpTenantServerDown",
    "McpTenantToolErrorRatioHigh",
    "McpTenantToolLatencyHigh",
    "McpTenantAuthFailuresHigh",
    "McpTenantRateLimitedHigh",
    "McpTenantGraphErrorsHigh",
];

pub(crate) fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

pub(crate) fn prometheus_rule_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, "v1", "PrometheusRule"),
        "prometheusrules",
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S> {
    api_version: String,
    kind: &'static str,
    metadata: ObjectMeta,
    spec: S,
}

#[derive(Serialize)]
struct ServiceMonitorSpec {
    selector: LabelSelector,
    endpoints: Vec<Endpoint>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    port: &'static str,
    path: &'static str,
    scheme: &'static str,
    interval: &'static str,
    scrape_timeout: &'static str,
}

pub(crate) fn build_service_monitor(ctx: &Context) -> Result<Child, BuildError> {
    let monitor = Object {
        api_version: format!("{GROUP}/v1"),
        kind: "ServiceMonitor",
        metadata: ctx.meta(SERVER_NAME, MONITORING),
        spec: ServiceMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(ctx.selector()),
                ..LabelSelector::default()
            },
            endpoints: vec![Endpoint {
                port: METRICS_PORT_NAME,
                path: "/metrics",
                scheme: "http",
                interval: "30s",
                scrape_timeout: "10s",
            }],
        },
    };
    dynamic_child(ChildRole::Monitoring, service_monitor_resource(), &monitor)
}

#[derive(Serialize)]
struct PrometheusRuleSpec {
    groups: Vec<RuleGroup>,
}

#[derive(Serialize)]
struct RuleGroup {
    name: String,
    rules: Vec<AlertRule>,
}

#[derive(Serialize)]
struct AlertRule {
    alert: &'static str,
    expr: String,
    #[serde(rename = "for")]
    for_: &'static str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

struct Alert {
    name: &'static str,
    expr: String,
    for_: &'static str,
    severity: &'static str,
    summary: String,
    description: String,
}

/// The tenant's alerts on the server's own metrics, with the spec's thresholds. Each selects the
/// tenant namespace, so one Prometheus can watch every tenant without mixing them up.
fn alerts(ctx: &Context) -> Vec<Alert> {
    let thresholds = &ctx.tenant.spec.monitoring.alerts;
    let ns = format!("namespace=\"{}\"", ctx.namespace);
    let tenant = &ctx.name;
    let mut alerts = Vec::new();
    // A suspended tenant is down on purpose.
    if !ctx.tenant.spec.suspend {
        alerts.push(Alert {
            name: "McpTenantServerDown",
            expr: format!("(sum(up{{{ns}, job=\"{SERVER_NAME}\"}}) or vector(0)) == 0"),
            for_: "5m",
            severity: "critical",
            summary: format!("MCP tenant {tenant}: no server pod is being scraped successfully"),
            // The expression aggregates the labels away, so the namespace is written in.
            description: format!(
                "No mcp-tenant-server pod has answered a metrics scrape for 5 minutes, so users cannot \
                 connect. Check the pods (kubectl -n {} get pods), their events and logs, and the \
                 McpTenant status conditions.",
                ctx.namespace
            ),
        });
    }
    alerts.extend([
        Alert {
            name: "McpTenantToolErrorRatioHigh",
            expr: format!(
                "sum(rate(mcp_tool_invocations_total{{{ns}, status=\"error\"}}[5m])) / \
                 sum(rate(mcp_tool_invocations_total{{{ns}, status!=\"denied\"}}[5m])) > {}",
                thresholds.error_ratio
            ),
            for_: "10m",
            severity: "warning",
            summary: format!("MCP tenant {tenant}: more than {} of tool calls fail", percent(thresholds.error_ratio)),
            description: "Tool calls fail at {{ $value | humanizePercentage }} (denied calls not counted). \
                Break the errors down by tool (sum by (tool) of mcp_tool_invocations_total with \
                status=error), then check graph_requests_total for Microsoft Graph failures and the server \
                logs for the tool's error."
                .into(),
        },
        Alert {
            name: "McpTenantToolLatencyHigh",
            expr: format!(
                "histogram_quantile(0.95, sum by (le) (rate(mcp_tool_duration_seconds_bucket{{{ns}}}[5m]))) > {}",
                thresholds.p95_latency_seconds
            ),
            for_: "10m",
            severity: "warning",
            summary: format!("MCP tenant {tenant}: p95 tool latency above {}s", thresholds.p95_latency_seconds),
            description: "The 95th percentile tool call takes {{ $value | humanizeDuration }}. Find the slow \
                tools (histogram by tool), check Microsoft Graph throttling (graph_requests_total with status \
                429) and the pods' CPU against their limits."
                .into(),
        },
        Alert {
            name: "McpTenantAuthFailuresHigh",
            expr: format!(
                "sum(rate(mcp_auth_failures_total{{{ns}}}[5m])) > {}",
                thresholds.auth_failures_per_second
            ),
            for_: "10m",
            severity: "warning",
            summary: format!(
                "MCP tenant {tenant}: more than {}/s authentication failures",
                thresholds.auth_failures_per_second
            ),
            description: "Authentication fails {{ $value | humanize }} times per second. Break it down by \
                reason (mcp_auth_failures_total): expired or wrong-audience tokens point at a client or \
                issuer misconfiguration, many bad tokens from few addresses at an attack."
                .into(),
        },
        Alert {
            name: "McpTenantRateLimitedHigh",
            expr: format!(
                "sum(rate(mcp_rate_limited_total{{{ns}}}[5m])) > {}",
                thresholds.rate_limited_per_second
            ),
            for_: "10m",
            severity: "warning",
            summary: format!(
                "MCP tenant {tenant}: more than {}/s requests rejected by rate limits",
                thresholds.rate_limited_per_second
            ),
            description: "{{ $value | humanize }} requests per second get 429. Break it down by scope \
                (mcp_rate_limited_total): one user or address hammering the server, or limits in \
                spec.limits too low for real use."
                .into(),
        },
        Alert {
            name: "McpTenantGraphErrorsHigh",
            expr: format!(
                "sum(rate(graph_requests_total{{{ns}, status=~\"429|5..\"}}[5m])) > {}",
                thresholds.graph_errors_per_second
            ),
            for_: "10m",
            severity: "warning",
            summary: format!(
                "MCP tenant {tenant}: Microsoft Graph throttles or fails more than {}/s requests",
                thresholds.graph_errors_per_second
            ),
            description: "Microsoft Graph answers {{ $value | humanize }} requests per second with 429 or \
                5xx. Break it down by endpoint and status (graph_requests_total); 429 means the tenant is \
                throttled, 5xx an outage on the Microsoft side (check the Microsoft 365 service health)."
                .into(),
        },
    ]);
    alerts
}

fn percent(ratio: f64) -> String {
    format!("{}%", (ratio * 1000.0).round() / 10.0)
}

pub(crate) fn build_prometheus_rule(ctx: &Context) -> Result<Child, BuildError> {
    let rules = alerts(ctx)
        .into_iter()
        .map(|a| AlertRule {
            alert: a.name,
            expr: a.expr,
            for_: a.for_,
            labels: BTreeMap::from([
                ("severity".to_string(), a.severity.to_string()),
                ("tenant".to_string(), ctx.name.clone()),
            ]),
            annotations: BTreeMap::from([
                ("summary".to_string(), a.summary),
                ("description".to_string(), a.description),
                (
                    "runbook_url".to_string(),
                    format!("{RUNBOOK_BASE_URL}#{}", a.name.to_lowercase()),
                ),
            ]),
        })
        .collect();
    let rule = Object {
        api_version: format!("{GROUP}/v1"),
        kind: "PrometheusRule",
        metadata: ctx.meta(SERVER_NAME, MONITORING),
        spec: PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: format!("mcp-tenant-{}", ctx.name),
                rules,
            }],
        },
    };
    dynamic_child(ChildRole::Monitoring, prometheus_rule_resource(), &rule)
}
