//! The tool-call pipeline, whatever transport carried the call: one authorization decision,
//! the call bounded by the request timeout and cancellable, an audit line and metrics however it
//! ends (also when its future is dropped because the client went away).

use std::{sync::Arc, time::Instant};

use mcp_tenancy_config::TenantConfig;
use rmcp::{
    ErrorData,
    model::{CallToolResponse, CallToolResult, ContentBlock, ErrorCode, InputRequiredResult},
};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::{
    audit::{self, Outcome, ToolCallRecord},
    authz::{self, Decision, Verdict},
    caller::Caller,
    inflight::InFlight,
    metrics::{Metrics, tool_label},
    tools::{ProgressSink, SessionClient, Tool, ToolContext, ToolError, registry::ToolRegistry},
};

/// What the pipeline needs, shared by every transport.
pub struct ToolCalls {
    pub config: Arc<TenantConfig>,
    pub registry: Arc<ToolRegistry>,
    pub metrics: Metrics,
    pub inflight: Arc<InFlight>,
}

/// One call: who asks for which tool with which arguments, and what it may send back besides
/// its result.
pub struct ToolCall<'a> {
    pub caller: Arc<Caller>,
    pub request_id: String,
    pub name: &'a str,
    pub arguments: Map<String, Value>,
    pub cancel: CancellationToken,
    pub channels: CallChannels,
}

/// The authorization decision taken for a `tools/call` where it entered (the MCP endpoint, which
/// answers MFA step-up at the HTTP level), carried in the request's extensions so that the call
/// is decided once whichever transport then runs it.
#[derive(Clone, Debug)]
pub struct Authorized {
    pub tool: String,
    pub decision: Decision<'static>,
}

/// What a tool call may send to its client besides the result.
#[derive(Clone, Default)]
pub struct CallChannels {
    /// `notifications/progress`, when the client sent a progress token.
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The client of the session: log messages, sampling, elicitation.
    pub client: Option<Arc<dyn SessionClient>>,
}

/// The same answer for a tool that does not exist and one the caller may not call.
fn unknown_tool(name: &str) -> ErrorData {
    let shown: String = name.chars().take(64).collect();
    ErrorData::invalid_params(format!("Unknown tool: {shown}"), None)
}

/// The answer to a request the client cancelled (-32800, as LSP and rmcp name it).
pub fn cancelled() -> ErrorData {
    ErrorData::new(ErrorCode(-32800), "request cancelled", None)
}

/// The error of a tool the caller's tier offers only with MFA.
pub const MFA_REQUIRED: &str = "this tool requires multi-factor authentication; sign in again with MFA";

/// Records a tool call's outcome once: as given to [`AuditOnDrop::finish`], or as cancelled when
/// dropped unfinished.
struct AuditOnDrop<F: Fn(Outcome)>(Option<F>);

impl<F: Fn(Outcome)> AuditOnDrop<F> {
    fn finish(mut self, outcome: Outcome) {
        if let Some(record) = self.0.take() {
            record(outcome);
        }
    }
}

impl<F: Fn(Outcome)> Drop for AuditOnDrop<F> {
    fn drop(&mut self) {
        if let Some(record) = self.0.take() {
            record(Outcome::Cancelled);
        }
    }
}

/// Runs the tool with the session's client; its content blocks become the result's content.
async fn invoke(
    tool: &dyn Tool,
    ctx: &ToolContext,
    client: Option<&dyn SessionClient>,
    arguments: Map<String, Value>,
) -> Result<CallToolResult, ToolError> {
    let output = tool.call_with_client(ctx, client, arguments).await?;
    Ok(match output.structured {
        Some(structured) => {
            let mut result = CallToolResult::structured(structured);
            result.content = output.content;
            result
        }
        None => CallToolResult::success(output.content),
    })
}

impl ToolCalls {
    /// The authorization decision for `caller` calling `name`: the one of the call.
    pub fn authorize(&self, caller: &Caller, name: &str) -> Decision<'static> {
        authz::decide(caller, &self.config.access, name).into_owned()
    }

    /// The decision carried with the request for this tool, else a new one.
    pub fn decision(&self, carried: Option<Authorized>, caller: &Caller, name: &str) -> Decision<'static> {
        match carried {
            Some(authorized) if authorized.tool == name => authorized.decision,
            _ => self.authorize(caller, name),
        }
    }

    /// The tools the caller may call, for `tools/list`, in catalog order.
    pub fn allowed_tools<'a>(&'a self, caller: &'a Caller) -> impl Iterator<Item = &'a Arc<dyn Tool>> {
        self.registry
            .iter()
            .filter(move |t| self.may_call(caller, t.definition().name))
    }

    /// Whether the caller's tiers allow the tool `name` (whether or not the tenant offers it).
    fn may_call(&self, caller: &Caller, name: &str) -> bool {
        authz::decide(caller, &self.config.access, name).is_allowed()
    }

    /// Whether the tenant offers the tool `name` and the caller may call it.
    pub fn offers(&self, caller: &Caller, name: &str) -> bool {
        self.registry.get(name).is_some() && self.may_call(caller, name)
    }

    /// Writes a tool call's audit line and counts it in the metrics, with the decision's tier
    /// (denied calls are not timed).
    pub fn record(&self, record: &ToolCallRecord<'_>, decision: &Decision<'_>) {
        audit::tool_call(record);
        let label = tool_label(record.tool);
        let status = match record.outcome {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::InputRequired => "input_required",
            Outcome::Error | Outcome::Cancelled => "error",
        };
        self.metrics
            .tool_invocations
            .with_label_values(&[label, &decision.tier, status])
            .inc();
        if record.outcome != Outcome::Denied {
            self.metrics
                .tool_duration
                .with_label_values(&[label])
                .observe(record.duration.as_secs_f64());
        }
    }

    /// `tools/call` under `decision` (from [`Self::authorize`]): unknown and forbidden tools get
    /// the same error; a tool's own failure is an error result, not a protocol error. A call that
    /// needs the client's input first (2026-07-28) answers the requests for it.
    pub async fn call(
        &self,
        call: ToolCall<'_>,
        decision: Decision<'_>,
    ) -> Result<CallToolResponse, ErrorData> {
        match self.run(call, decision).await? {
            Ok(result) => Ok(result.into()),
            Err(ToolError::Cancelled) => Err(cancelled()),
            Err(ToolError::InputRequired(requests)) => {
                Ok(InputRequiredResult::from_input_requests(requests).into())
            }
            Err(ToolError::MissingCapability(required)) => {
                Err(ErrorData::missing_required_client_capability(*required))
            }
            Err(error) => Ok(CallToolResult::error(vec![ContentBlock::text(error.to_string())]).into()),
        }
    }

    /// Runs a call under `decision`, audited and counted however it ends: the tool's result or
    /// its error, or the error of a tool the caller may not call. For callers that answer a
    /// tool's errors their own way (`resources/read`).
    pub async fn run(
        &self,
        call: ToolCall<'_>,
        decision: Decision<'_>,
    ) -> Result<Result<CallToolResult, ToolError>, ErrorData> {
        let ToolCall {
            caller,
            request_id,
            name,
            arguments,
            cancel,
            channels,
        } = call;
        let started = Instant::now();
        let arguments_sha256 = audit::arguments_hash(&arguments);
        let record = |outcome: Outcome| {
            let record = ToolCallRecord {
                tenant: &self.config.tenant.name,
                caller: &caller,
                tool: name,
                arguments_sha256: &arguments_sha256,
                outcome,
                duration: started.elapsed(),
                request_id: &request_id,
            };
            self.record(&record, &decision);
        };

        let tool = match (self.registry.get(name), decision.verdict) {
            (Some(tool), Verdict::Allowed) => tool.clone(),
            (Some(_), Verdict::MfaRequired) => {
                record(Outcome::Denied);
                return Err(ErrorData::invalid_request(MFA_REQUIRED, None));
            }
            _ => {
                record(Outcome::Denied);
                return Err(unknown_tool(name));
            }
        };

        let audit = AuditOnDrop(Some(&record));
        let ctx = ToolContext {
            caller: caller.clone(),
            request_id: request_id.clone(),
            cancel: cancel.clone(),
            progress: channels.progress.clone(),
        };
        let _running = self.inflight.enter();
        let timeout = self.config.server.request_timeout.as_duration();
        // Biased: on cancellation the tool is polled first, so it can see `ctx.cancel` and stop
        // cleanly; a tool that ignores it is dropped.
        let running = invoke(tool.as_ref(), &ctx, channels.client.as_deref(), arguments);
        let result = tokio::select! {
            biased;
            result = tokio::time::timeout(timeout, running) => result.unwrap_or_else(|_| Err(ToolError::Upstream {
                service: "server",
                code: "timeout".into(),
                message: format!("the tool did not finish within {} s", timeout.as_secs()),
            })),
            () = cancel.cancelled() => Err(ToolError::Cancelled),
        };
        // A link to an item the caller may not read would only be refused.
        let result = result.map(|mut result| {
            result.content.retain(|block| {
                block
                    .as_resource_link()
                    .is_none_or(|link| crate::resources::readable(self, &caller, &link.uri))
            });
            result
        });
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(ToolError::Cancelled) => Outcome::Cancelled,
            Err(ToolError::InputRequired(_)) => Outcome::InputRequired,
            Err(error) => {
                if let ToolError::Internal { .. } = error {
                    tracing::error!(
                        tool = tool_label(name),
                        request_id,
                        "tool failed with an internal error"
                    );
                }
                Outcome::Error
            }
        };
        audit.finish(outcome);
        Ok(result)
    }
}
