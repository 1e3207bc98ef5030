//! The controller: reconciles each `McpTenant` into its children through the pipeline
//! dereference → validate → build → apply → prune → observe → status (see [`mod@reconcile`]),
//! and the runtime around it (watches, leader election, health and metrics endpoints).

pub mod apply;
pub mod cleanup;
pub mod conditions;
pub mod dereference;
pub mod events;
pub mod guard;
pub mod index;
pub mod keys;
pub mod kinds;
pub mod leader;

pub mod metrics;
pub mod observe;
pub mod prune;
pub mod reconcile;
pub mod runtime;

pub mod references;
pub mod status;

#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Client, Resource, ResourceExt,
    runtime::{controller::Action, events::Recorder},
};
use tracing::warn;

pub use self::{index::ChildIndex, metrics::Metrics};
use crate::build::OperatorDefaults;

/// Finalizer the operator puts on every McpTenant, so that `deletionPolicy` is honoured.
pub const FINALIZER: &str = "mcptenancy.dev/cleanup";

/// What every reconcile pass shares.
pub struct Context {
    pub client: Client,
    pub defaults: OperatorDefaults,
    /// Whether the monitoring.coreos.com CRDs existed at start-up.
    pub monitoring_crds_installed: bool,
    pub index: ChildIndex,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub backoff: ErrorBackoff,
}

/// Why a pass failed. Spec problems and missing Secrets are not errors: they are reported in
/// status and wait for a change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// A bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => "conflict",
            Self::Api {
                source: kube::Error::Api(s),
                ..
            } if s.code >= 500 => "server_error",
            Self::Api { .. } => "api",
            Self::Keys(_) => "keys",
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "finalizer",
            },
        }
    }
}

/// Wraps a kube error with what the operator was doing.
pub(crate) fn api_err(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let action = action.into();
    move |source| Error::Api { action, source }
}

/// Per-object capped exponential backoff for failed passes: 2 s, 4 s, 8 s … up to 5 minutes,
/// reset by the next successful pass.
#[derive(Default)]
pub struct ErrorBackoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl ErrorBackoff {
    pub const BASE: Duration = Duration::from_secs(2);
    pub const MAX: Duration = Duration::from_secs(300);

    /// Records a failure of `key` and returns how long to wait before retrying.
    pub fn next_delay(&self, key: &str) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return Self::MAX;
        };
        let n = failures.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        Self::BASE.saturating_mul(factor).min(Self::MAX)
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

/// What the controller does after a failed pass: log it and retry with backoff.
pub fn error_policy<K: Resource>(tenant: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next_delay(&tenant.name_any());
    warn!(tenant = %tenant.name_any(), error = %error, category = error.category(), retry_in_seconds = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

pub use reconcile::reconcile;
