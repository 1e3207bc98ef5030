//! The observe step: reads back the workload and the exposure the apply step handled, for the
//! status (ready replicas, whether a Gateway accepted the route or the Ingress has an address).

use kube::{ResourceExt, core::DynamicObject};

use super::{
    Context, Error, api_err,
    apply::{Applied, AppliedChildren, child_api},
    status::{ExposureState, WorkloadState},
};
use crate::build::{Child, ExposureKind};

/// What the status needs to know about the applied children.
pub struct Observed {
    pub workload: Option<WorkloadState>,
    pub exposure: Option<ExposureState>,
}

/// Observes the workload and the exposure of `applied`.
pub async fn observe(ctx: &Context, applied: AppliedChildren<'_>) -> Result<Observed, Error> {
    let mut observed = Observed {
        workload: None,
        exposure: applied.exposure_not_served.map(ExposureState::CrdNotInstalled),
    };
    if let Some((child, outcome)) = applied.workload {
        let object = observed_object(ctx, child, outcome).await?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        observed.workload = Some(WorkloadState::from_object(&value, object.metadata.generation));
    }
    if let Some((kind, child, outcome)) = applied.exposure {
        let object = observed_object(ctx, child, outcome).await?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        observed.exposure = Some(match kind {
            ExposureKind::HttpRoute => ExposureState::from_http_route(&value),
            ExposureKind::Ingress => ExposureState::from_ingress(&value),
        });
    }
    Ok(observed)
}

/// The object as the API server has it: the apply response, or a read when nothing was written.
async fn observed_object(ctx: &Context, child: &Child, outcome: Applied) -> Result<DynamicObject, Error> {
    match outcome {
        Applied::Written(object) => Ok(*object),
        Applied::Unchanged => {
            let name = child.object.name_any();
            child_api(&ctx.client, child)
                .get(&name)
                .await
                .map_err(api_err(format!("read {} {name}", child.resource.kind)))
        }
    }
}
