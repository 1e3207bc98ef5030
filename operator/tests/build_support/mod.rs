//! Fixtures shared by the builder and example tests.

#![allow(dead_code)] // each test crate uses a different part

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use mcp_tenancy_operator::{
    api::McpTenant,
    build::{BuildInput, Child, OperatorDefaults, build_children},
    render,
    validate::{ValidatedTenant, validate},
};
use serde_json::Value;

pub const SECRETS_CHECKSUM: &str = "4f1c0ffee";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn read_example(relative: &str) -> String {
    let path = repo_root().join("examples").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `examples/*.yaml` (valid) or `examples/invalid/*.yaml`, sorted.
pub fn example_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {dir}");
    files
}

/// A checked example with the uid the API server would have given it.
pub fn mk_tenant(example: &str) -> McpTenant {
    let mut tenant = render::parse_manifest(&read_example(example)).unwrap();
    tenant.metadata.uid = Some("0d9f7b52-6a3e-4c1d-9b8a-7e6f5d4c3b2a".into());
    tenant
}

pub fn mk_defaults() -> OperatorDefaults {
    OperatorDefaults {
        server_image: "registry.example/mcp-tenant-server:1.2.3".into(),
        ingress_controller_namespace: "ingress-system".into(),
        monitoring_namespace: "monitoring".into(),
        trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
    }
}

/// The tenant as the validate step passes it on (panics when invalid).
pub fn validated(tenant: &McpTenant) -> ValidatedTenant<'_> {
    validate(tenant).unwrap()
}

pub fn build(tenant: &McpTenant, monitoring_crds_installed: bool) -> Vec<Child> {
    build_children(&BuildInput {
        tenant: validated(tenant),
        defaults: &mk_defaults(),
        secrets_checksum: SECRETS_CHECKSUM,
        monitoring_crds_installed,
    })
    .unwrap()
}

pub fn kinds(children: &[Child]) -> Vec<String> {
    children.iter().map(|c| c.resource.kind.clone()).collect()
}

/// The child of `kind` as JSON (panics when absent: use [`kinds`] to check absence).
pub fn object(children: &[Child], kind: &str) -> Value {
    let child = children
        .iter()
        .find(|c| c.resource.kind == kind)
        .unwrap_or_else(|| panic!("no {kind}"));
    serde_json::to_value(&child.object).unwrap()
}

/// The generated CRD's schema as committed in crds/, as the API server would check with
/// `--validate=strict` (unknown fields refused).
pub fn committed_crd_schema() -> (Value, Value) {
    let text = std::fs::read_to_string(repo_root().join("crds/mcptenancy.dev_mcptenants.yaml")).unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    assert!(schema.is_object(), "CRD has no openAPIV3Schema");
    let mut strict = schema.clone();
    render::add_object_envelope(&mut strict);
    render::strict_openapi_schema(&mut strict);
    (strict, schema)
}

/// Errors of the committed CRD (schema, then CEL rules) for a manifest.
pub fn crd_errors(manifest: &str) -> Vec<String> {
    let (strict, schema) = committed_crd_schema();
    let value: Value = serde_saphyr::from_str(manifest).unwrap();
    let validator = jsonschema::draft4::new(&strict).unwrap();
    let mut errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{}: {e}", e.instance_path().as_str()))
        .collect();
    errors.extend(render::list_type_errors(&schema, &value));
    if errors.is_empty()
        && let Err(cel) = kube::core::cel::Validator::new().validate(&schema, &value, None)
    {
        errors.extend(cel.iter().map(|e| format!("{}: {}", e.field_path, e.message)));
    }
    errors
}

pub fn render_file(text: &str) -> String {
    let tenant = render::parse_manifest(text).unwrap();
    let children = render::render_children(tenant, &mk_defaults(), true).unwrap();
    render::to_yaml_stream(&children).unwrap()
}

/// `# layer: schema|cel` and `# expect: <text>` in the header of each invalid example.
pub fn header(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
        .unwrap_or_else(|| panic!("no `# {key}:` line"))
        .to_string()
}

pub fn operator(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-tenancy-operator"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// CEL errors of the committed CRD for an update from `old` to `new` (transition rules).
pub fn crd_update_errors(old: &str, new: &str) -> Vec<String> {
    let (_, schema) = committed_crd_schema();
    let old: Value = serde_saphyr::from_str(old).unwrap();
    let new: Value = serde_saphyr::from_str(new).unwrap();
    match kube::core::cel::Validator::new().validate(&schema, &new, Some(&old)) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field_path, e.message))
            .collect(),
    }
}
