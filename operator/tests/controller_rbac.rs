//! The ClusterRole rules file covers every kind and verb the controller uses, and nothing more.

// Helpers count as test code for the unwrap/panic lints only inside a cfg(test) module.
#[cfg(test)]
mod rbac {
    use std::{
        collections::{BTreeMap, BTreeSet},
        path::Path,
    };

    use mcp_tenancy_operator::{
        build::{OperatorDefaults, prunable_resources},
        controller::kinds::child_resources,
        render,
    };
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Rule {
        api_groups: Vec<String>,
        resources: Vec<String>,
        verbs: Vec<String>,
    }

    type Grants = BTreeMap<(String, String), BTreeSet<String>>;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    }

    fn granted() -> Grants {
        let text =
            std::fs::read_to_string(root().join("charts/mcp-tenancy/files/clusterrole-rules.yaml")).unwrap();
        let rules: Vec<Rule> = serde_saphyr::from_str(&text).unwrap();
        let mut grants = Grants::new();
        for rule in rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    let verbs = grants.entry((group.clone(), resource.clone())).or_default();
                    for verb in &rule.verbs {
                        assert!(
                            verbs.insert(verb.clone()),
                            "{verb} on {group}/{resource} granted twice"
                        );
                    }
                }
            }
        }
        grants
    }

    /// What the controller does, kind by kind (see controller/{apply,prune,reconcile,keys,runtime}.rs).
    fn needed() -> Grants {
        let mut needed = Grants::new();
        let mut need = |group: &str, resource: &str, verbs: &[&str]| {
            needed
                .entry((group.into(), resource.into()))
                .or_default()
                .extend(verbs.iter().map(|v| v.to_string()));
        };
        need("mcptenancy.dev", "mcptenants", &["get", "list", "watch", "patch"]);
        need("mcptenancy.dev", "mcptenants/status", &["patch"]);
        need("mcptenancy.dev", "mcptenants/finalizers", &["update"]);
        let prunable: Vec<_> = prunable_resources()
            .iter()
            .map(|r| (r.group.clone(), r.plural.clone()))
            .collect();
        for r in child_resources() {
            // Watched (list, watch), read (get), server-side applied (create, patch).
            need(&r.group, &r.plural, &["get", "list", "watch", "create", "patch"]);
            if prunable.contains(&(r.group.clone(), r.plural.clone())) || r.kind == "Namespace" {
                need(&r.group, &r.plural, &["delete"]);
            }
        }
        need("", "secrets", &["get", "list", "watch", "create", "update"]);
        need("events.k8s.io", "events", &["create", "patch"]);
        needed
    }

    #[test]
    fn the_rules_grant_exactly_what_the_controller_needs() {
        let granted = granted();
        let needed = needed();
        for (key, verbs) in &needed {
            let have = granted.get(key).cloned().unwrap_or_default();
            let missing: Vec<_> = verbs.difference(&have).collect();
            assert!(missing.is_empty(), "{key:?} lacks {missing:?}");
        }
        for (key, verbs) in &granted {
            let want = needed.get(key).cloned().unwrap_or_default();
            let extra: Vec<_> = verbs.difference(&want).collect();
            assert!(extra.is_empty(), "{key:?} grants more than needed: {extra:?}");
        }
    }

    #[test]
    fn every_kind_the_builders_make_is_a_watched_child_kind() {
        let watched: BTreeSet<_> = child_resources().into_iter().map(|r| (r.group, r.kind)).collect();
        let defaults = OperatorDefaults {
            server_image: "example/server:1".into(),
            ingress_controller_namespace: "ingress".into(),
            monitoring_namespace: "monitoring".into(),
            trusted_proxies: mcp_tenancy_config::default_trusted_proxies(),
        };
        let mut seen = BTreeSet::new();
        for entry in std::fs::read_dir(root().join("examples")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let tenant = render::parse_manifest(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for monitoring in [true, false] {
                for child in render::render_children(tenant.clone(), &defaults, monitoring).unwrap() {
                    let kind = (child.resource.group.clone(), child.resource.kind.clone());
                    assert!(
                        watched.contains(&kind),
                        "{} makes {kind:?}, which the controller does not watch",
                        path.display()
                    );
                    seen.insert(kind);
                }
            }
        }
        assert!(seen.len() >= 10, "the examples exercise most kinds: {seen:?}");
    }
}
