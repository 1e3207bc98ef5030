//! The quota check: the namespace quota must admit the server at its largest, compared as
//! Kubernetes quantities.

use super::{ValidationError, uses_redis};
use crate::{api::McpTenantSpec, defaults};

/// The quota must admit the server at its largest, or pods silently fail to be created.
pub(super) fn check_quota(spec: &McpTenantSpec) -> Result<(), ValidationError> {
    let server = &spec.server;
    let redis = uses_redis(server.storage.as_ref());
    let most = server
        .autoscaling
        .as_ref()
        .map_or(server.replicas.unwrap_or(defaults::REPLICAS), |a| a.max_replicas);
    // A Deployment rollout adds one pod (maxSurge 1); a StatefulSet replaces its pod in place.
    let peak = most + i32::from(redis);
    let pods = spec.quota.pods.unwrap_or(defaults::QUOTA_PODS);
    if peak > pods {
        return Err(ValidationError::new(
            "spec.quota.pods",
            format!("{pods} is fewer than the {peak} server pods that can run at once"),
        ));
    }
    let resources = server.resources.as_ref();
    for (resource, default_limit, quota, default_quota) in [
        (
            "cpu",
            defaults::CPU_LIMIT,
            spec.quota.cpu.as_ref(),
            defaults::QUOTA_CPU,
        ),
        (
            "memory",
            defaults::MEMORY_LIMIT,
            spec.quota.memory.as_ref(),
            defaults::QUOTA_MEMORY,
        ),
    ] {
        let limit_field = format!("spec.server.resources.limits.{resource}");
        let limit = resources
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get(resource));
        let limit_text = limit.map_or(default_limit, |q| q.0.as_str());
        let limit = quantity(&limit_field, limit_text)?;
        let request_field = format!("spec.server.resources.requests.{resource}");
        if let Some(request) = resources
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(resource))
            && quantity(&request_field, &request.0)? > limit * (1.0 + TOLERANCE)
        {
            return Err(ValidationError::new(
                request_field,
                format!("must not exceed the limit {limit_text}"),
            ));
        }
        let quota_field = format!("spec.quota.{resource}");
        let quota_text = quota.map_or(default_quota, |q| q.0.as_str());
        if limit * f64::from(peak) > quantity(&quota_field, quota_text)? * (1.0 + TOLERANCE) {
            return Err(ValidationError::new(
                quota_field,
                format!(
                    "{quota_text} is less than the {peak} × {limit_text} the server pods can use at once"
                ),
            ));
        }
    }
    if !redis {
        let size = server
            .storage
            .as_ref()
            .and_then(|s| s.embedded.as_ref())
            .and_then(|e| e.size.as_ref());
        let size_text = size.map_or(defaults::STORE_SIZE, |q| q.0.as_str());
        let quota_text = spec
            .quota
            .storage
            .as_ref()
            .map_or(defaults::QUOTA_STORAGE, |q| q.0.as_str());
        if quantity("spec.server.storage.embedded.size", size_text)?
            > quantity("spec.quota.storage", quota_text)? * (1.0 + TOLERANCE)
        {
            return Err(ValidationError::new(
                "spec.quota.storage",
                format!("{quota_text} is less than the embedded store's {size_text} volume"),
            ));
        }
    }
    Ok(())
}

/// Relative error allowed when comparing quantities as floats: larger than the CRD's quota rule
/// allows (1e-12), so that what the API server accepts is accepted here too.
const TOLERANCE: f64 = 1e-9;

/// A Kubernetes quantity in base units (cores, bytes); precise enough to compare sizes.
pub(super) fn quantity(field: &str, text: &str) -> Result<f64, ValidationError> {
    let invalid = || {
        ValidationError::new(
            field,
            format!("{text:?} is not a Kubernetes quantity (e.g. 500m, 2, 256Mi)"),
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let binary = |power: i32| 1024f64.powi(power);
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        exponent => match exponent.strip_prefix(['e', 'E']).map(str::parse::<i32>) {
            Some(Ok(e)) => 10f64.powi(e),
            _ => return Err(invalid()),
        },
    };
    if number < 0.0 {
        return Err(invalid());
    }
    Ok(number * factor)
}
