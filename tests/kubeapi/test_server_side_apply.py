"""Server-side apply and managedFields against a real server: HTTP, kubectl 1.27/1.30/1.33."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kymaprov.backends.base import ClusterAccess
from tests.kubeapi.conftest import Kube, Kubectl

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
APPLY = {"content-type": "application/apply-patch+yaml"}


def deployment(
    replicas: int | None = None,
    labels: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels or {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers or [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    return body


def apply(kube: Kube, body: dict[str, Any], manager: str | None, force: bool = False) -> httpx.Response:
    params = {} if manager is None else {"fieldManager": manager}
    if force:
        params["force"] = "true"
    return kube.request("PATCH", f"{DEPLOY}/web", params=params, content=json.dumps(body), headers=APPLY)


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"]): e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


def owns(obj: dict[str, Any], manager: str, operation: str, *path: str) -> bool:
    fields: Any = managers(obj).get((manager, operation), {})
    for pe in path:
        if not isinstance(fields, dict) or pe not in fields:
            return False
        fields = fields[pe]
    return True


def test_apply_requires_a_field_manager(admin: Kube) -> None:
    r = apply(admin, deployment(), None)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    assert status["details"] == {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        ],
    }
    forced = admin.request(
        "PATCH",
        f"{DEPLOY}/web",
        params={"force": "true"},
        content="{}",
        headers={"content-type": "application/merge-patch+json"},
    )
    assert forced.status_code == 422
    assert "force: Forbidden: may not be specified for non-apply patch" in forced.json()["message"]


def test_conflict_force_and_ownership(admin: Kube) -> None:
    created = apply(admin, deployment(3), "A")
    assert created.status_code == 201, created.text
    obj = created.json()
    assert obj["metadata"]["managedFields"][0]["fieldsType"] == "FieldsV1"
    assert owns(obj, "A", "Apply", "f:spec", "f:replicas")
    assert owns(
        obj, "A", "Apply", "f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}', "f:image"
    )

    conflict = apply(admin, deployment(5), "B")
    assert conflict.status_code == 409, conflict.text
    status = conflict.json()
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "A": .spec.replicas'
    assert status["details"]["causes"] == [
        {"type": "FieldManagerConflict", "message": 'conflict with "A"', "field": ".spec.replicas"}
    ]
    assert admin.get(f"{DEPLOY}/web").json()["spec"]["replicas"] == 3

    forced = apply(admin, deployment(5), "B", force=True)
    assert forced.status_code == 200, forced.text
    obj = forced.json()
    assert obj["spec"]["replicas"] == 5
    assert owns(obj, "B", "Apply", "f:spec", "f:replicas")
    assert not owns(obj, "A", "Apply", "f:spec", "f:replicas")
    assert owns(obj, "A", "Apply", "f:spec", "f:selector")  # shared fields with equal values stay shared


def test_conflict_with_an_update_manager_names_its_version(admin: Kube) -> None:
    assert apply(admin, deployment(1), "A").status_code == 201
    scaled = admin.request(
        "PATCH",
        f"{DEPLOY}/web",
        params={"fieldManager": "other"},
        content=json.dumps({"spec": {"replicas": 2}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert scaled.status_code == 200
    assert owns(scaled.json(), "other", "Update", "f:spec", "f:replicas")
    assert not owns(scaled.json(), "A", "Apply", "f:spec", "f:replicas")  # an Update takes it over

    conflict = apply(admin, deployment(4), "B")
    assert conflict.status_code == 409
    assert conflict.json()["details"]["causes"] == [
        {
            "type": "FieldManagerConflict",
            "message": 'conflict with "other" using apps/v1',
            "field": ".spec.replicas",
        }
    ]


def test_fields_no_longer_applied_are_removed_unless_owned_elsewhere(admin: Kube) -> None:
    body = deployment(3, labels={"app": "web", "gone": "1", "kept": "1"})
    assert apply(admin, body, "A").status_code == 201
    # another manager sets "kept" to a value of its own (an Update): it owns it from then on
    patched = admin.request(
        "PATCH",
        f"{DEPLOY}/web",
        params={"fieldManager": "labeler"},
        content=json.dumps({"metadata": {"labels": {"kept": "2"}}}),
        headers={"content-type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200

    again = apply(admin, deployment(labels={"app": "web"}), "A")
    assert again.status_code == 200, again.text
    obj = again.json()
    assert obj["metadata"]["labels"] == {"app": "web", "kept": "2"}
    assert "replicas" not in obj["spec"] or obj["spec"]["replicas"] == 1  # removed, then defaulted
    assert not owns(obj, "A", "Apply", "f:spec", "f:replicas")


def test_containers_are_merged_by_name(admin: Kube) -> None:
    assert apply(admin, deployment(containers=[{"name": "a", "image": "nginx"}]), "A").status_code == 201
    second = apply(admin, deployment(containers=[{"name": "b", "image": "busybox"}]), "B")
    assert second.status_code == 200, second.text
    containers = second.json()["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("a", "nginx"), ("b", "busybox")]
    assert owns(
        second.json(), "B", "Apply", "f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"b"}'
    )

    # A stops applying its container: it goes, B's stays
    third = apply(admin, deployment(containers=[{"name": "x", "image": "redis"}]), "A")
    names = [c["name"] for c in third.json()["spec"]["template"]["spec"]["containers"]]
    assert names == ["b", "x"]


def test_update_operations_record_their_manager(admin: Kube) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    created = admin.request(
        "POST",
        path,
        params={"fieldManager": "creator"},
        json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}},
    )
    assert created.status_code == 201
    entry = created.json()["metadata"]["managedFields"][0]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "fieldsType")} == {
        "manager": "creator",
        "operation": "Update",
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
    }
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entry["time"].endswith("Z") and len(entry["time"]) == 20  # whole seconds

    # no fieldManager: the User-Agent's product names the manager
    patched = admin.request(
        "PATCH",
        f"{path}/cm",
        content=json.dumps({"data": {"b": "2"}}),
        headers={"content-type": "application/merge-patch+json", "user-agent": "my-tool/1.2 (linux)"},
    )
    assert owns(patched.json(), "my-tool", "Update", "f:data", "f:b")
    assert not owns(patched.json(), "creator", "Update", "f:data", "f:b")

    # a PUT that omits managedFields keeps them; [] clears them; then untracked until applied
    current = admin.get(f"{path}/cm").json()
    current["metadata"].pop("managedFields")
    current["data"]["c"] = "3"
    put = admin.request("PUT", f"{path}/cm", params={"fieldManager": "putter"}, json=current)
    assert set(managers(put.json())) == {("creator", "Update"), ("my-tool", "Update"), ("putter", "Update")}
    body = put.json()
    body["metadata"]["managedFields"] = [{"manager": "x", "fieldsType": "nonsense"}]
    invalid = admin.request("PUT", f"{path}/cm", json=body)
    assert set(managers(invalid.json())) == set(managers(put.json()))  # invalid ones are ignored
    body = invalid.json()
    body["metadata"]["managedFields"] = []
    cleared = admin.request("PUT", f"{path}/cm", json=body)
    assert cleared.status_code == 200
    assert "managedFields" not in cleared.json()["metadata"]


def test_apply_refuses_managed_fields_and_bad_managers(admin: Kube) -> None:
    body = deployment()
    body["metadata"]["managedFields"] = []
    r = apply(admin, body, "A")
    assert r.status_code == 400 and r.json()["message"] == "metadata.managedFields must be nil"
    long = apply(admin, deployment(), "m" * 129)
    assert long.status_code == 422
    assert "fieldManager: Too long: may not be more than 128 bytes" in long.json()["message"]


def test_unit_field_set_round_trip_and_schemaless_parts() -> None:
    """FieldsV1 parses back to the same set; parts without a schema: maps granular, lists atomic."""
    from kymaprov.kubeapi import fieldmanager

    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {
                    "items": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["id"],
                        "items": {"type": "object", "properties": {"id": {"type": "string"}}},
                    },
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                },
            }
        },
    }
    obj = {"spec": {"items": [{"id": "a", "v": 1}], "tags": ["x"], "free": {"k": [1, 2]}}}
    fields = fieldmanager.field_set(obj, schema)
    encoded = fields.to_json()
    assert encoded == {
        "f:spec": {
            "f:free": {".": {}, "f:k": {}},
            "f:items": {'k:{"id":"a"}': {".": {}, "f:id": {}, "f:v": {}}},
            "f:tags": {'v:"x"': {}},
        }
    }
    assert fieldmanager.FieldSet.from_json(encoded) == fields
    merged = fieldmanager.merge(
        obj, {"spec": {"items": [{"id": "b"}], "tags": ["y"], "free": {"k": [3]}}}, schema
    )
    assert merged["spec"] == {
        "items": [{"id": "a", "v": 1}, {"id": "b"}],
        "tags": ["x", "y"],
        "free": {"k": [3]},
    }


CLIENT_SIDE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: csa
data:
  a: "1"
"""


def _deployment_yaml(replicas: int) -> str:
    return yaml.safe_dump(deployment(replicas))


@pytest.fixture(params=["1.27", "1.30", "1.33"])
def kubectl(request: pytest.FixtureRequest, tmp_path: Path, access: ClusterAccess) -> Kubectl:
    """A kubectl of each version on a fresh cluster."""
    return Kubectl(tmp_path, access, version=request.param)


def _apply_as_a(kubectl: Kubectl) -> None:
    first = kubectl("apply", "--server-side", "--field-manager=A", "-f", "-", stdin=_deployment_yaml(2))
    assert first.returncode == 0, first.stderr
    assert "serverside-applied" in first.stdout


def test_kubectl_server_side_apply_conflict_names_the_other_manager(kubectl: Kubectl) -> None:
    _apply_as_a(kubectl)
    conflict = kubectl("apply", "--server-side", "--field-manager=B", "-f", "-", stdin=_deployment_yaml(4))
    assert conflict.returncode != 0
    assert 'error: Apply failed with 1 conflict: conflict with "A": .spec.replicas' in conflict.stderr
    assert "--force-conflicts" in conflict.stderr


def test_kubectl_server_side_apply_force_conflicts_takes_the_field_over(kubectl: Kubectl) -> None:
    _apply_as_a(kubectl)
    forced = kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=B",
        "-f",
        "-",
        stdin=_deployment_yaml(4),
    )
    assert forced.returncode == 0, forced.stderr
    shown = kubectl("get", "deployment", "web", "-o", "yaml", "--show-managed-fields")
    assert shown.returncode == 0, shown.stderr
    obj = yaml.safe_load(shown.stdout)
    assert obj["spec"]["replicas"] == 4
    assert owns(obj, "B", "Apply", "f:spec", "f:replicas")
    assert not owns(obj, "A", "Apply", "f:spec", "f:replicas")
    hidden = yaml.safe_load(kubectl("get", "deployment", "web", "-o", "yaml").stdout)
    assert "managedFields" not in hidden["metadata"]


def test_kubectl_client_side_apply_records_its_update_entry(kubectl: Kubectl) -> None:
    created = kubectl("apply", "-f", "-", stdin=CLIENT_SIDE)
    assert created.returncode == 0, created.stderr
    changed = kubectl("apply", "-f", "-", stdin=CLIENT_SIDE.replace('"1"', '"2"'))
    assert changed.returncode == 0, changed.stderr
    cm = yaml.safe_load(kubectl("get", "configmap", "csa", "-o", "yaml", "--show-managed-fields").stdout)
    assert cm["data"] == {"a": "2"}
    assert owns(cm, "kubectl-client-side-apply", "Update", "f:data", "f:a")
    assert owns(
        cm,
        "kubectl-client-side-apply",
        "Update",
        "f:metadata",
        "f:annotations",
        "f:kubectl.kubernetes.io/last-applied-configuration",
    )


def test_kubectl_server_side_diff_shows_the_change(kubectl: Kubectl) -> None:
    _apply_as_a(kubectl)
    diff = kubectl("diff", "--server-side", "--field-manager=A", "-f", "-", stdin=_deployment_yaml(6))
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-  replicas: 2" in diff.stdout and "+  replicas: 6" in diff.stdout


def test_kubectl_upgrades_client_side_apply_to_server_side(tmp_path: Path, access: ClusterAccess) -> None:
    """As kube's lastAppliedManager: manager ``kubectl`` may take over what client-side apply last
    applied (the annotation follows); another manager conflicts with kubectl-client-side-apply."""
    kubectl = Kubectl(tmp_path, access, version="1.33")
    client_side = kubectl("apply", "-f", "-", stdin=_deployment_yaml(2))
    assert client_side.returncode == 0, client_side.stderr

    other = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=_deployment_yaml(3))
    assert other.returncode != 0
    assert 'conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas' in other.stderr

    upgraded = kubectl("apply", "--server-side", "-f", "-", stdin=_deployment_yaml(3))
    assert upgraded.returncode == 0, upgraded.stderr
    obj = yaml.safe_load(kubectl("get", "deployment", "web", "-o", "yaml", "--show-managed-fields").stdout)
    assert obj["spec"]["replicas"] == 3
    assert owns(obj, "kubectl", "Apply", "f:spec", "f:replicas")
    last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 3


def test_subresource_writes_record_their_subresource(admin: Kube) -> None:
    assert apply(admin, deployment(1), "A").status_code == 201
    merge = {"content-type": "application/merge-patch+json"}
    scaled = admin.request(
        "PATCH",
        f"{DEPLOY}/web/scale",
        params={"fieldManager": "scaler"},
        content='{"spec":{"replicas":3}}',
        headers=merge,
    )
    assert scaled.status_code == 200, scaled.text
    status = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    status["status"] = {"observedGeneration": 7}
    applied = admin.request(
        "PATCH",
        f"{DEPLOY}/web/status",
        params={"fieldManager": "ctrl", "force": "true"},  # the Deployment controller owns status too
        content=json.dumps(status),
        headers=APPLY,
    )
    assert applied.status_code == 200, applied.text
    entries = {
        (e["manager"], e.get("subresource", "")): e for e in applied.json()["metadata"]["managedFields"]
    }
    assert entries[("scaler", "scale")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert entries[("ctrl", "status")]["operation"] == "Apply"
    assert entries[("ctrl", "status")]["fieldsV1"] == {"f:status": {"f:observedGeneration": {}}}
    assert not owns(applied.json(), "A", "Apply", "f:spec", "f:replicas")  # the scale Update took it
