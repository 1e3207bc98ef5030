//! Graph failures, and how tools report them.

use std::time::Duration;

use crate::{graph::TokenError, tools::ToolError};

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// Graph answered with an error document (or a bare error status).
    #[error("Graph answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// Still 401 after a fresh token.
    #[error("Graph refused the user's token")]
    Unauthorized,
    /// Throttled (429) or unavailable (503/504) beyond the retry budget.
    #[error("Graph is throttling or unavailable (status {status})")]
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("Graph returned a response that is not the expected JSON: {0}")]
    Malformed(String),
    #[error("Graph did not answer in time")]
    Timeout,
    #[error("Graph could not be reached: {0}")]
    Transport(String),
    /// A paging link pointed outside the configured Graph base URL; it was not followed.
    #[error("Graph returned a paging link outside the configured Graph host")]
    UntrustedLink,
    /// The request could not be built from the arguments (e.g. an id of `..`).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("cancelled")]
    Cancelled,
}

impl GraphError {
    /// The tool result for this failure: clear, never a protocol error, never a token.
    pub fn into_tool_error(self) -> ToolError {
        let upstream = |code: &str, message: String| ToolError::Upstream {
            service: "graph",
            code: code.to_string(),
            message,
        };
        match self {
            Self::Token(TokenError::NoDelegatedIdentity) => ToolError::SignInRequired(
                "Microsoft 365 tools need a signed-in user; this caller has no delegated identity".into(),
            ),
            Self::Token(e @ TokenError::Rejected { .. }) => ToolError::SignInRequired(e.to_string()),
            Self::Token(TokenError::Unavailable(m)) => ToolError::Upstream {
                service: "identity",
                code: "unavailable".into(),
                message: m,
            },
            Self::Api { code, message, .. } => upstream(&code, message),
            Self::Unauthorized => ToolError::SignInRequired(
                "Microsoft Graph refused the user's delegated token; sign in again".into(),
            ),
            Self::Throttled { status, retry_after } => upstream(
                if status == 429 { "throttled" } else { "unavailable" },
                match retry_after {
                    Some(d) => format!(
                        "Microsoft Graph is busy (HTTP {status}); try again in {} seconds",
                        d.as_secs().max(1)
                    ),
                    None => format!("Microsoft Graph is busy (HTTP {status}); try again shortly"),
                },
            ),
            Self::Malformed(m) => upstream("malformedResponse", m),
            Self::Timeout => upstream("timeout", "Microsoft Graph did not answer in time".into()),
            Self::Transport(m) => upstream("unreachable", m),
            Self::UntrustedLink => upstream(
                "untrustedNextLink",
                "Microsoft Graph returned a paging link outside the configured Graph host; not followed"
                    .into(),
            ),
            Self::InvalidRequest(m) => ToolError::InvalidArguments(m),
            Self::Cancelled => ToolError::Cancelled,
        }
    }
}

impl From<GraphError> for ToolError {
    fn from(e: GraphError) -> Self {
        e.into_tool_error()
    }
}
