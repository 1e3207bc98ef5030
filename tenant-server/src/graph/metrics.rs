//! Graph request metrics, labelled by endpoint templates (a fixed set, never raw paths).

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::Endpoint;

/// `graph_requests_total{endpoint,status}` and `graph_request_duration_seconds{endpoint}`.
#[derive(Clone)]
pub struct GraphMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl GraphMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "graph_requests_total",
                "Microsoft Graph requests by route template and HTTP status",
            ),
            &["endpoint", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "graph_request_duration_seconds",
                "Microsoft Graph request duration",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["endpoint"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { requests, duration })
    }

    /// `status` is the HTTP status, or `timeout` / `error` when there was none.
    pub fn observe(&self, endpoint: Endpoint, status: &str, seconds: Option<f64>) {
        self.requests.with_label_values(&[endpoint.label(), status]).inc();
        if let Some(s) = seconds {
            self.duration.with_label_values(&[endpoint.label()]).observe(s);
        }
    }
}
