//! `mk_*` builders of test objects.

use kube::core::ObjectMeta;

use crate::api::McpTenant;

/// A minimal valid tenant as the API server would return it (uid, generation set).
pub fn mk_tenant(name: &str) -> McpTenant {
    let yaml = format!(
        r#"
apiVersion: mcptenancy.dev/v1alpha1
kind: McpTenant
metadata: {{name: {name}}}
spec:
  identity:
    upstream:
      issuer: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0
      clientId: app-id
      clientSecretRef: {{name: entra-client, key: client-secret}}
  network:
    host: {name}.mcp.example.com
    gateway:
      parentRefs: [{{name: public, namespace: gateway-system, sectionName: https}}]
"#
    );
    let mut tenant: McpTenant = serde_saphyr::from_str(&yaml).expect("valid fixture");
    tenant.metadata = ObjectMeta {
        name: Some(name.into()),
        uid: Some(format!("00000000-0000-4000-8000-{:012x}", name.len())),
        generation: Some(1),
        resource_version: Some("1".into()),
        ..ObjectMeta::default()
    };
    tenant
}

/// The tenant with the operator's finalizer, as after the first pass.
pub fn finalized(mut tenant: McpTenant) -> McpTenant {
    tenant.metadata.finalizers = Some(vec![crate::controller::FINALIZER.into()]);
    tenant
}

/// The upstream client Secret the fixture tenant references.
pub fn mk_client_secret() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "entra-client", "namespace": "mcp-contoso", "resourceVersion": "5"},
        "data": {"client-secret": "c2VjcmV0"}
    })
}
