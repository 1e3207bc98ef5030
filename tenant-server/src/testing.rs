//! Fixtures for unit tests.

use mcp_tenancy_config::TenantConfig;

use crate::caller::Caller;

/// A valid external-mode config; `identity_extra` lines go inside `identity:`.
pub fn config_yaml(public_url: &str, issuer: &str, identity_extra: &str) -> TenantConfig {
    let yaml = format!(
        "apiVersion: mcptenancy.dev/config/v1
tenant: {{name: test}}
environment: development
server:
  publicUrl: {public_url}
  allowedHosts: [mcp.example.com, 127.0.0.1]
identity:
  mode: External
  issuer: {issuer}
  audiences: [{public_url}/mcp]
{identity_extra}  upstream:
    issuer: {issuer}
    clientId: c
    clientSecretFile: /dev/null
    scopes: [User.Read]
storage:
  embedded: {{path: /tmp/x}}
graph: {{baseUrl: 'http://127.0.0.1:1', apiVersion: v1.0}}
keys: {{signingKeysFile: /dev/null, encryptionKeyFile: /dev/null}}
"
    );
    TenantConfig::from_yaml(&yaml).unwrap()
}

pub fn caller(subject: &str) -> Caller {
    Caller {
        subject: subject.into(),
        object_id: None,
        tenant_id: None,
        name: None,
        client_id: None,
        roles: vec![],
        mfa: false,
        service_account: None,
        tiers: vec![],
        assertion: None,
        grant_id: None,
    }
}
