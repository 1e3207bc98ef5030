//! Where the tools meet Graph: a tool's context becomes the context of its Graph calls, and
//! Graph failures become tool results (clear, never a protocol error, never a token).

use crate::{
    graph::{CallContext, GraphError, TokenError},
    tools::{ToolContext, ToolError},
};

impl<'a> From<&'a ToolContext> for CallContext<'a> {
    fn from(ctx: &'a ToolContext) -> Self {
        CallContext {
            caller: &ctx.caller,
            request_id: &ctx.request_id,
            cancel: &ctx.cancel,
        }
    }
}

impl From<GraphError> for ToolError {
    fn from(e: GraphError) -> Self {
        let upstream = |code: &str, message: String| ToolError::Upstream {
            service: "graph",
            code: code.to_string(),
            message,
        };
        match e {
            GraphError::Token(TokenError::NoDelegatedIdentity) => ToolError::SignInRequired(
                "Microsoft 365 tools need a signed-in user; this caller has no delegated identity".into(),
            ),
            GraphError::Token(e @ TokenError::Rejected { .. }) => ToolError::SignInRequired(e.to_string()),
            GraphError::Token(TokenError::Unavailable(m)) => ToolError::Upstream {
                service: "identity",
                code: "unavailable".into(),
                message: m,
            },
            GraphError::Api { code, message, .. } => upstream(&code, message),
            GraphError::Unauthorized => ToolError::SignInRequired(
                "Microsoft Graph refused the user's delegated token; sign in again".into(),
            ),
            GraphError::Throttled { status, retry_after } => upstream(
                if status == 429 { "throttled" } else { "unavailable" },
                match retry_after {
                    Some(d) => format!(
                        "Microsoft Graph is busy (HTTP {status}); try again in {} seconds",
                        d.as_secs().max(1)
                    ),
                    None => format!("Microsoft Graph is busy (HTTP {status}); try again shortly"),
                },
            ),
            GraphError::Malformed(m) => upstream("malformedResponse", m),
            GraphError::Timeout => upstream("timeout", "Microsoft Graph did not answer in time".into()),
            GraphError::Transport(m) => upstream("unreachable", m),
            GraphError::UntrustedLink => upstream(
                "untrustedNextLink",
                "Microsoft Graph returned a paging link outside the configured Graph host; not followed"
                    .into(),
            ),
            GraphError::UntrustedDownload => upstream(
                "untrustedDownload",
                "Microsoft Graph returned a download link that is neither https nor the configured Graph host; not followed"
                    .into(),
            ),
            GraphError::TooLarge { limit } => upstream(
                "tooLarge",
                format!("the file is larger than the {} KiB this tool reads", limit / 1024),
            ),
            GraphError::InvalidRequest(m) => ToolError::InvalidArguments(m),
            GraphError::Cancelled => ToolError::Cancelled,
        }
    }
}
