//! The tools this server offers: every registered tool is a catalog entry; tools switched off by
//! config (`tools.<group>: false`, `readOnly`, `disabled`) are dropped at start-up. Tools that say
//! they are not in the catalog (the conformance suite's fixtures) are listed after its tools.

use std::{collections::HashMap, sync::Arc};

use mcp_tenancy_config::{
    ToolSets,
    catalog::{TOOL_CATALOG, find_tool},
};

use super::Tool;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("tool {0:?} is not in the tool catalog")]
    NotInCatalog(String),
    #[error("tool {0:?} is registered twice")]
    Duplicate(String),
}

pub struct ToolRegistry {
    /// In catalog order.
    tools: Vec<Arc<dyn Tool>>,
    by_name: HashMap<&'static str, Arc<dyn Tool>>,
}

impl ToolRegistry {
    pub fn new(tools: Vec<Arc<dyn Tool>>, sets: &ToolSets) -> Result<Self, RegistryError> {
        let mut by_name = HashMap::new();
        let mut outside_catalog = Vec::new();
        for tool in tools {
            let name = tool.definition().name;
            if !tool.in_catalog() {
                if by_name.insert(name, tool.clone()).is_some() {
                    return Err(RegistryError::Duplicate(name.into()));
                }
                outside_catalog.push(tool);
                continue;
            }
            let entry = find_tool(name).ok_or_else(|| RegistryError::NotInCatalog(name.into()))?;
            if by_name.contains_key(name) {
                return Err(RegistryError::Duplicate(name.into()));
            }
            if sets.offers(entry) {
                by_name.insert(entry.name, tool);
            } else {
                tracing::info!(tool = name, "tool disabled by config");
            }
        }
        let tools = TOOL_CATALOG
            .iter()
            .filter_map(|e| by_name.get(e.name).cloned())
            .chain(outside_catalog)
            .collect();
        Ok(Self { tools, by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.by_name.get(name)
    }

    /// Every enabled tool, in catalog order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.iter()
    }

    pub fn len(&self) -> usize {
        self.tools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use rmcp::model::ToolAnnotations;
    use serde_json::{Map, Value};

    use super::*;
    use crate::tools::{ToolContext, ToolDefinition, ToolResult};

    struct Fake(ToolDefinition);

    #[async_trait]
    impl Tool for Fake {
        fn definition(&self) -> &ToolDefinition {
            &self.0
        }
        async fn call(&self, _: &ToolContext, _: Map<String, Value>) -> ToolResult {
            Err(crate::tools::ToolError::Cancelled)
        }
    }

    fn fake(name: &'static str) -> Arc<dyn Tool> {
        Arc::new(Fake(ToolDefinition {
            name,
            title: name,
            description: name,
            input_schema: Arc::new(Map::new()),
            output_schema: Arc::new(Map::new()),
            annotations: ToolAnnotations::new(),
        }))
    }

    fn names(r: &ToolRegistry) -> Vec<&'static str> {
        r.iter().map(|t| t.definition().name).collect()
    }

    #[test]
    fn config_drops_groups_writes_and_disabled_tools() {
        let all = || {
            vec![
                fake("mail_send"),
                fake("whoami"),
                fake("mail_search"),
                fake("files_search"),
            ]
        };
        let r = ToolRegistry::new(all(), &ToolSets::default()).unwrap();
        assert_eq!(
            names(&r),
            vec!["whoami", "mail_search", "mail_send", "files_search"]
        );
        let sets = ToolSets {
            read_only: true,
            files: false,
            ..ToolSets::default()
        };
        assert_eq!(
            names(&ToolRegistry::new(all(), &sets).unwrap()),
            vec!["whoami", "mail_search"]
        );
        let sets = ToolSets {
            disabled: vec!["mail_*".into()],
            ..ToolSets::default()
        };
        assert_eq!(
            names(&ToolRegistry::new(all(), &sets).unwrap()),
            vec!["whoami", "files_search"]
        );
    }

    #[test]
    fn refuses_unknown_and_duplicate_tools() {
        assert!(matches!(
            ToolRegistry::new(vec![fake("rm_rf")], &ToolSets::default()),
            Err(RegistryError::NotInCatalog(_))
        ));
        assert!(matches!(
            ToolRegistry::new(vec![fake("whoami"), fake("whoami")], &ToolSets::default()),
            Err(RegistryError::Duplicate(_))
        ));
    }

    /// A tool outside the catalog, as the conformance suite's fixtures are.
    struct Fixture(ToolDefinition);

    #[async_trait]
    impl Tool for Fixture {
        fn definition(&self) -> &ToolDefinition {
            &self.0
        }
        fn in_catalog(&self) -> bool {
            false
        }
        async fn call(&self, _: &ToolContext, _: Map<String, Value>) -> ToolResult {
            Err(crate::tools::ToolError::Cancelled)
        }
    }

    #[test]
    fn fixtures_are_admitted_after_the_catalog_and_other_unknown_tools_refused() {
        let fixture = |name| -> Arc<dyn Tool> { Arc::new(Fixture(fake(name).definition().clone())) };
        let registry = ToolRegistry::new(
            vec![fixture("test_simple_text"), fake("whoami")],
            &ToolSets::default(),
        );
        assert_eq!(names(&registry.unwrap()), vec!["whoami", "test_simple_text"]);
        let registry = ToolRegistry::new(
            vec![fake("test_simple_text"), fake("whoami")],
            &ToolSets::default(),
        );
        assert!(matches!(registry, Err(RegistryError::NotInCatalog(_))));
        let twice = ToolRegistry::new(
            vec![fixture("test_simple_text"), fixture("test_simple_text")],
            &ToolSets::default(),
        );
        assert!(matches!(twice, Err(RegistryError::Duplicate(_))));
    }
}
