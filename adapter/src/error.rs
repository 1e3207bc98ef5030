//! What can go wrong, each with the message a person reads on stderr and the exit code a script
//! branches on.

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something impossible (exit 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// The URL answers, but not as an MCP server that says how to sign in (exit 4).
    #[error("{url} is not an MCP server: {reason}")]
    NotMcp { url: String, reason: String },
    /// Nothing answers, or the connection broke (exit 4).
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered, with something this client cannot use (exit 4).
    #[error("{0}")]
    Server(String),
    /// No usable sign-in: never signed in, denied, expired or revoked (exit 3).
    #[error("not signed in to {resource}: {reason}; run `mcp-tenant login {resource}`")]
    SignIn { resource: String, reason: String },
    /// The local token store cannot be read or written (exit 5).
    #[error("token store: {0}")]
    Store(String),
    /// The tool ran and answered with an error (exit 1).
    #[error("{0}")]
    Tool(String),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Error::Tool(_) => 1,
            Error::Usage(_) => 2,
            Error::SignIn { .. } => 3,
            Error::NotMcp { .. } | Error::Unreachable { .. } | Error::Server(_) => 4,
            Error::Store(_) => 5,
        })
    }

    pub fn unreachable(url: &str, error: &reqwest::Error) -> Self {
        Error::Unreachable {
            url: url.to_owned(),
            reason: describe(error),
        }
    }
}

/// A reqwest error with its causes ("error sending request: connection refused"), never the
/// request's body or headers.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
