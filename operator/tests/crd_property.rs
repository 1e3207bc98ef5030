//! Whatever the CRD accepts, the operator accepts. Tenants are generated from the generated CRD's
//! own schema (its types, patterns, bounds and enums, plus hard values near what its rules refuse)
//! and checked the way the API server checks them (`render::check_schema`: the OpenAPI schema,
//! list types, then the CEL rules with the Kubernetes CEL libraries on the defaulted object). Every
//! tenant that passes must pass the operator's own validation and build its children.
//!
//! The same holds against a real API server: `scripts/crd-property` sends generated tenants to the
//! cluster `KUBECONFIG` names (server-side dry run) and renders every one it accepts.

#[cfg(test)]
mod build_support;

// In a test module, as every test file here, so that failing loudly is allowed.

#[cfg(test)]
mod crd_property {
    use std::collections::{BTreeMap, BTreeSet};

    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::{
        Api, CustomResourceExt, ResourceExt,
        api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    };
    use mcp_tenancy_operator::{
        api::McpTenant,
        render::{self, RenderError},
    };
    use proptest::{
        prelude::*,
        strategy::ValueTree,
        test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
    };
    use serde_json::{Value, json};

    use crate::build_support::{committed_crd_schema, example_files, mk_defaults};

    /// Tenants generated per run (`CRD_PROPERTY_CASES` overrides).
    const CASES: usize = 3_000;

    /// Values near the edges of what the rules refuse, tried for strings that carry rules.
    const HARD_STRINGS: &[&str] = &[
        "1.2.3.4",
        "10.0.0.1",
        "1.2.3.999",
        "mcp.example.123",
        "mcp.0x1f",
        "contoso.mcp.example.com",
        "https://claude.ai",
        "https://Claude.ai",
        "https://claude.ai:443",
        "http://localhost:80",
        "http://localhost:6274",
        "http://127.0.0.1:8080",
        "https://1.2.3.999",
        "https://a.b:99999",
        "https://claude.ai/",
        "https://claude.ai/path",
        "https://login.example.com/tenant/v2.0",
        "https://login.example.com:8443/realms/Main",
        "https:///v2.0",
        "https://:443/x",
        "https://exa_mple.com/x",
        "10.0.0.0/8",
        "10.0.0.1/8",
        "10.0.0.1",
        "0.0.0.0/0",
        "::1",
        "fd00::/8",
        "fd00::1/8",
        "::ffff:10.0.0.1",
        "10.0.0.0/33",
        "010.0.0.0/8",
        "mail_*",
        "mial_*",
        "*",
        "whoami",
        "who",
        "w*",
        "z*",
        "0s",
        "0m0s",
        "30s",
        "59s",
        "1m",
        "5m",
        "1h",
        "24h",
        "25h",
        "1d",
        "7d",
        "11111111-1111-1111-1111-111111111111",
        "11111111-1111-1111-1111-11111111111A",
        "11111111-1111-1111-1111-11111111111a",
        "kube-system",
        "kube-tenant",
        "default",
        "mcp-contoso",
        "nginx.ingress.kubernetes.io/server-snippet",
        "cert-manager.io/cluster-issuer",
    ];

    const QUANTITIES: &[&str] = &[
        "0", "1", "2", "4", "100m", "500m", "1500m", "64Mi", "256Mi", "1Gi", "4Gi", "10Gi", "100Gi", "1e3",
        "1.5", "-1", "abc", "0.5Gi",
    ];

    fn has_rules(node: &Value) -> bool {
        node.get("x-kubernetes-validations").is_some()
    }

    /// The pattern for generation: no anchors (the generator cannot use them) and short repetitions,
    /// so that what it makes fits the schema's length bounds.
    fn generation_pattern(pattern: &str) -> String {
        let p = pattern.strip_prefix('^').unwrap_or(pattern);
        let p = p.strip_suffix('$').unwrap_or(p);
        let mut out = String::new();
        let mut chars = p.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    out.push(c);
                    out.extend(chars.next());
                }
                '*' => out.push_str("{0,4}"),
                '+' => out.push_str("{1,4}"),
                '{' => {
                    let mut bounds = String::new();
                    for b in chars.by_ref() {
                        if b == '}' {
                            break;
                        }
                        bounds.push(b);
                    }
                    let (min, max) = bounds.split_once(',').unwrap_or((&bounds, &bounds));
                    let min: usize = min.parse().unwrap();
                    let max = max.parse::<usize>().map_or(min.max(12), |m| m.min(min.max(12)));
                    out.push_str(&format!("{{{min},{max}}}"));
                }
                _ => out.push(c),
            }
        }
        out
    }

    fn string(node: &Value, hard: bool) -> BoxedStrategy<Value> {
        if let Some(values) = node.get("enum").and_then(Value::as_array) {
            return prop::sample::select(values.clone()).boxed();
        }
        let min = node.get("minLength").and_then(Value::as_u64).unwrap_or(0);
        let max = node
            .get("maxLength")
            .and_then(Value::as_u64)
            .unwrap_or(64)
            .min(80);
        let pattern = node.get("pattern").and_then(Value::as_str);
        let generated = match pattern {
            Some(pattern) => proptest::string::string_regex(&generation_pattern(pattern))
                .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
                .boxed(),
            None => proptest::string::string_regex(&format!("[a-z0-9.:/_-]{{{min},{max}}}"))
                .unwrap()
                .boxed(),
        }
        .prop_map(Value::String);
        // Hard values the schema itself admits, so that the rules decide.
        let admitted = pattern.map(|p| regex::Regex::new(p).unwrap());
        let hard_values: Vec<Value> = HARD_STRINGS
            .iter()
            .filter(|s| (min..=max).contains(&(s.len() as u64)))
            .filter(|s| admitted.as_ref().is_none_or(|re| re.is_match(s)))
            .map(|s| Value::String((*s).into()))
            .collect();
        if hard && !hard_values.is_empty() {
            prop_oneof![1 => generated, 3 => prop::sample::select(hard_values)].boxed()
        } else {
            generated.boxed()
        }
    }

    fn integer(node: &Value) -> BoxedStrategy<Value> {
        let min = node
            .get("minimum")
            .and_then(Value::as_f64)
            .map_or(-5, |m| m as i64);
        let max = node
            .get("maximum")
            .and_then(Value::as_f64)
            .map_or(100, |m| m as i64);
        prop_oneof![
            (min..=max).prop_map(|n| json!(n)),
            prop::sample::select(vec![min, max, min.saturating_add(1)]).prop_map(|n| json!(n)),
        ]
        .boxed()
    }

    fn number(node: &Value) -> BoxedStrategy<Value> {
        let min = node.get("minimum").and_then(Value::as_f64).unwrap_or(0.0);
        let max = node.get("maximum").and_then(Value::as_f64).unwrap_or(1000.0);
        (min..=max).prop_map(|n| json!(n)).boxed()
    }

    fn object(node: &Value, depth: usize) -> BoxedStrategy<Value> {
        let required: BTreeSet<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut names = Vec::new();
        let mut fields = Vec::new();
        for (name, child) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let value = value(child, depth + 1);
            let nullable = child.get("nullable") == Some(&Value::Bool(true));
            fields.push(if required.contains(name.as_str()) {
                value.prop_map(Some).boxed()
            } else if nullable {
                // Absent, null (the API server keeps it; CEL sees it absent) or a value.
                prop_oneof![
                    4 => prop::option::weighted(0.5, value),
                    1 => Just(Some(Value::Null)),
                ]
                .boxed()
            } else {
                prop::option::weighted(0.5, value).boxed()
            });
            names.push(name.clone());
        }
        fields
            .prop_map(move |values| {
                Value::Object(
                    names
                        .iter()
                        .cloned()
                        .zip(values)
                        .filter_map(|(name, value)| value.map(|v| (name, v)))
                        .collect(),
                )
            })
            .boxed()
    }

    /// A value the schema node describes; strings that carry rules are sometimes hard values.
    fn value(node: &Value, depth: usize) -> BoxedStrategy<Value> {
        let hard = has_rules(node);
        if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            return prop::sample::select(QUANTITIES)
                .prop_map(|q| Value::String(q.into()))
                .boxed();
        }
        match node.get("type").and_then(Value::as_str) {
            Some("string") => string(node, hard),
            Some("integer") => integer(node),
            Some("number") => number(node),
            Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
            Some("array") => {
                let items = node.get("items").cloned().unwrap_or(json!({"type": "string"}));
                let min = node.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                let max = node.get("maxItems").and_then(Value::as_u64).unwrap_or(3).min(3) as usize;
                prop::collection::vec(value(&items, depth + 1), min..=max.max(min))
                    .prop_map(Value::Array)
                    .boxed()
            }
            Some("object") if node.get("properties").is_some() && depth < 12 => object(node, depth),
            Some("object") => match node.get("additionalProperties").filter(|a| a.is_object()) {
                Some(values) => prop::collection::btree_map(
                    prop_oneof![
                        "[a-z]{1,8}(\\.io/[a-z-]{1,12})?",
                        prop::sample::select(HARD_STRINGS).prop_map(String::from),
                    ],
                    value(values, depth + 1),
                    0..=2,
                )
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect()))
                .boxed(),
                None => Just(json!({})).boxed(),
            },
            _ => Just(json!({})).boxed(),
        }
    }

    fn spec_schema() -> Value {
        committed_crd_schema().1["properties"]["spec"].clone()
    }

    /// Every property below `node`, as the chain of names that leads to it.
    fn property_paths(node: &Value, at: &[String], out: &mut Vec<(Vec<String>, Value)>) {
        for (name, child) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let mut path = at.to_vec();
            path.push(name.clone());
            out.push((path.clone(), child.clone()));
            property_paths(child, &path, out);
        }
    }

    /// The specs of the shipped examples.
    fn example_specs() -> Vec<Value> {
        let mut specs: Vec<Value> = example_files("examples")
            .iter()
            .map(|path| {
                let manifest: Value =
                    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
                manifest["spec"].clone()
            })
            .collect();
        specs.sort_by_key(Value::to_string);
        specs
    }

    /// Sets (or, with `None`, removes) the field at `path`, creating the objects above it.
    fn set_at(spec: &mut Value, path: &[String], value: Option<Value>) {
        let (last, parents) = path.split_last().unwrap();
        let mut at = spec;
        for name in parents {
            if !at.get(name).is_some_and(Value::is_object) {
                at[name.as_str()] = json!({});
            }
            at = &mut at[name.as_str()];
        }
        match value {
            Some(v) => at[last.as_str()] = v,
            None => {
                if let Some(o) = at.as_object_mut() {
                    o.remove(last);
                }
            }
        }
    }

    /// A tenant from the schema alone, or (more often, since few random tenants satisfy every rule)
    /// a shipped example with one to four fields regenerated from the schema or removed.
    fn tenant_spec() -> BoxedStrategy<Value> {
        let schema = spec_schema();
        let mut paths = Vec::new();
        property_paths(&schema, &[], &mut paths);
        let mutations: Vec<BoxedStrategy<(Vec<String>, Option<Value>)>> = paths
            .into_iter()
            .map(|(path, node)| (Just(path), prop::option::weighted(0.8, value(&node, 1))).boxed())
            .collect();
        let mutation = prop::strategy::Union::new(mutations);
        let mutated = (
            prop::sample::select(example_specs()),
            prop::collection::vec(mutation, 1..=4),
        )
            .prop_map(|(mut spec, changes)| {
                for (path, value) in changes {
                    set_at(&mut spec, &path, value);
                }
                spec
            });
        prop_oneof![1 => value(&schema, 0), 3 => mutated].boxed()
    }

    fn cases() -> usize {
        std::env::var("CRD_PROPERTY_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CASES)
    }

    /// The generated manifests, the same for every run.
    fn manifests(cases: usize) -> Vec<Value> {
        let strategy = tenant_spec();
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
        );
        (0..cases)
            .map(|i| {
                json!({
                    "apiVersion": "mcptenancy.dev/v1alpha1",
                    "kind": "McpTenant",
                    "metadata": {"name": format!("property-{i}")},
                    "spec": strategy.new_tree(&mut runner).unwrap().current(),
                })
            })
            .collect()
    }

    /// Why the operator refuses a manifest (parse, validate, build), if it does.
    fn operator_refusal(manifest: &Value) -> Option<String> {
        let yaml = serde_saphyr::to_string(manifest).unwrap();
        render::parse_manifest(&yaml)
            .and_then(|tenant| render::render_children(tenant, &mk_defaults(), true))
            .err()
            .map(|error| format!("{error}\n{yaml}"))
    }

    /// Counts of refusals by their first message, most frequent first.
    fn print_classes(what: &str, refusals: &[String]) {
        let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
        for refusal in refusals {
            *classes
                .entry(refusal.lines().next().unwrap_or_default())
                .or_default() += 1;
        }
        let mut classes: Vec<_> = classes.into_iter().collect();
        classes.sort_by_key(|c| std::cmp::Reverse(c.1));
        for (class, count) in classes.iter().take(10) {
            println!(
                "  {count:>5} {what}: {}",
                class.chars().take(110).collect::<String>()
            );
        }
    }

    #[test]
    fn whatever_the_crd_accepts_the_operator_accepts() {
        let cases = cases();
        let mut refused = Vec::new();
        let mut disagreements = Vec::new();
        for manifest in manifests(cases) {
            if let Err(RenderError::Schema(errors)) = render::check_schema(&manifest) {
                refused.push(errors.join("\n"));
            } else if let Some(refusal) = operator_refusal(&manifest) {
                disagreements.push(refusal);
            }
        }
        let accepted = cases - refused.len();
        println!(
            "generated {cases}, accepted by the schema and CEL rules {accepted}, refused by the operator {}",
            disagreements.len()
        );
        print_classes("refused by the CRD", &refused);
        assert!(
            disagreements.is_empty(),
            "{} tenants the CRD accepts are refused by the operator; the first:\n{}",
            disagreements.len(),
            disagreements[0]
        );
        assert!(
            accepted * 5 >= cases,
            "only {accepted} of {cases} generated tenants were valid: the generator is too weak"
        );
    }

    /// The same against the API server `KUBECONFIG` names (server-side dry runs; the CRD is
    /// applied first): whatever it accepts, the operator accepts; and the client-side check
    /// (`render`'s first line) agrees with it both ways.
    #[tokio::test]
    async fn whatever_the_api_server_accepts_the_operator_accepts() {
        if std::env::var_os("KUBECONFIG").is_none() {
            println!("skipped: KUBECONFIG not set");
            return;
        }
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = kube::Client::try_default().await.unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = McpTenant::crd();
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply("crd-property").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
        let tenants: Api<DynamicObject> = Api::all_with(client, &ApiResource::erase::<McpTenant>(&()));
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let cases = cases();
        let (mut accepted, mut refused) = (0, Vec::new());
        let (mut operator_refused, mut client_differs) = (Vec::new(), Vec::new());
        for manifest in manifests(cases) {
            let object: DynamicObject = serde_json::from_value(manifest.clone()).unwrap();
            // The CRD may still be being established: retry a 404 briefly.
            let mut verdict = tenants.create(&dry_run, &object).await;
            for _ in 0..20 {
                match &verdict {
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                        verdict = tenants.create(&dry_run, &object).await;
                    }
                    _ => break,
                }
            }
            let client_side = render::check_schema(&manifest);
            match verdict {
                Ok(_) => {
                    accepted += 1;
                    if let Some(refusal) = operator_refusal(&manifest) {
                        operator_refused.push(refusal);
                    }
                    if let Err(e) = client_side {
                        client_differs.push(format!("the API server accepts, render refuses: {e}"));
                    }
                }
                Err(kube::Error::Api(e)) if e.code == 422 => {
                    // `McpTenant.mcptenancy.dev "property-7" is invalid: <what>`
                    let what = e
                        .message
                        .split_once(" is invalid: ")
                        .map_or(e.message.as_str(), |(_, w)| w);
                    refused.push(what.to_owned());
                    if client_side.is_ok() {
                        client_differs.push(format!("the API server refuses, render accepts: {}", e.message));
                    }
                }
                Err(e) => panic!("dry run failed: {e}"),
            }
        }
        println!(
            "generated {cases}, accepted by the API server {accepted}, refused by the operator {}, \
             client-side check differs {}",
            operator_refused.len(),
            client_differs.len()
        );
        print_classes("refused by the API server", &refused);
        print_classes("client-side check differs", &client_differs);
        assert!(
            operator_refused.is_empty(),
            "{} tenants the API server accepts are refused by the operator; the first:\n{}",
            operator_refused.len(),
            operator_refused[0]
        );
        assert!(
            client_differs.is_empty(),
            "render's check differs from the API server's; the first:\n{}",
            client_differs[0]
        );
    }
}
