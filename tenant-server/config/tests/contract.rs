//! The config contract: a document the operator writes reads back the same, and every bad value
//! is refused with the field named.

use mcp_tenancy_config::{
    CONFIG_API_VERSION, ConfigError, DEFAULT_TRUSTED_PROXIES, Environment, MAX_CONFIG_BYTES,
    MAX_TRUSTED_PROXIES, TenantConfig,
};

const VALID: &str = r#"
apiVersion: mcptenancy.dev/config/v1
tenant: {name: contoso, displayName: Contoso Ltd.}
server:
  publicUrl: https://contoso.mcp.example.com
  allowedHosts: [contoso.mcp.example.com, mcp-tenant.mcp-contoso.svc]
  allowedOrigins: [https://claude.ai]
  trustedProxies: [10.20.0.0/16, 198.51.100.7, "2001:db8:40::/48"]
identity:
  mode: External
  issuer: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0
  audiences: [https://contoso.mcp.example.com, api://contoso-mcp]
  allowedTenantIds: [11111111-2222-3333-4444-555555555555]
  tokenLifetimes: {access: 5m, refresh: 24h}
  upstream:
    issuer: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0
    clientId: 00000000-aaaa-bbbb-cccc-000000000000
    clientSecretFile: /etc/mcp-tenant/secrets/entra/client-secret
    scopes: [User.Read, Mail.Read]
access:
  tiers:
    - {name: readers, roles: [MCP.Read], tools: ["mail_list_messages", "calendar_*"]}
    - {name: admins, roles: [MCP.Admin], tools: ["*"], requireMfa: true}
  serviceAccounts:
    - {name: reporting, clientId: 99999999-aaaa-bbbb-cccc-000000000000, tools: [whoami]}
limits:
  perUser: {requests: 100, period: 15m}
storage:
  redis: {urlFile: /etc/mcp-tenant/secrets/redis/url}
graph: {baseUrl: "https://graph.microsoft.com", apiVersion: v1.0}
keys:
  signingKeysFile: /etc/mcp-tenant/keys/signing-keys.json
  encryptionKeyFile: /etc/mcp-tenant/keys/encryption-key
"#;

fn field_of(err: &ConfigError) -> Option<&str> {
    match err {
        ConfigError::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

#[test]
fn a_valid_document_round_trips() {
    let config = TenantConfig::from_yaml(VALID).unwrap();
    assert_eq!(config.api_version, CONFIG_API_VERSION);
    assert_eq!(config.environment, Environment::Production);
    assert_eq!(config.limits.per_user.period.as_secs(), 900);
    // Defaults fill what the document left out.
    assert_eq!(config.limits.auth.requests, 20);
    assert_eq!(config.server.max_sessions_per_user, 16);
    let again = TenantConfig::from_yaml(&config.to_yaml().unwrap()).unwrap();
    assert_eq!(config, again);
}

#[test]
fn each_bad_value_names_its_field() {
    let cases = [
        (
            "apiVersion: mcptenancy.dev/config/v1",
            "apiVersion: mcptenancy.dev/config/v9",
            "apiVersion",
        ),
        (
            "publicUrl: https://contoso",
            "publicUrl: http://contoso",
            "server.publicUrl",
        ),
        (
            "allowedOrigins: [https://claude.ai]",
            "allowedOrigins: [https://claude.ai/path]",
            "server.allowedOrigins[0]",
        ),
        (
            "tools: [\"mail_list_messages\"",
            "tools: [\"mial_list_messages\"",
            "access.tiers[0].tools[0]",
        ),
        (
            "trustedProxies: [10.20.0.0/16,",
            "trustedProxies: [10.20.0.0/33,",
            "server.trustedProxies[0]",
        ),
        ("198.51.100.7,", "lb.example.com,", "server.trustedProxies[1]"),
        (
            "\"2001:db8:40::/48\"",
            "\"2001:db8:40::1/48\"",
            "server.trustedProxies[2]",
        ),
        (
            "{access: 5m, refresh: 24h}",
            "{access: 48h, refresh: 24h}",
            "identity.tokenLifetimes",
        ),
        (
            "clientId: 99999999-aaaa-bbbb-cccc-000000000000, ",
            "",
            "access.serviceAccounts[0]",
        ),
        (
            "tools: [\"mail_list_messages\", \"calendar_*\"]",
            "tools: [\"mail_list_messages\", \"admin_*\"]",
            "access.tiers[0].tools[1]",
        ),
        (
            "tools: [whoami]}",
            "tools: [whoami, admin_list_grants]}",
            "access.serviceAccounts[0].tools[1]",
        ),
        (
            "perUser: {requests: 100",
            "perUser: {requests: 0",
            "limits.perUser",
        ),
        (
            "audiences: [https://contoso.mcp.example.com, api://contoso-mcp]",
            "audiences: []",
            "identity.audiences",
        ),
    ];
    for (from, to, field) in cases {
        assert!(VALID.contains(from), "fixture lacks {from}");
        let doc = VALID.replacen(from, to, 1);
        let err = TenantConfig::from_yaml(&doc).expect_err(to);
        assert_eq!(field_of(&err), Some(field), "for {to:?}: {err}");
    }
}

#[test]
fn trusted_proxies_default_to_the_in_cluster_ranges_and_may_be_emptied() {
    let listed = TenantConfig::from_yaml(VALID).unwrap();
    assert_eq!(
        listed.server.trusted_proxies,
        ["10.20.0.0/16", "198.51.100.7", "2001:db8:40::/48"]
    );
    // Absent: what the server trusted before the field existed, so older configs keep working.
    let absent = VALID.replacen(
        "  trustedProxies: [10.20.0.0/16, 198.51.100.7, \"2001:db8:40::/48\"]\n",
        "",
        1,
    );
    assert_ne!(absent, VALID);
    let config = TenantConfig::from_yaml(&absent).unwrap();
    assert_eq!(config.server.trusted_proxies, DEFAULT_TRUSTED_PROXIES);
    for cidr in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "::1/128",
        "fc00::/7",
    ] {
        assert!(DEFAULT_TRUSTED_PROXIES.contains(&cidr), "{cidr}");
    }
    // Explicitly empty: never believe X-Forwarded-For; it stays empty through a round trip.
    let empty = VALID.replacen(
        "trustedProxies: [10.20.0.0/16, 198.51.100.7, \"2001:db8:40::/48\"]",
        "trustedProxies: []",
        1,
    );
    let config = TenantConfig::from_yaml(&empty).unwrap();
    assert!(config.server.trusted_proxies.is_empty());
    let again = TenantConfig::from_yaml(&config.to_yaml().unwrap()).unwrap();
    assert!(again.server.trusted_proxies.is_empty());

    let too_many = format!("[{}]", vec!["10.0.0.0/8"; MAX_TRUSTED_PROXIES + 1].join(", "));
    let doc = VALID.replacen("[10.20.0.0/16, 198.51.100.7, \"2001:db8:40::/48\"]", &too_many, 1);
    let err = TenantConfig::from_yaml(&doc).unwrap_err();
    assert_eq!(field_of(&err), Some("server.trustedProxies"), "{err}");
    let doc = VALID.replacen("198.51.100.7", "10.1.2.3/8", 1);
    let err = TenantConfig::from_yaml(&doc).unwrap_err().to_string();
    assert!(
        err.starts_with("server.trustedProxies[1]: invalid CIDR \"10.1.2.3/8\"")
            && err.contains("10.0.0.0/8"),
        "{err}"
    );
}

#[test]
fn http_public_url_is_allowed_only_in_development() {
    let dev = VALID
        .replacen("publicUrl: https://", "publicUrl: http://", 1)
        .replacen("tenant:", "environment: development\ntenant:", 1);
    assert_eq!(
        TenantConfig::from_yaml(&dev).unwrap().environment,
        Environment::Development
    );
}

#[test]
fn malformed_unknown_and_oversized_documents_are_refused() {
    assert!(matches!(
        TenantConfig::from_yaml("apiVersion: [unclosed"),
        Err(ConfigError::Parse(_))
    ));
    let unknown = VALID.replacen("tenant:", "surprise: 1\ntenant:", 1);
    let err = TenantConfig::from_yaml(&unknown).unwrap_err();
    assert!(err.to_string().contains("surprise"), "{err}");
    let huge = format!("{VALID}\n#{}", "x".repeat(MAX_CONFIG_BYTES));
    assert!(matches!(
        TenantConfig::from_yaml(&huge),
        Err(ConfigError::TooLarge(_))
    ));
    let bad_duration = VALID.replacen("period: 15m", "period: 15 minutes", 1);
    let err = TenantConfig::from_yaml(&bad_duration).unwrap_err();
    assert!(err.to_string().contains("invalid duration"), "{err}");
}
