//! Prometheus metrics of the controller. Labels are bounded: a result, a phase or an error
//! category, never a tenant name.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::api::Phase;

const PHASES: [Phase; 5] = [
    Phase::Provisioning,
    Phase::Ready,
    Phase::Suspended,
    Phase::Degraded,
    Phase::Terminating,
];

pub struct Metrics {
    pub registry: Registry,
    reconciles: IntCounterVec,
    failures: IntCounterVec,
    duration: Histogram,
    in_flight: IntGauge,
    tenants: IntGaugeVec,
    phases: Mutex<HashMap<String, Phase>>,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("mcp_tenancy".into()), None)?;
        let reconciles = IntCounterVec::new(
            Opts::new("reconciles_total", "Reconcile passes by result (success, error)"),
            &["result"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "reconcile_errors_total",
                "Failed reconcile passes by error category",
            ),
            &["category"],
        )?;
        let duration = Histogram::with_opts(
            HistogramOpts::new("reconcile_duration_seconds", "Duration of one reconcile pass").buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        let in_flight = IntGauge::new("reconciles_in_flight", "Reconcile passes running now")?;
        let tenants = IntGaugeVec::new(Opts::new("tenants", "McpTenants by phase"), &["phase"])?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(tenants.clone()))?;
        for phase in PHASES {
            tenants.with_label_values(&[phase_label(phase)]).set(0);
        }
        for result in ["success", "error"] {
            reconciles.with_label_values(&[result]);
        }
        Ok(Self {
            registry,
            reconciles,
            failures,
            duration,
            in_flight,
            tenants,
            phases: Mutex::default(),
        })
    }

    /// Starts timing a pass; finish it with [`ReconcileTimer::finish`].
    pub fn start(&self) -> ReconcileTimer<'_> {
        self.in_flight.inc();
        ReconcileTimer {
            metrics: self,
            started: Instant::now(),
            done: false,
        }
    }

    /// Records the phase of a tenant (`None`: it is gone).
    pub fn set_phase(&self, tenant: &str, phase: Option<Phase>) {
        let Ok(mut phases) = self.phases.lock() else {
            return;
        };
        let changed = match phase {
            Some(p) => phases.insert(tenant.to_string(), p) != Some(p),
            None => phases.remove(tenant).is_some(),
        };
        if changed {
            for p in PHASES {
                let count = phases.values().filter(|v| **v == p).count();
                self.tenants
                    .with_label_values(&[phase_label(p)])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Value of `reconciles_total{result}`, for tests and the benchmark.
    pub fn reconciles(&self, result: &str) -> u64 {
        self.reconciles.with_label_values(&[result]).get()
    }
}

fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Provisioning => "Provisioning",
        Phase::Ready => "Ready",
        Phase::Suspended => "Suspended",
        Phase::Degraded => "Degraded",
        Phase::Terminating => "Terminating",
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
    done: bool,
}

impl ReconcileTimer<'_> {
    /// `Err(category)` for a failed pass.
    pub fn finish(mut self, result: Result<(), &str>) {
        self.done = true;
        self.metrics
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        match result {
            Ok(()) => self.metrics.reconciles.with_label_values(&["success"]).inc(),
            Err(category) => {
                self.metrics.reconciles.with_label_values(&["error"]).inc();
                self.metrics.failures.with_label_values(&[category]).inc();
            }
        }
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
        if !self.done {
            // The pass was cancelled (shutdown); count it as neither success nor error.
            self.metrics
                .duration
                .observe(self.started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_never_become_labels_and_phases_are_counted() {
        let metrics = Metrics::new().unwrap();
        metrics.set_phase("contoso", Some(Phase::Ready));
        metrics.set_phase("fabrikam", Some(Phase::Ready));
        metrics.set_phase("fabrikam", Some(Phase::Degraded));
        metrics.start().finish(Ok(()));
        metrics.start().finish(Err("conflict"));
        let text = metrics.encode();
        assert!(!text.contains("contoso") && !text.contains("fabrikam"), "{text}");
        assert!(text.contains(r#"mcp_tenancy_tenants{phase="Ready"} 1"#), "{text}");
        assert!(
            text.contains(r#"mcp_tenancy_tenants{phase="Degraded"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_tenancy_reconciles_total{result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_tenancy_reconcile_errors_total{category="conflict"} 1"#),
            "{text}"
        );
        assert!(text.contains("mcp_tenancy_reconciles_in_flight 0"), "{text}");
        metrics.set_phase("contoso", None);
        assert!(
            metrics
                .encode()
                .contains(r#"mcp_tenancy_tenants{phase="Ready"} 0"#)
        );
    }
}
