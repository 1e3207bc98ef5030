//! Kubernetes Events for the transitions a person wants to see in `kubectl describe mcpt`.
//! Events are best effort: a failure to publish one is logged and never fails the pass.

use kube::{
    Resource,
    runtime::events::{Event, EventType, Recorder},
};
use tracing::warn;

use super::{
    conditions::{self as c, reason},
    keys::KeyAction,
    status::condition,
};
use crate::api::McpTenantStatus;

/// The events one pass warrants, given the status before and after it and what it did to keys.
pub fn transitions(
    old: Option<&McpTenantStatus>,
    new: &McpTenantStatus,
    keys: Option<&KeyAction>,
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |type_, reason: &str, action: &str, note: String| {
        events.push(Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        })
    };
    let active = new
        .keys
        .as_ref()
        .map(|k| k.active_kid.clone())
        .unwrap_or_default();
    match keys {
        Some(KeyAction::Create) => push(
            EventType::Normal,
            "KeysGenerated",
            "GenerateKeys",
            format!("generated signing key {active} and the encryption key"),
        ),
        Some(KeyAction::Rotate) => push(
            EventType::Normal,
            "KeysRotated",
            "RotateKeys",
            format!("signing key {active} is now active; previous keys keep verifying until they retire"),
        ),
        Some(KeyAction::Update) => push(
            EventType::Normal,
            "KeysRetired",
            "RetireKeys",
            "removed signing keys past their retireAfter time".into(),
        ),
        Some(KeyAction::Keep) | None => {}
    }
    let became = |type_: &str, status: &str| {
        let now = condition(Some(new), type_);
        let before = condition(old, type_);
        now.filter(|n| {
            n.status == status && before.is_none_or(|b| b.status != n.status || b.reason != n.reason)
        })
    };
    if let Some(d) = became(c::DEGRADED, "True") {
        push(EventType::Warning, &d.reason, "Reconcile", d.message.clone());
    }
    if let Some(m) = became(c::MONITORING_READY, "False").filter(|m| m.reason == reason::CRD_NOT_INSTALLED) {
        push(EventType::Warning, &m.reason, "Reconcile", m.message.clone());
    }
    if let Some(r) = became(c::READY, "True") {
        push(EventType::Normal, "Ready", "Reconcile", r.message.clone());
    }
    events
}

/// Publishes `events` about `tenant` (an McpTenant, or one the watch could not read).
pub async fn publish(recorder: &Recorder, tenant: &impl Resource<DynamicType = ()>, events: &[Event]) {
    let reference = tenant.object_ref(&());
    for event in events {
        if let Err(e) = recorder.publish(event, &reference).await {
            warn!(reason = %event.reason, error = %e, "could not publish event");
        }
    }
}
