//! What `tools/list` shows of every tool (name, title, description, schemas, annotations) is
//! pinned by a snapshot, so refactoring how tools are written cannot change it unnoticed. After an
//! intended change, regenerate with `UPDATE_SNAPSHOTS=1 cargo nextest run -p mcp-tenant-server
//! --test integration m365_tools_list` and review the diff.

use std::{path::PathBuf, sync::Arc};

use mcp_tenancy_config::Environment;
use mcp_tenant_server::{
    graph::{DevTokenProvider, GraphTokenProvider},
    tools::{
        Tool, core,
        m365::{M365Deps, m365_tools},
    },
};
use prometheus::Registry;
use serde_json::{Value, json};

fn listing(tools: &[Arc<dyn Tool>]) -> Value {
    let mut defs: Vec<Value> = tools
        .iter()
        .map(|t| {
            let d = t.definition();
            json!({
                "name": d.name,
                "title": d.title,
                "description": d.description,
                "inputSchema": *d.input_schema,
                "outputSchema": *d.output_schema,
                "annotations": d.annotations,
            })
        })
        .collect();
    defs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(defs)
}

/// The core and Microsoft 365 tools of the development config.
fn all_tools() -> Vec<Arc<dyn Tool>> {
    let config = mcp_tenant_server::dev::default_config(0).unwrap();
    let tokens: Arc<dyn GraphTokenProvider> =
        Arc::new(DevTokenProvider::new(Environment::Development).unwrap());
    let deps = M365Deps::new(&config.graph, tokens, &Registry::new()).unwrap();
    let mut tools = core::tools(&config);
    tools.extend(m365_tools(deps));
    tools
}

#[test]
fn tool_definitions_match_the_snapshot() {
    let tools = all_tools();
    let actual = serde_json::to_string_pretty(&listing(&tools)).unwrap() + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/tools_list.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "tools/list definitions differ from {}; rerun with UPDATE_SNAPSHOTS=1 and review the diff",
        path.display()
    );
}

/// Every `format` keyword in every schema, with where it is.
fn formats(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(format)) = map.get("format") {
                found.push((at.to_owned(), format.clone()));
            }
            for (key, inner) in map {
                formats(inner, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                formats(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn schemas_use_only_formats_json_schema_2020_12_defines() {
    let tools = all_tools();
    let mut found = Vec::new();
    formats(&listing(&tools), "", &mut found);
    // Clients' validators (the Inspector's Ajv) warn about anything else: "unknown format \"uint\"".
    let unknown: Vec<_> = found
        .iter()
        .filter(|(_, f)| {
            !["date-time", "date", "time", "duration", "email", "uri", "uuid"].contains(&f.as_str())
        })
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
}
