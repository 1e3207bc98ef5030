//! The examples: each renders to the committed golden YAML, matches the committed CRD, and each
//! invalid example is refused with the field it gets wrong named.

#[cfg(test)]
mod build_support;

use build_support::{crd_errors, example_files, header, operator, render_file};
use mcp_tenancy_operator::render;

#[test]
fn every_example_renders_to_its_golden_yaml() {
    for path in example_files("examples") {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let rendered = render_file(&std::fs::read_to_string(&path).unwrap());
        insta::assert_snapshot!(format!("render_{name}"), rendered);
    }
}

#[test]
fn every_example_matches_the_committed_crd() {
    for path in example_files("examples") {
        let errors = crd_errors(&std::fs::read_to_string(&path).unwrap());
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn every_invalid_example_is_refused_naming_the_field() {
    let files = example_files("examples/invalid");
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = header(&text, "expect");
        let err = render::parse_manifest(&text).map(|_| ()).unwrap_err();
        assert!(err.is_invalid_manifest(), "{}", path.display());
        let message = err.to_string();
        assert!(
            message.contains(&expect),
            "{}: {message:?} lacks {expect:?}",
            path.display()
        );
    }
    // One file per rule: every layer is exercised.
    let layers: std::collections::BTreeSet<String> = files
        .iter()
        .map(|p| header(&std::fs::read_to_string(p).unwrap(), "layer"))
        .collect();
    assert_eq!(layers, ["cel", "schema"].map(String::from).into());
}

#[test]
fn the_committed_crd_refuses_the_schema_and_cel_examples_and_accepts_the_operator_ones() {
    for path in example_files("examples/invalid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let errors = crd_errors(&text);
        // Nothing is left to the operator alone: the API server refuses every one at apply time.
        assert!(!errors.is_empty(), "{}: the CRD accepts it", path.display());
    }
}

#[test]
fn render_without_a_file_prints_the_embedded_minimal_example() {
    let (code, stdout, stderr) = operator(&["render", "--server-image", "registry.example/s:1"], None);
    assert_eq!(code, 0, "{stderr}");
    let minimal = build_support::read_example("minimal.yaml");
    let (code, from_stdin, _) = operator(
        &["render", "-f", "-", "--server-image", "registry.example/s:1"],
        Some(&minimal),
    );
    assert_eq!(code, 0);
    assert_eq!(stdout, from_stdin);
    assert!(
        stdout.starts_with("---\napiVersion: v1\nkind: Namespace\n"),
        "{stdout}"
    );
    assert!(stdout.contains("image: registry.example/s:1"));
    assert_eq!(
        stdout.matches("\n---\n").count() + 1,
        stdout.matches("\nkind: ").count()
    );
}

#[test]
fn render_exits_2_on_an_invalid_manifest_and_names_the_field() {
    let path = build_support::repo_root().join("examples/invalid/unknown-tool.yaml");
    let (code, stdout, stderr) = operator(&["render", "-f", path.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(r#"spec.access.tiers[1].tools[0]: "mial_*": names no known tool"#),
        "{stderr}"
    );

    let (code, _, stderr) = operator(&["render", "-f", "-"], Some("spec: [unclosed"));
    assert_eq!(code, 2);
    assert!(stderr.contains("not valid YAML"), "{stderr}");
}

#[test]
fn render_without_monitoring_crds_leaves_out_their_kinds() {
    let (code, stdout, _) = operator(&["render", "--no-monitoring-crds"], None);
    assert_eq!(code, 0);
    assert!(!stdout.contains("kind: ServiceMonitor"));
    assert!(!stdout.contains("kind: PrometheusRule"));
    let (_, with, _) = operator(&["render"], None);
    assert!(with.contains("kind: ServiceMonitor") && with.contains("kind: PrometheusRule"));
}

#[test]
fn the_committed_crd_keeps_the_embedded_volume_as_created() {
    let original = build_support::read_example("ingress-cert-manager.yaml");
    assert_eq!(
        build_support::crd_update_errors(&original, &original),
        Vec::<String>::new()
    );
    let resized = original.replace("size: 2Gi", "size: 5Gi");
    assert_ne!(resized, original);
    let errors = build_support::crd_update_errors(&original, &resized);
    assert!(
        errors.iter().any(|e| e.contains("embedded storage is immutable")),
        "{errors:?}"
    );
}
