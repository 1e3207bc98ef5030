//! `render`: an McpTenant manifest in, every child object out, with no cluster.
//!
//! The manifest is checked the way the API server would check it (the CRD's OpenAPI schema, with
//! unknown fields refused, then its CEL rules) and then by [`validate_tenant`], so a manifest that
//! renders is one the cluster accepts and the operator can build.

use std::{fmt::Write as _, sync::OnceLock};

use aws_lc_rs::digest;
use kube::{CustomResourceExt, Resource, core::cel::Validator};
use serde_json::Value;

use crate::{
    api::{McpTenant, McpTenantSpec},
    build::{self, BuildError, BuildInput, Child, KEYS_SECRET_NAME, OperatorDefaults, referenced_secrets},
    validate::{InvalidTenant, ValidationError, validate, validate_tenant},
};

/// Why a manifest cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("not valid YAML: {0}")]
    Yaml(String),
    #[error("not an McpTenant: {0}")]
    NotAnMcpTenant(String),
    /// Schema or CEL rule violations, one `field: message` per line.
    #[error("the manifest does not match the McpTenant schema:\n  {}", .0.join("\n  "))]
    Schema(Vec<String>),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Tenant(#[from] InvalidTenant),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot write YAML: {0}")]
    Output(String),
}

impl RenderError {
    /// Whether the manifest is at fault (as opposed to this program).
    pub fn is_invalid_manifest(&self) -> bool {
        !matches!(self, Self::Output(_) | Self::Build(BuildError::Convert { .. }))
    }
}

/// Parses and checks a manifest like the API server and the operator would.
pub fn parse_manifest(text: &str) -> Result<McpTenant, RenderError> {
    let documents: Vec<Value> =
        serde_saphyr::from_str_multiple(text).map_err(|e| RenderError::Yaml(e.to_string()))?;
    let [value] = <[Value; 1]>::try_from(documents).map_err(|docs| {
        RenderError::NotAnMcpTenant(format!("expected one YAML document, found {}", docs.len()))
    })?;
    let api_version = McpTenant::api_version(&());
    let kind = McpTenant::kind(&());
    if value.get("apiVersion").and_then(Value::as_str) != Some(&api_version)
        || value.get("kind").and_then(Value::as_str) != Some(&kind)
    {
        return Err(RenderError::NotAnMcpTenant(format!(
            "expected apiVersion {api_version} and kind {kind}"
        )));
    }
    check_schema(&value)?;
    let tenant: McpTenant =
        serde_json::from_value(value).map_err(|e| RenderError::Schema(vec![e.to_string()]))?;
    validate_tenant(&tenant)?;
    Ok(tenant)
}

/// The CRD's OpenAPI schema and CEL rules, compiled once.
struct ManifestSchema {
    /// The structural schema, for the list-type checks.
    schema: Value,
    openapi: jsonschema::Validator,
    cel: kube::core::cel::CompiledSchema,
}

fn manifest_schema() -> Result<&'static ManifestSchema, RenderError> {
    static SCHEMA: OnceLock<Result<ManifestSchema, String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let crd = McpTenant::crd();
            let schema = crd
                .spec
                .versions
                .first()
                .and_then(|v| v.schema.as_ref())
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| e.to_string())?
                .ok_or("the generated CRD has no schema")?;
            let mut strict = schema.clone();
            add_object_envelope(&mut strict);
            strict_openapi_schema(&mut strict);
            Ok(ManifestSchema {
                openapi: jsonschema::draft4::new(&strict).map_err(|e| e.to_string())?,
                cel: kube::core::cel::compile_schema(&schema),
                schema,
            })
        })
        .as_ref()
        .map_err(|e| RenderError::Output(e.clone()))
}

/// Checks a manifest the way the API server does on create: the OpenAPI schema (unknown fields
/// refused), list types (`set` and `map` lists hold each item or key once), then the CEL rules on
/// the defaulted object.
pub fn check_schema(value: &Value) -> Result<(), RenderError> {
    let checker = manifest_schema()?;
    let mut errors: Vec<String> = checker
        .openapi
        .iter_errors(value)
        .map(|e| format!("{}: {e}", field_path(e.instance_path().as_str())))
        .collect();
    errors.extend(list_type_errors(&checker.schema, value));
    if !errors.is_empty() {
        return Err(RenderError::Schema(errors));
    }
    // The API server gives CEL an object without its null fields: `has()` is false for them.
    let value = &without_nulls(value.clone());
    Validator::new()
        .validate_compiled(&checker.cel, value, None)
        .map_err(|errors| {
            RenderError::Schema(
                errors
                    .iter()
                    .map(|e| match value_at(value, &e.field_path) {
                        // Like the API server's `Invalid value: "…"`, for values worth showing.
                        Some(shown @ (Value::String(_) | Value::Number(_))) => {
                            format!("{}: {shown}: {}", display_field(&e.field_path), e.message)
                        }
                        _ => format!("{}: {}", display_field(&e.field_path), e.message),
                    })
                    .collect(),
            )
        })
}

/// `value` without the object fields that are null (nullable fields set to null).
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The value at a field path such as `spec.access.tiers[1].tools[0]`.
fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = value;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = segment
            .split_once('[')
            .map_or((segment, ""), |(n, rest)| (n, rest));
        at = at.get(name)?;
        for index in indexes.split('[').filter(|i| !i.is_empty()) {
            at = at.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(at)
}

/// Duplicates in `x-kubernetes-list-type: set` lists and duplicate keys in `map` lists, which
/// the API server refuses and a JSON schema validator does not see.
pub fn list_type_errors(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    collect_list_type_errors(schema, value, "", &mut errors);
    errors
}

fn collect_list_type_errors(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (name, child) in fields {
                let child_schema = schema
                    .pointer(&format!("/properties/{name}"))
                    .or_else(|| schema.get("additionalProperties").filter(|s| s.is_object()));
                if let Some(child_schema) = child_schema {
                    let child_path = if path.is_empty() {
                        name.clone()
                    } else {
                        format!("{path}.{name}")
                    };
                    collect_list_type_errors(child_schema, child, &child_path, errors);
                }
            }
        }
        Value::Array(items) => {
            let keys: Option<Vec<&str>> = match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => Some(Vec::new()),
                Some("map") => schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect()),
                _ => None,
            };
            if let Some(keys) = keys {
                let identity = |item: &Value| -> Value {
                    if keys.is_empty() {
                        item.clone()
                    } else {
                        keys.iter()
                            .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                            .collect()
                    }
                };
                for (i, item) in items.iter().enumerate() {
                    if items[..i]
                        .iter()
                        .any(|earlier| identity(earlier) == identity(item))
                    {
                        errors.push(format!("{path}[{i}]: Duplicate value: {}", identity(item)));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    collect_list_type_errors(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

/// A CRD schema leaves out the fields every object has; the API server checks them itself.
pub fn add_object_envelope(schema: &mut Value) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties
            .entry("apiVersion")
            .or_insert_with(|| serde_json::json!({"type": "string"}));
        properties
            .entry("kind")
            .or_insert_with(|| serde_json::json!({"type": "string"}));
        properties
            .entry("metadata")
            .or_insert_with(|| serde_json::json!({"type": "object"}));
    }
}

/// Makes a structural OpenAPI schema act like the API server with `kubectl --validate=strict`:
/// unknown fields are errors (instead of being pruned) and `nullable` admits null.
pub fn strict_openapi_schema(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let preserves = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if map.contains_key("properties") && !map.contains_key("additionalProperties") && !preserves {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(ty)) = map.get("type").cloned()
            {
                map.insert("type".into(), serde_json::json!([ty, "null"]));
            }
            map.values_mut().for_each(strict_openapi_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(strict_openapi_schema),
        _ => {}
    }
}

/// `/spec/access/tiers/1/tools/0` → `spec.access.tiers[1].tools[0]`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            let _ = write!(out, "[{segment}]");
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    if out.is_empty() { "<root>".into() } else { out }
}

fn display_field(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// What `render` puts where the controller would use facts from the cluster.
pub struct OfflineFacts {
    /// Stands for the API server's `metadata.uid` in owner references.
    pub uid: String,
    /// Stands for the digest of the Secrets' contents.
    pub secrets_checksum: String,
}

/// Derives the cluster facts from the manifest alone: the uid from the tenant name (a stable UUID
/// form of a SHA-256), the secrets checksum from the names of the Secret keys the server reads
/// (the key Secret's and every referenced one), since their contents are not known offline.
pub fn offline_facts(tenant: &McpTenant) -> OfflineFacts {
    let name = tenant.metadata.name.as_deref().unwrap_or_default();
    let uid_hash = digest::digest(
        &digest::SHA256,
        format!("mcptenancy.dev/McpTenant/{name}").as_bytes(),
    );
    let mut b = [0u8; 16];
    b.copy_from_slice(&uid_hash.as_ref()[..16]);
    // RFC 9562 version 8 (custom) and variant bits, so that it reads as what it is.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let uid = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    );
    OfflineFacts {
        uid,
        secrets_checksum: secrets_checksum_of_references(&tenant.spec),
    }
}

fn secrets_checksum_of_references(spec: &McpTenantSpec) -> String {
    let mut listing = String::new();
    for key in [
        mcp_tenancy_config::keys::SIGNING_KEYS_FILE,
        mcp_tenancy_config::keys::ENCRYPTION_KEY_FILE,
    ] {
        let _ = writeln!(listing, "{KEYS_SECRET_NAME}/{key}");
    }
    for (secret, keys) in referenced_secrets(spec) {
        for key in keys {
            let _ = writeln!(listing, "{secret}/{key}");
        }
    }
    hex::encode(digest::digest(&digest::SHA256, listing.as_bytes()))
}

/// Every child of a checked manifest, built as the controller would with the offline facts.
pub fn render_children(
    mut tenant: McpTenant,
    defaults: &OperatorDefaults,
    monitoring_crds_installed: bool,
) -> Result<Vec<Child>, RenderError> {
    let facts = offline_facts(&tenant);
    tenant.metadata.uid.get_or_insert(facts.uid);
    let input = BuildInput {
        tenant: validate(&tenant)?,
        defaults,
        secrets_checksum: &facts.secrets_checksum,
        monitoring_crds_installed,
    };
    Ok(build::build_children(&input)?)
}

/// The children as one multi-document YAML stream.
pub fn to_yaml_stream(children: &[Child]) -> Result<String, RenderError> {
    let mut out = String::new();
    for child in children {
        let yaml = serde_saphyr::to_string(&child.object).map_err(|e| RenderError::Output(e.to_string()))?;
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointers_read_as_field_paths() {
        assert_eq!(
            field_path("/spec/access/tiers/1/tools/0"),
            "spec.access.tiers[1].tools[0]"
        );
        assert_eq!(field_path("/metadata/labels/a~1b"), "metadata.labels.a/b");
        assert_eq!(field_path(""), "<root>");
    }

    #[test]
    fn the_offline_uid_is_a_stable_uuid_of_the_name() {
        let tenant = |name: &str| {
            let mut t = parse_manifest(include_str!("../../examples/minimal.yaml")).unwrap();
            t.metadata.name = Some(name.into());
            t
        };
        let uid = offline_facts(&tenant("contoso")).uid;
        assert_eq!(uid, offline_facts(&tenant("contoso")).uid);
        assert_ne!(uid, offline_facts(&tenant("fabrikam")).uid);
        let groups: Vec<usize> = uid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&uid[14..15], "8", "version 8");
    }

    #[test]
    fn the_offline_secrets_checksum_follows_the_referenced_keys() {
        let mut tenant = parse_manifest(include_str!("../../examples/minimal.yaml")).unwrap();
        let before = offline_facts(&tenant).secrets_checksum;
        tenant.spec.identity.upstream.client_secret_ref.key = "other-key".into();
        assert_ne!(before, offline_facts(&tenant).secrets_checksum);
        assert_eq!(before.len(), 64);
    }

    #[test]
    fn unknown_fields_and_wrong_kinds_are_refused() {
        let minimal = include_str!("../../examples/minimal.yaml");
        let typo = minimal.replace("spec:\n", "spec:\n  suspended: true\n");
        let err = parse_manifest(&typo).unwrap_err().to_string();
        assert!(
            err.contains("spec: Additional properties are not allowed ('suspended' was unexpected)"),
            "{err}"
        );
        let err = parse_manifest(&minimal.replace("kind: McpTenant", "kind: Tenant")).unwrap_err();
        assert!(matches!(err, RenderError::NotAnMcpTenant(_)));
        let err = parse_manifest(&format!("{minimal}---\n{minimal}"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "not an McpTenant: expected one YAML document, found 2");
        assert!(parse_manifest(&format!("---\n{minimal}")).is_ok());
    }
}
