//! How users reach the server: a Gateway API HTTPRoute attached to the platform's Gateway (TLS at
//! its listener), or a classic Ingress with TLS.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::{
        HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend,
        IngressSpec, IngressTLS, ServiceBackendPort,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::core::{ApiResource, GroupVersionKind};
use mcp_tenancy_config::HTTP_PORT;
use serde::Serialize;

use super::{
    BuildError, Child, ChildRole, ExposureKind,
    meta::{Context, EXPOSURE, SERVER_NAME, dynamic_child, typed_child},
};
use crate::{
    api::{GatewayExposure, IngressExposure, IssuerKind},
    validate::{Exposure, IngressCertificate},
};

const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// The Secret cert-manager's ingress-shim writes the certificate to, when an issuer is used.
pub(crate) const INGRESS_TLS_SECRET: &str = "mcp-tenant-tls";

pub(crate) fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GATEWAY_GROUP, "v1", "HTTPRoute"),
        "httproutes",
    )
}

pub(crate) fn ingress_resource() -> ApiResource {
    ApiResource::erase::<Ingress>(&())
}

/// The HTTPRoute or the Ingress, whichever the spec asks for (the schema requires exactly one).
pub(crate) fn build_exposure(ctx: &Context, exposure: Exposure) -> Result<Child, BuildError> {
    match exposure {
        Exposure::Gateway(gateway) => build_http_route(ctx, gateway),
        Exposure::Ingress(ingress, certificate) => build_ingress(ctx, ingress, certificate),
    }
}

// Gateway API types with only the fields set here; no crate of them builds with kube 5.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRoute {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: HttpRouteSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRouteSpec {
    parent_refs: Vec<ParentReference>,
    hostnames: Vec<String>,
    rules: Vec<HttpRouteRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParentReference {
    group: &'static str,
    kind: &'static str,
    name: String,
    namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    section_name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRouteRule {
    matches: Vec<HttpRouteMatch>,
    backend_refs: Vec<BackendRef>,
}

#[derive(Serialize)]
struct HttpRouteMatch {
    path: HttpPathMatch,
}

#[derive(Serialize)]
struct HttpPathMatch {
    #[serde(rename = "type")]
    type_: &'static str,
    value: &'static str,
}

#[derive(Serialize)]
struct BackendRef {
    kind: &'static str,
    name: &'static str,
    port: u16,
}

fn build_http_route(ctx: &Context, gateway: &GatewayExposure) -> Result<Child, BuildError> {
    let route = HttpRoute {
        api_version: format!("{GATEWAY_GROUP}/v1"),
        kind: "HTTPRoute".into(),
        metadata: ctx.meta(SERVER_NAME, EXPOSURE),
        spec: HttpRouteSpec {
            parent_refs: gateway
                .parent_refs
                .iter()
                .map(|p| ParentReference {
                    group: GATEWAY_GROUP,
                    kind: "Gateway",
                    name: p.name.clone(),
                    namespace: p.namespace.clone(),
                    section_name: p.section_name.clone(),
                })
                .collect(),
            hostnames: vec![ctx.tenant.spec.network.host.clone()],
            rules: vec![HttpRouteRule {
                matches: vec![HttpRouteMatch {
                    path: HttpPathMatch {
                        type_: "PathPrefix",
                        value: "/",
                    },
                }],
                backend_refs: vec![BackendRef {
                    kind: "Service",
                    name: SERVER_NAME,
                    port: HTTP_PORT,
                }],
            }],
        },
    };
    dynamic_child(
        ChildRole::Exposure(ExposureKind::HttpRoute),
        http_route_resource(),
        &route,
    )
}

fn build_ingress(
    ctx: &Context,
    exposure: &IngressExposure,
    certificate: IngressCertificate,
) -> Result<Child, BuildError> {
    let host = ctx.tenant.spec.network.host.clone();
    // The user's annotations first, so that the issuer annotation derived from the spec wins.
    let mut annotations: BTreeMap<String, String> = exposure.annotations.clone();
    let secret_name = match certificate {
        IngressCertificate::Secret(secret) => secret.to_owned(),
        IngressCertificate::Issuer(issuer) => {
            let key = match issuer.kind {
                IssuerKind::ClusterIssuer => "cert-manager.io/cluster-issuer",
                IssuerKind::Issuer => "cert-manager.io/issuer",
            };
            annotations.insert(key.into(), issuer.name.clone());
            INGRESS_TLS_SECRET.into()
        }
    };
    let mut metadata = ctx.meta(SERVER_NAME, EXPOSURE);
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    typed_child(
        ChildRole::Exposure(ExposureKind::Ingress),
        &Ingress {
            metadata,
            spec: Some(IngressSpec {
                ingress_class_name: exposure.class_name.clone(),
                tls: Some(vec![IngressTLS {
                    hosts: Some(vec![host.clone()]),
                    secret_name: Some(secret_name),
                }]),
                rules: Some(vec![IngressRule {
                    host: Some(host),
                    http: Some(HTTPIngressRuleValue {
                        paths: vec![HTTPIngressPath {
                            path: Some("/".into()),
                            path_type: "Prefix".into(),
                            backend: IngressBackend {
                                service: Some(IngressServiceBackend {
                                    name: SERVER_NAME.into(),
                                    port: Some(ServiceBackendPort {
                                        number: Some(i32::from(HTTP_PORT)),
                                        ..ServiceBackendPort::default()
                                    }),
                                }),
                                ..IngressBackend::default()
                            },
                        }],
                    }),
                }]),
                ..IngressSpec::default()
            }),
            ..Ingress::default()
        },
    )
}
