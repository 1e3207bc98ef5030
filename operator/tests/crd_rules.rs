//! The generated CRD as the API server checks it before it accepts the CRD: every rule's
//! `fieldPath` is a JSON path to a property, every string, list and map a rule reads has a bound
//! (the API server estimates a rule's cost from them and refuses rules over its budget), formats
//! are ones Kubernetes knows (others print a warning on every apply), and every rule compiles.
//! The API server's own cost estimate is checked on a real cluster (docs/e2e.md).

#[cfg(test)]
mod build_support;

// In a test module, as every test file here, so that failing loudly is allowed.

#[cfg(test)]
mod crd_rules {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::build_support::committed_crd_schema;

    fn schema() -> Value {
        committed_crd_schema().1
    }

    /// Every schema node with its path (`.spec.access.tiers[*].tools[*]`).
    fn nodes(node: &Value, path: &str, out: &mut Vec<(String, Value)>) {
        out.push((path.to_owned(), node.clone()));
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                nodes(child, &format!("{path}.{name}"), out);
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(child) = node.get(key).filter(|c| c.is_object()) {
                nodes(child, &format!("{path}[*]"), out);
            }
        }
    }

    fn all_nodes() -> Vec<(String, Value)> {
        let mut out = Vec::new();
        nodes(&schema(), "", &mut out);
        out
    }

    fn rules(node: &Value) -> Vec<Value> {
        node.get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn every_field_path_is_a_json_path_to_a_property() {
        let mut checked = 0;
        for (path, node) in all_nodes() {
            for rule in rules(&node) {
                let Some(field_path) = rule.get("fieldPath").and_then(Value::as_str) else {
                    continue;
                };
                let segments = field_path.strip_prefix('.').unwrap_or_else(|| {
                    panic!("{path}: fieldPath {field_path:?} must start with '.' (a JSON path)")
                });
                let mut at = &node;
                for segment in segments.split('.') {
                    at = at.pointer(&format!("/properties/{segment}")).unwrap_or_else(|| {
                        panic!("{path}: fieldPath {field_path:?}: no property {segment:?}")
                    });
                }
                checked += 1;
            }
        }
        assert!(checked >= 5, "only {checked} field paths found");
    }

    /// The bound `node` itself lacks, if any.
    fn missing_bound(node: &Value) -> Option<&'static str> {
        let has = |key: &str| node.get(key).is_some();
        let ty = node.get("type").and_then(Value::as_str);
        let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
        let map = ty == Some("object") && node.get("additionalProperties").is_some_and(Value::is_object);
        if (ty == Some("string") || int_or_string) && !has("maxLength") && !has("enum") {
            Some("a string without maxLength")
        } else if ty == Some("array") && !has("maxItems") {
            Some("a list without maxItems")
        } else if map && !has("maxProperties") {
            Some("a map without maxProperties")
        } else {
            None
        }
    }

    /// The first node at or under `node` without a bound.
    fn unbounded(node: &Value, path: &str) -> Option<String> {
        let mut under = Vec::new();
        nodes(node, path, &mut under);
        under
            .iter()
            .find_map(|(p, n)| missing_bound(n).map(|why| format!("{p}: {why}")))
    }

    /// The schema nodes a rule reads: `self`, and every `self.a.b` chain outside `has()`, resolved
    /// through the properties (a chain stops at the first name that is not a property: a method).
    fn read_by(rule: &str, node: &Value) -> Vec<(String, Value)> {
        let mut read = Vec::new();
        let text = rule.replace("has(self.", "has(_.");
        let mut rest = text.as_str();
        'occurrences: while let Some(at) = rest.find("self") {
            let before = rest[..at].chars().last();
            rest = &rest[at + 4..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let mut target = node;
            let mut path = "self".to_owned();
            let mut chain = rest;
            while let Some(after_dot) = chain.strip_prefix('.') {
                let name: String = after_dot
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // CEL reserves some words; Kubernetes escapes such properties as `__word__`.
                let property = name
                    .strip_prefix("__")
                    .and_then(|n| n.strip_suffix("__"))
                    .unwrap_or(&name);
                match target.pointer(&format!("/properties/{property}")) {
                    Some(child) => {
                        target = child;
                        path = format!("{path}.{name}");
                        chain = &after_dot[name.len()..];
                    }
                    // The API server bounds metadata itself (names are at most 253 characters).
                    None if name == "metadata" && path == "self" => continue 'occurrences,
                    None => break,
                }
            }
            read.push((path, target.clone()));
        }
        read
    }

    #[test]
    fn every_string_list_and_map_a_rule_reads_is_bounded() {
        let mut problems = BTreeSet::new();
        let mut rules_checked = 0;
        for (path, node) in all_nodes() {
            for rule in rules(&node) {
                let text = rule["rule"].as_str().unwrap();
                rules_checked += 1;
                for (chain, target) in read_by(text, &node) {
                    if let Some(problem) = unbounded(&target, &format!("{path} ({chain})")) {
                        problems.insert(format!("{problem}, read by {text:?}"));
                    }
                }
            }
        }
        assert!(rules_checked >= 20, "only {rules_checked} rules found");
        assert!(
            problems.is_empty(),
            "unbounded reads:\n{}",
            problems.into_iter().collect::<Vec<_>>().join("\n")
        );
    }

    #[test]
    fn formats_are_ones_kubernetes_knows() {
        // apiextensions-apiserver's supported formats (validation/formats.go), by type.
        const STRING_FORMATS: &[&str] = &[
            "bsonobjectid",
            "uri",
            "email",
            "hostname",
            "ipv4",
            "ipv6",
            "cidr",
            "mac",
            "uuid",
            "uuid3",
            "uuid4",
            "uuid5",
            "isbn",
            "isbn10",
            "isbn13",
            "creditcard",
            "ssn",
            "hexcolor",
            "rgbcolor",
            "byte",
            "password",
            "date",
            "duration",
            "datetime",
            "date-time",
        ];
        for (path, node) in all_nodes() {
            let Some(format) = node.get("format").and_then(Value::as_str) else {
                continue;
            };
            let ty = node.get("type").and_then(Value::as_str).unwrap_or("string");
            let known = match ty {
                "integer" => ["int32", "int64"].contains(&format),
                "number" => ["float", "double"].contains(&format),
                _ => STRING_FORMATS.contains(&format),
            };
            assert!(
                known,
                "{path}: format {format:?} of a {ty} is unknown to Kubernetes"
            );
        }
    }

    #[test]
    fn every_rule_compiles_with_the_kubernetes_cel_libraries() {
        let compiled = kube::core::cel::compile_schema(&schema());
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
    }
}
