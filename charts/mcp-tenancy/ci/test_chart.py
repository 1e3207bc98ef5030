#!/usr/bin/env python3
"""Tests of the mcp-tenancy Helm chart, run by scripts/test-chart.

Lints the chart and renders it with its default values and every scenario in ci/*.yaml (Helm 4,
in-process through helm-python-sdk), validates what it renders (kubernetes-validate --strict for
built-in kinds; the upstream CRD schema for ServiceMonitor; checkov with the reasoned skips in
ci/checkov-skips.txt), and asserts the properties the chart promises. Prints one line per check
and a closing `N passed, N failed`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import yaml

CHART = Path(__file__).resolve().parent.parent
ROOT = CHART.parent.parent
SHARED_CRDS = ROOT.parent / "shared" / "third-party-crds"
OUT = ROOT / ".ci" / "work" / "chart-test"
RELEASE = "mcp-tenancy"
NAMESPACE = "mcp-tenancy-system"
# The chart's kubeVersion floor and the newest schema kubernetes-validate ships.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]
BUILTIN_GROUPS = {"", "apps", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
                  "apiextensions.k8s.io", "coordination.k8s.io"}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

results: list[tuple[str, bool, str]] = []
skipped: list[str] = []


class Skip(Exception):
    """A check that cannot run here (says why); counted apart from passes and failures."""


def check(name: str, ok: bool, detail: str = "") -> bool:
    results.append((name, bool(ok), detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok or not detail else ': ' + detail}")
    return bool(ok)


def run_check(name: str, fn: Callable[[], None]) -> None:
    """Runs fn; an AssertionError or any exception fails the check with its message."""
    try:
        fn()
        check(name, True)
    except Skip as e:
        if os.environ.get("CI") == "true":
            check(name, False, f"cannot be skipped in CI: {e}")
            return
        skipped.append(name)
        print(f"skip {name}: {e}")
    except AssertionError as e:
        check(name, False, str(e) or "assertion failed")
    except Exception as e:  # noqa: BLE001 - any crash is a failed check, shown in full
        check(name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")


# ---------------------------------------------------------------------------------------------
# Rendering


def scenarios() -> dict[str, dict[str, Any]]:
    found = {"default": {}}
    for path in sorted((CHART / "ci").glob("*.yaml")):
        found[path.stem] = yaml.safe_load(path.read_text()) or {}
    return found


def render(chart: helm.Chart, values: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The objects a `helm install` would create, and the NOTES text."""
    manifests = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects, notes


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects
            if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = find(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def group_of(obj: dict[str, Any]) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


# ---------------------------------------------------------------------------------------------
# Validation against schemas


def strict_schema(schema: Any) -> Any:
    """A CRD's openAPIV3Schema with unknown fields rejected, as the API server prunes/rejects them."""
    if isinstance(schema, dict):
        schema = {k: strict_schema(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict_schema(v) for v in schema]
    return schema


def crd_validator(path: Path, version: str) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load(path.read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = strict_schema(served["schema"]["openAPIV3Schema"])
    # The API server always accepts these at the root, whether the schema lists them or not.
    schema["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                            "metadata": {"type": "object"}, **schema["properties"]}
    return jsonschema.Draft7Validator(schema)


def validate_third_party(objects: list[dict[str, Any]]) -> None:
    validators = {
        ("monitoring.coreos.com/v1", "ServiceMonitor"):
            crd_validator(SHARED_CRDS / "monitoring.coreos.com_servicemonitors.yaml", "v1"),
    }
    for obj in objects:
        if group_of(obj) in BUILTIN_GROUPS:
            continue
        key = (obj["apiVersion"], obj["kind"])
        assert key in validators, f"no schema to validate {key} against"
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}"
                  for e in validators[key].iter_errors(obj)]
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


def yamllint() -> None:
    files = [CHART / "Chart.yaml", CHART / "values.yaml", *sorted((CHART / "ci").glob("*.yaml"))]
    proc = subprocess.run(["yamllint", "--strict", "-c", str(CHART / "ci" / "yamllint-config.yml"),
                           *map(str, files)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def kubernetes_validate(files: list[Path]) -> None:
    for version in KUBE_VERSIONS:
        proc = subprocess.run(
            ["kubernetes-validate", "--strict", "--quiet", "-k", version, *map(str, files)],
            capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"k8s {version}:\n{proc.stdout}{proc.stderr}"


def checkov(directory: Path) -> None:
    skips = []
    for line in (CHART / "ci" / "checkov-skips.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        check_id, _, reason = line.partition(" ")
        assert reason.strip(), f"checkov skip {check_id} has no reason"
        skips.append(check_id)
    # checkov finds nothing under an absolute path with a dot-directory (.ci) in it: run it from
    # the parent with a relative path.
    proc = subprocess.run(
        ["checkov", "--directory", directory.name, "--framework", "kubernetes", "--skip-download",
         "--compact", "--quiet", "--output", "json", "--skip-check", ",".join(skips)],
        capture_output=True, text=True, check=False, cwd=directory.parent)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"checkov printed no JSON:\n{proc.stdout}{proc.stderr}") from None
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert proc.returncode == 0 and not failed, "\n".join(failed) or proc.stderr
    assert passed > 0, "checkov passed no check: did it find the rendered files?"
    print(f"     checkov: {passed} passed, {len(skips)} skipped with reasons")


# ---------------------------------------------------------------------------------------------
# Properties of what the chart renders


def operator_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return one(objects, "Deployment")["spec"]["template"]


def assert_hardened(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    pod = operator_pod(objects)["spec"]
    psc = pod["securityContext"]
    assert psc.get("runAsNonRoot") is True, "pod runAsNonRoot"
    assert psc.get("runAsUser") == 65532, "pod runAsUser 65532"
    assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp"
    assert pod.get("automountServiceAccountToken") is True, "operator pod must mount its token"
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    containers = pod["containers"] + pod.get("initContainers", [])
    for c in containers:
        sc = c["securityContext"]
        assert sc.get("runAsNonRoot") is True, f"{c['name']}: runAsNonRoot"
        assert sc.get("runAsUser") == 65532, f"{c['name']}: runAsUser"
        assert sc.get("readOnlyRootFilesystem") is True, f"{c['name']}: readOnlyRootFilesystem"
        assert sc.get("allowPrivilegeEscalation") is False, f"{c['name']}: allowPrivilegeEscalation"
        assert sc.get("privileged") is not True, f"{c['name']}: privileged"
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{c['name']}: drop ALL"
        assert not sc.get("capabilities", {}).get("add"), f"{c['name']}: adds capabilities"
        assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{c['name']}: seccomp"
        assert "memory" in c.get("resources", {}).get("limits", {}), f"{c['name']}: memory limit"
    sas = find(objects, "ServiceAccount")
    assert bool(sas) == values["serviceAccount"]["create"], "ServiceAccount rendered iff serviceAccount.create"
    for sa in sas:
        assert sa.get("automountServiceAccountToken") is False, "ServiceAccount must default to no token"


def args_of(objects: list[dict[str, Any]]) -> list[str]:
    return operator_pod(objects)["spec"]["containers"][0]["args"]


def flag(args: list[str], name: str) -> str | None:
    for a in args:
        if a == name:
            return ""
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def assert_probes_and_ports(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    c = operator_pod(objects)["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": values["metrics"]["port"], "health": values["health"]["port"]}, ports
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}, c["livenessProbe"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}, c["readinessProbe"]
    args = args_of(objects)
    assert args[0] == "run", f"first argument must be the run subcommand: {args}"
    assert flag(args, "--metrics-addr") == f"0.0.0.0:{ports['metrics']}", args
    assert flag(args, "--health-addr") == f"0.0.0.0:{ports['health']}", args
    assert flag(args, "--log-format") in ("json", "text"), args
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def image_ref(image: dict[str, Any], app_version: str) -> str:
    if image.get("digest"):
        return f"{image['repository']}@{image['digest']}"
    return f"{image['repository']}:{image.get('tag') or app_version}"


def assert_images(objects: list[dict[str, Any]], values: dict[str, Any], app_version: str) -> None:
    c = operator_pod(objects)["spec"]["containers"][0]
    assert c["image"] == image_ref(values["image"], app_version), c["image"]
    server = flag(args_of(objects), "--server-image")
    want = image_ref(values["tenantDefaults"]["serverImage"], app_version)
    assert server == want, f"--server-image={server}, want {want}"
    for name, key in (("--ingress-controller-namespace", "ingressControllerNamespace"),
                      ("--monitoring-namespace", "monitoringNamespace")):
        want_ns = values["tenantDefaults"][key] or None
        assert flag(args_of(objects), name) == want_ns, f"{name}: want {want_ns}"
    # Passed even when empty: an empty list means "never believe X-Forwarded-For".
    want_proxies = ",".join(values["tenantDefaults"]["trustedProxies"])
    proxies = flag(args_of(objects), "--trusted-proxies")
    assert proxies == want_proxies, f"--trusted-proxies={proxies}, want {want_proxies}"


def assert_cluster_role(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    if not values["rbac"]["create"]:
        assert not find(objects, "ClusterRole") and not find(objects, "ClusterRoleBinding")
        assert not find(objects, "Role") and not find(objects, "RoleBinding")
        return
    source = (CHART / "templates" / "clusterrole.yaml").read_text()
    assert '.Files.Get "files/clusterrole-rules.yaml"' in source, "ClusterRole must read the rules file"
    want = yaml.safe_load((CHART / "files" / "clusterrole-rules.yaml").read_text())
    role = one(objects, "ClusterRole")
    assert role["rules"] == want, "ClusterRole rules differ from files/clusterrole-rules.yaml"
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    sa = operator_pod(objects)["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]


def assert_leader_election(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    args = args_of(objects)
    deployment = one(objects, "Deployment")
    roles = find(objects, "Role")
    if not values["leaderElection"]["enabled"]:
        assert flag(args, "--leader-elect") is None, "--leader-elect without leader election"
        assert not roles, "leader-election Role rendered without leader election"
        assert deployment["spec"]["strategy"]["type"] == "Recreate", "two operators could overlap"
        assert deployment["spec"]["replicas"] <= 1
        return
    lease = values["leaderElection"]["leaseName"]
    assert flag(args, "--leader-elect") == "", args
    assert flag(args, "--lease-name") == lease, args
    assert flag(args, "--lease-namespace") == "$(POD_NAMESPACE)", args
    if not values["rbac"]["create"]:
        return
    role = one(objects, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"], rule
        if rule.get("resourceNames"):
            assert rule["resourceNames"] == [lease], rule
        else:
            assert rule["verbs"] == ["create"], f"only create may be unnarrowed: {rule}"
    narrowed = {v for r in role["rules"] if r.get("resourceNames") for v in r["verbs"]}
    assert {"get", "update"} <= narrowed, f"cannot read and renew the Lease: {narrowed}"
    binding = one(objects, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    sa = operator_pod(objects)["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]


def assert_crd(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    crds = find(objects, "CustomResourceDefinition")
    if not values["crds"]["install"]:
        assert not crds, "crds.install=false still renders the CRD"
        return
    (crd,) = crds
    source = yaml.safe_load((ROOT / "crds" / "mcptenancy.dev_mcptenants.yaml").read_text())
    assert crd["spec"] == source["spec"], "rendered CRD spec differs from crds/"
    assert crd["metadata"]["name"] == "mcptenants.mcptenancy.dev"
    keep = crd["metadata"].get("annotations", {}).get("helm.sh/resource-policy")
    if values["crds"]["keep"]:
        assert keep == "keep", "CRD lacks helm.sh/resource-policy: keep"
    else:
        assert keep is None, "crds.keep=false still keeps the CRD"


def assert_chart_crd_copy() -> None:
    copy_bytes = (CHART / "files" / "mcptenancy.dev_mcptenants.yaml").read_bytes()
    assert copy_bytes == (ROOT / "crds" / "mcptenancy.dev_mcptenants.yaml").read_bytes(), \
        "charts/mcp-tenancy/files/ CRD differs from crds/: run scripts/generate"


def assert_wiring(objects: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """Selectors match pods, Services and monitors find each other, namespaces are right."""
    for obj in objects:
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], f"{obj['kind']} is cluster-scoped"
        elif obj["kind"] != "ServiceMonitor":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']} namespace"
    for obj in objects:
        name = obj["metadata"]["name"]
        limit = 63 if obj["kind"] in ("Service", "Deployment") else 253
        assert len(name) <= limit and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), \
            f"{obj['kind']} name {name!r} is not a valid object name"
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items(), "Deployment selector does not match its pods"
    assert deployment["spec"]["replicas"] == values["replicas"]
    services = find(objects, "Service")
    assert bool(services) == values["metrics"]["service"]["enabled"]
    for svc in services:
        assert svc["spec"]["selector"].items() <= pod_labels.items(), "Service selects no pod"
        assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["metrics"]
    for pdb in find(objects, "PodDisruptionBudget"):
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        assert values["replicas"] >= 2, "PDB with one replica"
    assert bool(find(objects, "PodDisruptionBudget")) == values["podDisruptionBudget"]["enabled"]
    monitors = find(objects, "ServiceMonitor")
    assert bool(monitors) == values["metrics"]["serviceMonitor"]["enabled"]
    for sm in monitors:
        (svc,) = services
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
        assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
        assert {e["port"] for e in sm["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    for np in find(objects, "NetworkPolicy"):
        assert np["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert bool(find(objects, "NetworkPolicy")) == values["networkPolicy"]["enabled"]


def assert_notes(notes: str) -> None:
    for needle in ("kubectl get mcpt", "kind: McpTenant", "/mcp"):
        assert needle in notes, f"NOTES.txt lacks {needle!r}"


def mcp_tenant_validator() -> jsonschema.protocols.Validator:
    return crd_validator(ROOT / "crds" / "mcptenancy.dev_mcptenants.yaml", "v1alpha1")


def assert_valid_tenants(docs: list[dict[str, Any]], where: str) -> None:
    tenants = [d for d in docs if isinstance(d, dict) and d.get("kind") == "McpTenant"]
    assert tenants, f"no McpTenant example in {where}"
    validator = mcp_tenant_validator()
    for tenant in tenants:
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(tenant)]
        assert not errors, f"{where}: McpTenant {tenant['metadata']['name']}: {errors}"


def notes_example(notes: str) -> list[dict[str, Any]]:
    """The McpTenant that NOTES.txt pipes into kubectl apply."""
    lines = notes.splitlines()
    start = next(i for i, l in enumerate(lines) if "<<'YAML'" in l) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "YAML")
    return list(yaml.safe_load_all(textwrap.dedent("\n".join(lines[start:end]))))


def assert_docs_examples() -> None:
    """Every complete McpTenant in the platform guide validates against the CRD (strictly)."""
    text = (ROOT / "docs" / "platform-guide.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    docs = [d for b in blocks if "kind: McpTenant" in b for d in yaml.safe_load_all(b)]
    assert_valid_tenants(docs, "docs/platform-guide.md")


def assert_docs_reasons() -> None:
    """The troubleshooting table names every condition type and reason the controller defines."""
    source = ROOT / "operator" / "src" / "controller" / "conditions.rs"
    if not source.exists():
        raise Skip(f"{source.relative_to(ROOT)} does not exist yet")
    names = re.findall(r'pub const \w+: &str = "(\w+)";', source.read_text())
    assert names, f"no condition constants found in {source}"
    text = (ROOT / "docs" / "platform-guide.md").read_text()
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/platform-guide.md does not explain {missing}"


def assert_operator_flags(all_args: list[list[str]]) -> None:
    """The flags the chart passes exist on `mcp-tenancy-operator run` (the binary that
    scripts/check-generated builds; MCP_TENANCY_OPERATOR_BIN overrides)."""
    binary = Path(os.environ.get("MCP_TENANCY_OPERATOR_BIN", ROOT / "target" / "debug" / "mcp-tenancy-operator"))
    if not binary.exists():
        raise Skip(f"{binary} is not built (cargo build -p mcp-tenancy-operator)")
    top = subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=False)
    if not re.search(r"^\s+run\b", top.stdout, flags=re.M):
        raise Skip(f"{binary} has no `run` subcommand yet")
    proc = subprocess.run([str(binary), "run", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    known = set(re.findall(r"(--[a-z][a-z0-9-]*)", proc.stdout))
    passed = {a.split("=", 1)[0] for args in all_args for a in args[1:] if a.startswith("--")}
    unknown = sorted(passed - known)
    assert not unknown, f"the chart passes flags `run` does not have: {unknown}"


# ---------------------------------------------------------------------------------------------
# Values that must be refused


def expect_refused(chart: helm.Chart, values: dict[str, Any], error: type[helm.HelmError],
                   needle: str) -> None:
    try:
        chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    except error as e:
        assert needle in str(e), f"refused, but the message lacks {needle!r}: {e}"
        return
    except helm.HelmError as e:
        raise AssertionError(f"refused with {type(e).__name__}, want {error.__name__}: {e}") from e
    raise AssertionError(f"accepted {values}")


REFUSED = [
    ("a typo'd top-level value", {"replica": 2}, helm.HelmValuesError, "replica"),
    ("a typo'd nested value", {"image": {"tagg": "v1"}}, helm.HelmValuesError, "tagg"),
    ("a typo'd tenant default", {"tenantDefaults": {"monitoringNamespaces": "x"}},
     helm.HelmValuesError, "monitoringNamespaces"),
    ("replicas > 1 without leader election",
     {"replicas": 2, "leaderElection": {"enabled": False}}, helm.HelmValuesError, "leaderElection"),
    ("a PDB with one replica", {"podDisruptionBudget": {"enabled": True}},
     helm.HelmValuesError, "replicas"),
    ("an unknown log format", {"logFormat": "yaml"}, helm.HelmValuesError, "logFormat"),
    ("a trusted proxy given by host name", {"tenantDefaults": {"trustedProxies": ["lb.example.com"]}},
     helm.HelmValuesError, "trustedProxies"),
    ("a malformed digest", {"image": {"digest": "latest"}}, helm.HelmValuesError, "digest"),
    ("a ServiceMonitor without the metrics Service",
     {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
     helm.HelmRenderError, "metrics.service.enabled"),
    ("equal metrics and health ports", {"health": {"port": 8080}}, helm.HelmRenderError, "differ"),
]


# Objects in the schema that may hold arbitrary Kubernetes content (checked by kubernetes-validate
# once rendered) or free-form maps; every other object must refuse unknown keys.
OPEN_OBJECTS = {"affinity/nodeAffinity", "affinity/podAffinity", "affinity/podAntiAffinity",
                "topologySpreadConstraints/[]", "extraEnv/[]/valueFrom"}


def assert_schema_closed() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_found: set[str] = set()

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object":
            if isinstance(node.get("additionalProperties"), dict):
                pass  # a typed map (labels, annotations, node selector)
            elif node.get("additionalProperties") is not False:
                open_found.add(path)
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{path}/{key}".lstrip("/"))
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}/[]")
        for key, sub in node.get("definitions", {}).items():
            walk(sub, f"#{key}")

    walk(schema, "")
    unexpected = sorted(open_found - OPEN_OBJECTS)
    assert not unexpected, f"schema objects that accept unknown keys: {unexpected}"


def assert_fail_backstop() -> None:
    """Without the schema (e.g. `--skip-schema-validation`), the templates' `fail` still refuses
    replicas > 1 without leader election. Lint mode tolerates `fail`, so render a schema-less copy."""
    with tempfile.TemporaryDirectory() as tmp:
        copy_dir = Path(tmp) / CHART.name
        shutil.copytree(CHART, copy_dir, ignore=shutil.ignore_patterns("ci"))
        (copy_dir / "values.schema.json").unlink()
        with helm.Chart.load(str(copy_dir)) as schemaless:
            expect_refused(schemaless, {"replicas": 3, "leaderElection": {"enabled": False}},
                           helm.HelmRenderError, "leaderElection.enabled")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    chart = helm.Chart.load(str(CHART))
    app_version = chart.metadata["appVersion"]
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "rendered").mkdir(parents=True)
    (OUT / "builtin").mkdir()

    run_check("chart CRD copy is byte-identical to crds/", assert_chart_crd_copy)
    run_check("yamllint --strict values.yaml, Chart.yaml, ci/*.yaml", yamllint)
    builtin_files: list[Path] = []
    all_objects: dict[str, list[dict[str, Any]]] = {}
    for name, overrides in scenarios().items():
        def lint(overrides: dict[str, Any] = overrides) -> None:
            report = helm.lint(str(CHART), overrides, strict=True, namespace=NAMESPACE)
            bad = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
            assert not bad, bad
        run_check(f"[{name}] helm lint --strict", lint)
        try:
            objects, notes = render(chart, overrides)
        except helm.HelmError as e:
            check(f"[{name}] renders", False, str(e))
            continue
        check(f"[{name}] renders ({len(objects)} objects)", True)
        all_objects[name] = objects
        values = chart.merge_values(copy.deepcopy(overrides))
        builtin = [o for o in objects if group_of(o) in BUILTIN_GROUPS]
        (OUT / "rendered" / f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        builtin_path = OUT / "builtin" / f"{name}.yaml"
        builtin_path.write_text(yaml.safe_dump_all(builtin, sort_keys=False))
        builtin_files.append(builtin_path)
        run_check(f"[{name}] third-party kinds validate against upstream CRDs (strict)",
                  lambda o=objects: validate_third_party(o))
        run_check(f"[{name}] security contexts hardened", lambda o=objects, v=values: assert_hardened(o, v))
        run_check(f"[{name}] probes, ports and flags",
                  lambda o=objects, v=values: assert_probes_and_ports(o, v))
        run_check(f"[{name}] images and tenant defaults",
                  lambda o=objects, v=values: assert_images(o, v, app_version))
        run_check(f"[{name}] ClusterRole rules == files/clusterrole-rules.yaml",
                  lambda o=objects, v=values: assert_cluster_role(o, v))
        run_check(f"[{name}] leader election (Role narrowed by resourceNames)",
                  lambda o=objects, v=values: assert_leader_election(o, v))
        run_check(f"[{name}] CRD install and keep policy", lambda o=objects, v=values: assert_crd(o, v))
        run_check(f"[{name}] selectors, Services, monitors, namespaces",
                  lambda o=objects, v=values: assert_wiring(o, v))
        run_check(f"[{name}] NOTES tell what to apply next", lambda n=notes: assert_notes(n))
        run_check(f"[{name}] NOTES' McpTenant validates against the CRD",
                  lambda n=notes: assert_valid_tenants(notes_example(n), "NOTES.txt"))

    run_check(f"kubernetes-validate --strict (k8s {', '.join(KUBE_VERSIONS)})",
              lambda: kubernetes_validate(builtin_files))
    run_check("checkov --framework kubernetes (skips with reasons)", lambda: checkov(OUT / "rendered"))
    for label, values, error, needle in REFUSED:
        run_check(f"refuses {label}",
                  lambda v=values, e=error, n=needle: expect_refused(chart, v, e, n))
    run_check("template fail() backstops the schema", assert_fail_backstop)
    run_check("values.schema.json refuses unknown keys everywhere", assert_schema_closed)
    run_check("operator `run` has every flag the chart passes",
              lambda: assert_operator_flags([args_of(o) for o in all_objects.values()]))
    run_check("platform guide's McpTenant examples validate against the CRD", assert_docs_examples)
    run_check("platform guide explains every condition type and reason", assert_docs_reasons)
    chart.close()

    passed = sum(ok for _, ok, _ in results)
    failed = len(results) - passed
    print(f"\nchart: rendered files in {OUT.relative_to(ROOT)}")
    print(f"{passed} passed, {failed} failed" + (f", {len(skipped)} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
