//! The tenant watch reads every McpTenant through [`DeserializeGuard`]: one stored object that the
//! current types cannot read (written against another version of the CRD, or edited past its
//! schema) is logged and reported on itself, and every other tenant keeps reconciling. Without
//! the guard, that one object would fail every list and watch of McpTenants.

use std::sync::Arc;

use kube::{
    ResourceExt,
    core::{DeserializeGuard, error_boundary::InvalidObject},
    runtime::{
        controller::Action,
        events::{Event, EventType},
    },
};
use tracing::warn;

use super::{Context, Error, events, reconcile};
use crate::api::McpTenant;

/// An McpTenant as the watch stores it: the tenant, or why it could not be read.
pub type GuardedTenant = DeserializeGuard<McpTenant>;

/// Reason of the Warning event on an McpTenant the operator cannot read.
pub const INVALID_OBJECT: &str = "InvalidObject";

/// The reconciler the [`kube::runtime::Controller`] runs: a readable tenant goes through
/// [`fn@reconcile`]; an unreadable one is reported and waits for a change (retrying cannot help).
pub async fn reconcile_guarded(object: Arc<GuardedTenant>, ctx: Arc<Context>) -> Result<Action, Error> {
    match &object.0 {
        Ok(tenant) => reconcile(Arc::new(tenant.clone()), ctx).await,
        Err(invalid) => {
            report_invalid(&object, invalid, &ctx).await;
            Ok(Action::await_change())
        }
    }
}

/// Logs the object, counts it as a failed pass of category `invalid_object` and publishes a
/// Warning event on it, so that `kubectl describe mcpt` says why nothing happens.
async fn report_invalid(object: &GuardedTenant, invalid: &InvalidObject, ctx: &Context) {
    warn!(tenant = %object.name_any(), error = %invalid.error, "cannot read McpTenant; skipping it");
    ctx.metrics.start().finish(Err("invalid_object"));
    let event = Event {
        type_: EventType::Warning,
        reason: INVALID_OBJECT.into(),
        note: Some(format!(
            "the operator cannot read this McpTenant ({}); re-apply it with a valid spec",
            invalid.error
        )),
        action: "Reconcile".into(),
        secondary: None,
    };
    events::publish(&ctx.recorder, object, &[event]).await;
}
