//! The Service in front of the server pods.

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};
use mcp_tenancy_config::{HTTP_PORT, METRICS_PORT};

use super::{
    BuildError, Child, ChildRole,
    meta::{Context, SERVER, typed_child},
    meta::{HTTP_PORT_NAME, METRICS_PORT_NAME, SERVER_NAME},
};

pub(crate) fn build_service(ctx: &Context) -> Result<Child, BuildError> {
    let port = |name: &str, number: u16| ServicePort {
        name: Some(name.into()),
        port: i32::from(number),
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        app_protocol: Some("http".into()),
        ..ServicePort::default()
    };
    typed_child(
        ChildRole::Service,
        &Service {
            metadata: ctx.meta(SERVER_NAME, SERVER),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                selector: Some(ctx.selector()),
                ports: Some(vec![
                    port(HTTP_PORT_NAME, HTTP_PORT),
                    port(METRICS_PORT_NAME, METRICS_PORT),
                ]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        },
    )
}
