//! The one way to write a tool: typed arguments and output, whose JSON Schemas are derived
//! (schemars), plus a name, title and description. The tool's group and whether it writes come
//! from its catalog entry ([`mcp_tenancy_config::catalog`]), and with them its annotations, so no
//! tool states them twice.

use std::{marker::PhantomData, sync::Arc};

use async_trait::async_trait;
use mcp_tenancy_config::catalog::{self, ToolEntry};
use rmcp::model::ToolAnnotations;
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::{Tool, ToolContext, ToolDefinition, ToolError, ToolOutput, ToolResult};

/// A tool with typed arguments and output; [`typed`] turns it into a [`Tool`].
#[async_trait]
pub trait TypedTool: Send + Sync + 'static {
    /// What every call shares (clients, caches, fixed data).
    type Deps: Send + Sync + 'static;
    /// Deserialized from the call's `arguments`; a failure is `InvalidArguments`.
    type Args: DeserializeOwned + JsonSchema + Send;
    /// Becomes `structuredContent`.
    type Output: Serialize + JsonSchema;
    /// A name of the tool catalog; a name outside it does not compile (see [`typed`]).
    const NAME: &'static str;
    const TITLE: &'static str;
    /// Written for a language model: what it does, when to use it, what it returns.
    const DESCRIPTION: &'static str;
    /// Whether the listed schemas carry their type's name as `title` (the core tools' schemas
    /// never did, and clients see them unchanged).
    const SCHEMA_TITLES: bool = true;

    /// Resource links to the items `output` names (see [`crate::resources::link`]); none by default.
    fn links(_output: &Self::Output) -> Vec<rmcp::model::Resource> {
        Vec::new()
    }

    /// Runs with validated arguments; returns the structured result and a one-line summary.
    async fn run(
        deps: &Self::Deps,
        ctx: &ToolContext,
        args: Self::Args,
    ) -> Result<(Self::Output, String), ToolError>;
}

/// Annotations that follow from the catalog entry: a tool that writes is destructive and not
/// idempotent, one that reads is read-only and idempotent; every group but core and admin
/// reaches Microsoft 365 (open world).
pub fn annotations(title: &str, entry: &ToolEntry) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(!entry.writes)
        .destructive(entry.writes)
        .idempotent(!entry.writes)
        .open_world(entry.group.is_m365())
}

/// The `format` values JSON Schema 2020-12 defines; schemars adds others (`uint32`, `double`,
/// ...) that clients' validators warn about ("unknown format ignored").
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Drops every `format` keyword that is not a standard one, at any depth. A property named
/// `format` holds a schema (an object), never a string, and stays.
fn drop_unknown_formats(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let unknown = map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !STANDARD_FORMATS.contains(&f));
            if unknown {
                map.remove("format");
            }
            map.values_mut().for_each(drop_unknown_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_unknown_formats),
        _ => {}
    }
}

/// The JSON Schema of `T` as an object schema (without `$schema`; without `title` unless `titled`;
/// only standard formats).
fn object_schema<T: JsonSchema>(titled: bool) -> Arc<Map<String, Value>> {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    drop_unknown_formats(&mut v);
    match v.as_object_mut() {
        Some(o) => {
            o.remove("$schema");
            if !titled {
                o.remove("title");
            }
            Arc::new(std::mem::take(o))
        }
        None => Arc::new(Map::from_iter([(
            "type".to_string(),
            Value::String("object".into()),
        )])),
    }
}

struct Typed<T: TypedTool> {
    deps: T::Deps,
    definition: ToolDefinition,
    _tool: PhantomData<fn() -> T>,
}

/// `T` as a [`Tool`], described by its catalog entry. The entry is looked up at compile time.
pub fn typed<T: TypedTool>(deps: T::Deps) -> Arc<dyn Tool> {
    let entry = const { catalog::entry(T::NAME) };
    Arc::new(Typed::<T> {
        deps,
        definition: ToolDefinition {
            name: T::NAME,
            title: T::TITLE,
            description: T::DESCRIPTION,
            input_schema: object_schema::<T::Args>(T::SCHEMA_TITLES),
            output_schema: object_schema::<T::Output>(T::SCHEMA_TITLES),
            annotations: annotations(T::TITLE, &entry),
        },
        _tool: PhantomData,
    })
}

#[async_trait]
impl<T: TypedTool> Tool for Typed<T> {
    fn definition(&self) -> &ToolDefinition {
        &self.definition
    }

    async fn call(&self, ctx: &ToolContext, arguments: Map<String, Value>) -> ToolResult {
        let args: T::Args = serde_json::from_value(Value::Object(arguments))
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let (output, text) = T::run(&self.deps, ctx, args).await?;
        let links = T::links(&output);
        let structured = serde_json::to_value(output).map_err(|e| {
            tracing::error!(tool = T::NAME, error = %e, "tool output did not serialize");
            ToolError::Internal {
                request_id: ctx.request_id.clone(),
            }
        })?;
        Ok(ToolOutput {
            structured,
            text,
            links,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_formats_go_and_standard_ones_and_properties_named_format_stay() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "top": {"type": "integer", "format": "uint32"},
                "when": {"type": "string", "format": "date-time"},
                "format": {"type": "string", "enum": ["html", "text"]},
                "list": {"type": "array", "items": {"type": "number", "format": "double"}},
                "either": {"anyOf": [{"type": "integer", "format": "int64"}, {"type": "null"}]}
            }
        });
        drop_unknown_formats(&mut schema);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "top": {"type": "integer"},
                    "when": {"type": "string", "format": "date-time"},
                    "format": {"type": "string", "enum": ["html", "text"]},
                    "list": {"type": "array", "items": {"type": "number"}},
                    "either": {"anyOf": [{"type": "integer"}, {"type": "null"}]}
                }
            })
        );
    }

    #[test]
    fn annotations_follow_the_catalog_entry() {
        let a = annotations("Send", &catalog::entry("mail_send"));
        assert_eq!(
            (
                a.read_only_hint,
                a.destructive_hint,
                a.idempotent_hint,
                a.open_world_hint
            ),
            (Some(false), Some(true), Some(false), Some(true))
        );
        let a = annotations("List", &catalog::entry("mail_list_messages"));
        assert_eq!(
            (
                a.read_only_hint,
                a.destructive_hint,
                a.idempotent_hint,
                a.open_world_hint
            ),
            (Some(true), Some(false), Some(true), Some(true))
        );
        let a = annotations("Who", &catalog::entry("whoami"));
        assert_eq!((a.read_only_hint, a.open_world_hint), (Some(true), Some(false)));
        assert_eq!(a.title.as_deref(), Some("Who"));
    }
}
