//! Kubernetes validation rules (`x-kubernetes-validations`, CEL) for the schema of the types
//! this crate lends to the `McpTenant` resource, so that the API server refuses what the tenant
//! config would refuse, with the same words. The API server checks the cost of every rule
//! against its budget: rules here read only strings and lists with a declared bound.

use schemars::Schema;
use serde_json::{Value, json};

use crate::catalog::TOOL_CATALOG;

/// One rule; `field_path` (a JSON path relative to the schema node, e.g. `.access`) names the
/// field the API server reports.
pub fn rule(rule: &str, message: &str, field_path: Option<&str>) -> Value {
    let mut value = json!({"rule": rule, "message": message});
    if let Some(path) = field_path {
        value["fieldPath"] = json!(path);
    }
    value
}

/// A schema transform adding `rules` to the node it is applied to.
pub fn with_rules(rules: Vec<Value>) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| push_rules(schema.ensure_object(), rules.clone())
}

/// A schema transform adding `rules` to the items of the array it is applied to, so that an
/// error names the item (`tools[3]`) rather than the list.
pub fn with_item_rules(rules: Vec<Value>) -> impl FnMut(&mut Schema) {
    move |schema: &mut Schema| {
        if let Some(Value::Object(items)) = schema.get_mut("items") {
            push_rules(items, rules.clone());
        }
    }
}

fn push_rules(node: &mut serde_json::Map<String, Value>, rules: Vec<Value>) {
    let list = node
        .entry("x-kubernetes-validations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        list.extend(rules);
    }
}

/// CEL for the seconds of a duration string `expr` of [`crate::DURATION_PATTERN`] (`1h30m`,
/// `7d`); CEL's own `duration()` knows no days.
pub fn duration_seconds(expr: &str) -> String {
    format!(
        "{expr}.findAll('[0-9]+[smhd]').map(t, int(t.substring(0, t.size() - 1)) * \
         (t.endsWith('d') ? 86400 : t.endsWith('h') ? 3600 : t.endsWith('m') ? 60 : 1)).sum()"
    )
}

/// The rule of a tool pattern (`*`, `mail_*` or an exact name): it must name a tool of the
/// catalog, as [`crate::catalog::pattern_is_known`] decides.
pub fn known_tool_pattern() -> Value {
    let names = TOOL_CATALOG
        .iter()
        .map(|t| format!("'{}'", t.name))
        .collect::<Vec<_>>()
        .join(", ");
    rule(
        &format!(
            "self == '*' || (self.endsWith('*') ? [{names}].exists(n, n.startsWith(self.substring(0, self.size() - 1))) \
             : self in [{names}])"
        ),
        "names no known tool",
        None,
    )
}

/// The rule of an [`crate::AccessTier`]: naming admin tools needs `requireMfa: true`.
pub(crate) fn admin_tools_need_mfa() -> Value {
    rule(
        &format!(
            "!self.tools.exists(p, p.startsWith('{}')) || (has(self.requireMfa) && self.requireMfa)",
            crate::catalog::ADMIN_PREFIX
        ),
        "a tier that names admin tools must set requireMfa: true",
        Some(".tools"),
    )
}

/// The rules of [`crate::TokenLifetimes`].
pub(crate) fn token_lifetimes() -> Vec<Value> {
    let access = duration_seconds("self.access");
    let refresh = duration_seconds("self.refresh");
    vec![
        rule(
            &format!("!has(self.access) || {access} >= 60"),
            "must be at least 1m",
            Some(".access"),
        ),
        rule(
            &format!("!has(self.access) || !has(self.refresh) || {access} <= {refresh}"),
            "must not be longer than tokenLifetimes.refresh",
            Some(".access"),
        ),
    ]
}

/// The rule of a [`crate::RateLimit`]: a period of zero would divide by zero.
pub(crate) fn rate_limit() -> Vec<Value> {
    vec![rule(
        "!has(self.period) || self.period.matches('[1-9]')",
        "must be longer than 0s",
        Some(".period"),
    )]
}

/// The rule of a trusted proxy entry: what [`crate::Cidr`] parses, a network with no bits set
/// beyond its prefix or a single address (IPv4-mapped IPv6 forms are refused by both).
pub fn cidr_or_address() -> Value {
    rule(
        "isCIDR(self) ? cidr(self).ip() == cidr(self).masked().ip() : isIP(self)",
        "must be a network with no bits set beyond its prefix (10.0.0.0/8, fd00::/8) or a single address (192.0.2.7)",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_pattern_rule_lists_every_catalog_tool() {
        let rule = known_tool_pattern();
        let text = rule["rule"].as_str().unwrap();
        for tool in TOOL_CATALOG {
            assert!(text.contains(&format!("'{}'", tool.name)), "{}", tool.name);
        }
    }

    #[test]
    fn item_rules_land_on_the_items() {
        let mut schema = Schema::try_from(json!({"type": "array", "items": {"type": "string"}})).unwrap();
        with_item_rules(vec![known_tool_pattern()])(&mut schema);
        assert_eq!(
            schema.pointer("/items/x-kubernetes-validations/0/message"),
            Some(&json!("names no known tool"))
        );
        assert!(schema.get("x-kubernetes-validations").is_none());
    }
}
