"""A user's kubectl workflow against a runtime, with kubectl 1.27, 1.30 and 1.33 (issue 7, first "Must show").

Everything goes the way a user's does: a real ``kymaprov serve``, a Kyma runtime and a binding made
through the Provisioning API (``PUT .../bindings``), the binding's kubeconfig written to a file, and the
machine's versioned kubectl binaries with a fresh ``--cache-dir`` per test and version (so each test
does its own discovery and OpenAPI download). Each version gets its own runtime, so cluster-scoped
objects do not collide. Outputs are checked as kubectl prints them, not only exit codes.

What the runtime still lacks is marked ``xfail(strict=True)`` with the reason: it runs, and turns into a
failure the moment it works, so that whoever makes it work removes the marker.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import RunningServer, kubectl_binary, new_api

VERSIONS = ("1.27", "1.30", "1.33")

NAMESPACE = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
"""

# Every kind a small app ships, as one multi-document manifest (after the Namespace).
APP = """---
apiVersion: v1
kind: ServiceAccount
metadata: {name: shop-sa, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shop-config, namespace: shop}
data:
  mode: production
---
apiVersion: v1
kind: Secret
metadata: {name: shop-secret, namespace: shop}
type: Opaque
data:
  password: czNjcmV0
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: shop-sa
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "busybox:1.36", command: ["true"]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16"}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-only, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: shop}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: report, image: "busybox:1.36"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-reader, namespace: shop}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: shop-sa-reads-config, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}
subjects:
- {kind: ServiceAccount, name: shop-sa, namespace: shop}
"""

# (kubectl's type/name as apply prints it, the resource as errors name it, the object's name)
OBJECTS = [
    ("namespace", "namespaces", "shop"),
    ("serviceaccount", "serviceaccounts", "shop-sa"),
    ("configmap", "configmaps", "shop-config"),
    ("secret", "secrets", "shop-secret"),
    ("deployment.apps", "deployments.apps", "web"),
    ("service", "services", "web"),
    ("job.batch", "jobs.batch", "migrate"),
    ("statefulset.apps", "statefulsets.apps", "db"),
    ("ingress.networking.k8s.io", "ingresses.networking.k8s.io", "web"),
    ("networkpolicy.networking.k8s.io", "networkpolicies.networking.k8s.io", "web-only"),
    ("persistentvolumeclaim", "persistentvolumeclaims", "data"),
    ("horizontalpodautoscaler.autoscaling", "horizontalpodautoscalers.autoscaling", "web"),
    ("poddisruptionbudget.policy", "poddisruptionbudgets.policy", "web"),
    ("cronjob.batch", "cronjobs.batch", "report"),
    ("role.rbac.authorization.k8s.io", "roles.rbac.authorization.k8s.io", "config-reader"),
    ("rolebinding.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io", "shop-sa-reads-config"),
]  # fmt: skip

# `kubectl get <kind> -n shop`: the header and the first cells of the row (AGE and volatile cells left off)
TABLES: dict[str, tuple[list[str], list[str]]] = {
    "deployments": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], ["web", "2/2", "2", "2"]),
    "statefulsets": (["NAME", "READY", "AGE"], ["db", "1/1"]),
    "jobs": (["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], ["migrate", "Complete", "1/1"]),
    "cronjobs": (
        ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"],
        ["report", "0", "3", "*", "*", "*", "<none>", "False", "0", "<none>"],
    ),
    "services": (
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["web", "ClusterIP"],
    ),
    "ingresses": (
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"],
        ["web", "<none>", "shop.example.com", "80"],
    ),
    "networkpolicies": (["NAME", "POD-SELECTOR", "AGE"], ["web-only", "app=db"]),
    "persistentvolumeclaims": (
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE",
        ],
        ["data", "Pending", "<none>", "<none>"],
    ),
    "horizontalpodautoscalers": (
        ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
        ["web", "Deployment/web"],
    ),
    "poddisruptionbudgets": (
        ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"],
        ["web", "1", "N/A", "1"],  # the disruption controller's: 2 ready pods, 1 must stay
    ),
    "configmaps": (["NAME", "DATA", "AGE"], ["shop-config", "1"]),
    "secrets": (["NAME", "TYPE", "DATA", "AGE"], ["shop-secret", "Opaque", "1"]),
    "serviceaccounts": (["NAME", "SECRETS", "AGE"], ["default", "0"]),
    "roles": (["NAME", "CREATED", "AT"], ["config-reader"]),
    "rolebindings": (["NAME", "ROLE", "AGE"], ["shop-sa-reads-config", "Role/config-reader"]),
}


@dataclass
class Kubectl:
    """One kubectl version with a binding's kubeconfig file and this test's own cache directory."""

    version: str
    kubeconfig: Path
    cache: Path

    def argv(self, *args: str) -> list[str]:
        binary = kubectl_binary(self.version)
        return [binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args]

    def __call__(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )

    def ok(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run and require success; the stdout."""
        done = self(*args, stdin=stdin, env=env)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    def fails(self, *args: str, stdin: str | None = None) -> str:
        """Run and require exit 1; the stderr."""
        done = self(*args, stdin=stdin)
        assert done.returncode == 1, f"kubectl {' '.join(args)} did not fail: {done.stdout}{done.stderr}"
        return done.stderr


@pytest.fixture(scope="module")
def kubeconfigs(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A runtime and a binding per kubectl version, made through the Provisioning API on first use."""
    made: dict[str, Path] = {}
    home = tmp_path_factory.mktemp("kubeconfigs")

    def kubeconfig_for(version: str) -> Path:
        if version not in made:
            name = f"wf-{version.replace('.', '-')}"
            api = new_api(server, name)
            env_id = api.create_kyma(name=name)
            api.wait_state(env_id)
            reply = api.request("PUT", f"/environments/{env_id}/bindings")
            assert reply.status_code in (201, 202), reply.text
            path = home / f"{name}.yaml"
            path.write_text(reply.json()["credentials"]["kubeconfig"])
            path.chmod(0o600)
            made[version] = path
        return made[version]

    return kubeconfig_for


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, kubeconfigs: Callable[[str], Path], tmp_path: Path) -> Kubectl:
    version = str(request.param)
    return Kubectl(version, kubeconfigs(version), tmp_path / f"cache-{version}")


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.strip().splitlines()]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- the declarative workflow -----------------------------------------------------------------------


def app_in(namespace: str, manifest: str = NAMESPACE + APP) -> str:
    """The manifest (by default the Namespace and the app) with ``namespace`` in place of ``shop``."""
    return manifest.replace("name: shop\n", f"name: {namespace}\n").replace(
        "namespace: shop", f"namespace: {namespace}"
    )


@dataclass
class App:
    """The app applied by one kubectl version to its own namespace, and what kubectl printed."""

    namespace: str
    manifest: Path
    created: str

    def objects(self) -> list[tuple[str, str, str]]:
        return [(k, r, self.namespace if k == "namespace" else n) for k, r, n in OBJECTS]


def apply_app(kubectl: Kubectl, directory: Path, namespace: str) -> App:
    manifest = directory / f"{namespace}.yaml"
    manifest.write_text(app_in(namespace))
    return App(namespace, manifest, kubectl.ok("apply", "-f", str(manifest)))


@pytest.fixture(scope="module")
def shared_apps() -> dict[str, App]:
    """Per kubectl version, the app in ``shop``, applied once for the tests that only read it."""
    return {}


@pytest.fixture
def shared_app(
    kubectl: Kubectl, shared_apps: dict[str, App], tmp_path_factory: pytest.TempPathFactory
) -> App:
    """The app in ``shop`` of this version's runtime; tests using it must not change it."""
    if kubectl.version not in shared_apps:
        shared_apps[kubectl.version] = apply_app(kubectl, tmp_path_factory.mktemp("app"), "shop")
    return shared_apps[kubectl.version]


@pytest.fixture
def own_app(kubectl: Kubectl, tmp_path: Path) -> App:
    """The app in a namespace of this test's own, which the test may change and delete."""
    return apply_app(kubectl, tmp_path, f"shop-{uuid.uuid4().hex[:6]}")


def test_apply_creates_every_kind_and_a_second_apply_changes_nothing(
    kubectl: Kubectl, shared_app: App
) -> None:
    assert shared_app.created.splitlines() == [f"{kind}/{name} created" for kind, _, name in OBJECTS]
    # kubectl's own three-way merge sends a patch for the PDB every time (policy/v1 selector has
    # x-kubernetes-patch-strategy: replace), so a real cluster says "configured" there too.
    again = kubectl.ok("apply", "-f", str(shared_app.manifest))
    assert again.splitlines() == [
        f"{kind}/{name} {'configured' if kind == 'poddisruptionbudget.policy' else 'unchanged'}"
        for kind, _, name in OBJECTS
    ]
    assert kubectl.ok("diff", "-f", str(shared_app.manifest)) == ""


def test_diff_shows_only_the_changed_configmap_and_apply_configures_it(
    kubectl: Kubectl, own_app: App, tmp_path: Path
) -> None:
    namespace = own_app.namespace
    changed = tmp_path / "app-v2.yaml"
    changed.write_text(app_in(namespace).replace("mode: production", "mode: staging"))
    diff = kubectl("diff", "-f", str(changed))
    assert diff.returncode == 1, diff.stderr
    assert re.search(rf"^diff -u -N \S+/v1\.ConfigMap\.{namespace}\.shop-config \S+", diff.stdout, re.M)
    assert "\n-  mode: production\n+  mode: staging\n" in diff.stdout
    assert len(re.findall(r"^diff -u -N ", diff.stdout, re.M)) == 1  # only the ConfigMap differs
    configured = kubectl.ok("apply", "-f", str(changed))
    assert "configmap/shop-config configured" in configured.splitlines()
    assert "deployment.apps/web unchanged" in configured.splitlines()
    assert kubectl.ok("get", "cm", "shop-config", "-n", namespace, "-o", "jsonpath={.data.mode}") == "staging"
    assert kubectl.ok("diff", "-f", str(changed)) == ""


def test_create_of_existing_objects_names_each_one(kubectl: Kubectl, shared_app: App) -> None:
    manifest = shared_app.manifest
    exists = kubectl.fails("create", "-f", str(manifest))
    assert exists.splitlines() == [
        f'Error from server (AlreadyExists): error when creating "{manifest}": {resource} "{name}" already exists'
        for _, resource, name in OBJECTS
    ]


def test_edit_through_kube_editor(kubectl: Kubectl, own_app: App, tmp_path: Path) -> None:
    namespace = own_app.namespace
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/mode: production/mode: edited/' \"$1\"\n")
    editor.chmod(0o755)
    edited = kubectl.ok("edit", "configmap", "shop-config", "-n", namespace, env={"KUBE_EDITOR": str(editor)})
    assert edited.strip() == "configmap/shop-config edited"
    assert kubectl.ok("get", "cm", "shop-config", "-n", namespace, "-o", "jsonpath={.data.mode}") == "edited"


def test_get_prints_each_kinds_table(kubectl: Kubectl, shared_app: App) -> None:
    # the runtime's controllers roll the workloads out and run the Job to completion
    kubectl.ok("rollout", "status", "deploy/web", "-n", "shop", "--timeout=45s")
    kubectl.ok("rollout", "status", "sts/db", "-n", "shop", "--timeout=45s")
    kubectl.ok("wait", "--for=condition=complete", "job/migrate", "-n", "shop", "--timeout=45s")
    kubectl.ok(
        "wait", "--for=jsonpath={.status.disruptionsAllowed}=1", "pdb/web", "-n", "shop", "--timeout=30s"
    )
    for kind, (header, first) in TABLES.items():
        table = rows(kubectl.ok("get", kind, "-n", "shop"))
        assert table[0] == header, (kind, table)
        assert any(row[: len(first)] == first for row in table[1:]), (kind, table)
    namespaces = rows(kubectl.ok("get", "namespace", "shop"))
    assert namespaces[0] == ["NAME", "STATUS", "AGE"] and namespaces[1][:2] == ["shop", "Active"]


def test_rollout_status_and_wait_for_available(kubectl: Kubectl, shared_app: App) -> None:
    rollout = kubectl.ok("rollout", "status", "deploy/web", "-n", "shop", "--timeout=10s")
    assert rollout == 'deployment "web" successfully rolled out\n'
    available = kubectl.ok("wait", "--for=condition=Available", "deploy/web", "-n", "shop", "--timeout=10s")
    assert available == "deployment.apps/web condition met\n"


def test_get_as_yaml_json_and_jsonpath(kubectl: Kubectl, shared_app: App) -> None:
    as_yaml = yaml.safe_load(kubectl.ok("get", "deploy", "web", "-n", "shop", "-o", "yaml"))
    assert (as_yaml["apiVersion"], as_yaml["kind"]) == ("apps/v1", "Deployment")
    assert as_yaml["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert as_yaml["status"]["readyReplicas"] == 2
    as_json = json.loads(kubectl.ok("get", "secret", "shop-secret", "-n", "shop", "-o", "json"))
    assert base64.b64decode(as_json["data"]["password"]) == b"s3cret"
    names = kubectl.ok("get", "deploy,sts,svc", "-n", "shop", "-o", "jsonpath={.items[*].metadata.name}")
    assert names == "web db web"


def test_label_annotate_scale_set_image_and_each_patch_type(kubectl: Kubectl, own_app: App) -> None:
    namespace = own_app.namespace
    assert kubectl.ok("label", "deploy", "web", "-n", namespace, "tier=frontend").strip() == (
        "deployment.apps/web labeled"
    )
    # kubectl 1.27 prints "annotate", later versions "annotated"
    assert kubectl.ok("annotate", "deploy", "web", "-n", namespace, "owner=team-a").startswith(
        "deployment.apps/web annotate"
    )
    assert kubectl.ok("scale", "deploy", "web", "-n", namespace, "--replicas=4").strip() == (
        "deployment.apps/web scaled"
    )
    assert kubectl.ok("set", "image", "deploy/web", "-n", namespace, "web=nginx:1.27").strip() == (
        "deployment.apps/web image updated"
    )
    patches = [
        ("merge", '{"spec":{"minReadySeconds":5}}'),
        ("json", '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]'),
        ("strategic", '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"X","value":"1"}]}]}}}}'),
    ]  # fmt: skip
    for kind, patch in patches:
        patched = kubectl.ok("patch", "deploy", "web", "-n", namespace, f"--type={kind}", "-p", patch)
        assert patched.strip() == "deployment.apps/web patched", kind
    deployment = json.loads(kubectl.ok("get", "deploy", "web", "-n", namespace, "-o", "json"))
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert deployment["metadata"]["annotations"]["owner"] == "team-a"
    assert (deployment["spec"]["replicas"], deployment["spec"]["minReadySeconds"]) == (4, 5)
    assert deployment["spec"]["revisionHistoryLimit"] == 3
    assert container["image"] == "nginx:1.27" and container["env"] == [{"name": "X", "value": "1"}]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]  # kept by the strategic merge


def test_delete_the_apps_objects_then_its_namespace(kubectl: Kubectl, own_app: App, tmp_path: Path) -> None:
    namespace = own_app.namespace
    assert own_app.created.splitlines() == [f"{kind}/{name} created" for kind, _, name in own_app.objects()]
    # The app's objects first, then the namespace: deleting the namespace first races the namespace
    # controller on a real cluster (the later deletes may or may not find their objects).
    app = tmp_path / "objects.yaml"
    app.write_text(app_in(namespace, APP))
    deleted = kubectl.ok("delete", "-f", str(app))
    assert deleted.splitlines() == [f'{kind} "{name}" deleted' for kind, _, name in OBJECTS[1:]]
    gone = kubectl(
        "get", "deploy,sts,job,cronjob,svc,ing,netpol,pvc,hpa,pdb,role,rolebinding", "-n", namespace
    )
    assert (gone.returncode, gone.stdout, gone.stderr) == (
        0,
        "",
        f"No resources found in {namespace} namespace.\n",
    )
    assert kubectl.ok("delete", "namespace", namespace).strip() == f'namespace "{namespace}" deleted'


def test_explain(kubectl: Kubectl) -> None:
    field = kubectl.ok("explain", "deployment.spec.replicas")
    assert re.search(r"^KIND:\s+Deployment$", field, re.M) and re.search(r"^VERSION:\s+v1$", field, re.M)
    assert re.search(r"^FIELD:\s+replicas <integer>$", field, re.M)
    assert "Number of desired pods." in field
    recursive = kubectl.ok("explain", "deployment", "--recursive").splitlines()
    assert "FIELDS:" in recursive
    fields = recursive[recursive.index("FIELDS:") + 1 :]
    assert [f.split()[0] for f in fields[:3]] == ["apiVersion", "kind", "metadata"]
    assert any(re.fullmatch(r"\s+replicas\s+<integer>", f) for f in fields)
    assert any(re.fullmatch(r"\s+containers\s+<\[\]Container> -required-", f) for f in fields)


def test_chunk_size_pages_in_several_requests(kubectl: Kubectl) -> None:
    namespace = f"pages-{uuid.uuid4().hex[:6]}"
    kubectl.ok("create", "namespace", namespace)
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"page-{i}", "namespace": namespace}}
        for i in range(7)
    ]
    kubectl.ok("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    listed = kubectl("get", "configmaps", "-n", namespace, "--chunk-size=3", "-v=6")
    assert listed.returncode == 0, listed.stderr
    requests = [
        line for line in listed.stderr.splitlines() if "GET" in line and f"/namespaces/{namespace}/configmaps?" in line
    ]  # fmt: skip
    assert len(requests) == 3, requests  # 3 + 3 + 1, or 3 + 3 + 2 with kube-root-ca.crt
    assert "limit=3" in requests[0] and "continue=" not in requests[0]
    assert all("continue=" in r and "limit=3" in r for r in requests[1:])
    names = [row[0] for row in rows(listed.stdout)[1:] if row[0] != "kube-root-ca.crt"]
    assert names == [f"page-{i}" for i in range(7)]


def test_watch_sees_a_short_lived_object(kubectl: Kubectl, tmp_path: Path) -> None:
    """``get -w --output-watch-events`` in a subprocess sees ADDED, MODIFIED and DELETED of an object
    that lives for three quick kubectl calls."""
    namespace = f"watched-{uuid.uuid4().hex[:6]}"
    kubectl.ok("create", "namespace", namespace)
    kubectl.ok("create", "configmap", "sentinel", "-n", namespace)
    out = tmp_path / "watch.out"
    with open(out, "w") as sink:
        watch = subprocess.Popen(
            kubectl.argv("get", "configmaps", "-n", namespace, "-w", "--output-watch-events", "--request-timeout=30s"),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
    try:
        wait_for("the watch's initial list", lambda: "sentinel" in out.read_text())
        kubectl.ok("create", "configmap", "blip", "-n", namespace, "--from-literal=a=1")
        kubectl.ok("patch", "configmap", "blip", "-n", namespace, "-p", '{"data":{"a":"2"}}')
        kubectl.ok("delete", "configmap", "blip", "-n", namespace)
        wait_for("DELETED blip", lambda: re.search(r"^DELETED\s+blip\b", out.read_text(), re.M) is not None)
    finally:
        watch.terminate()
        watch.wait(10)
    events = [row[:2] for row in rows(out.read_text())]
    assert events[0] == ["EVENT", "NAME"]
    assert [e for e in events if e[1] == "blip"] == [
        ["ADDED", "blip"],
        ["MODIFIED", "blip"],
        ["DELETED", "blip"],
    ]


BAD_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: bad, namespace: default}
spec:
  replicaz: 5
  selector: {matchLabels: {app: bad}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      containers: [{name: c, image: nginx}]
"""


def test_strict_and_warn_validation(kubectl: Kubectl) -> None:
    strict = kubectl.fails("apply", "-f", "-", "--validate=strict", stdin=BAD_DEPLOYMENT)
    assert strict.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replicaz"'
    )
    assert kubectl("get", "deploy", "bad").returncode == 1  # nothing stored
    warned = kubectl("apply", "-f", "-", "--validate=warn", stdin=BAD_DEPLOYMENT)
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr == 'Warning: unknown field "spec.replicaz"\n'
    assert warned.stdout == "deployment.apps/bad created\n"
    assert (
        kubectl.ok("get", "deploy", "bad", "-o", "jsonpath={.spec.replicas}") == "1"
    )  # the unknown field dropped
    kubectl.ok("delete", "deploy", "bad")


LIMITED = """apiVersion: v1
kind: ServiceAccount
metadata: {name: limited, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binder, namespace: team}
rules:
- apiGroups: [rbac.authorization.k8s.io]
  resources: [rolebindings]
  verbs: [create, get, list]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: limited-binder, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: binder}
subjects: [{kind: ServiceAccount, name: limited, namespace: team}]
"""


def test_rbac_can_i_and_escalation_refused(kubectl: Kubectl) -> None:
    can = kubectl("auth", "can-i", "*", "*", "--all-namespaces")
    assert (can.returncode, can.stdout) == (0, "yes\n"), can.stderr
    checks: list[tuple[str, ...]] = [
        ("create", "deployments", "-n", "kube-system"),
        ("delete", "clusterroles"),
    ]
    for check in checks:
        assert kubectl.ok("auth", "can-i", *check) == "yes\n", check

    if kubectl("get", "namespace", "team").returncode != 0:
        kubectl.ok("create", "namespace", "team")
    kubectl.ok("apply", "-f", "-", stdin=LIMITED)
    as_limited = "--as=system:serviceaccount:team:limited"
    answers = {
        ("list", "configmaps", "-n", "team"): ("yes", 0),
        ("create", "rolebindings", "-n", "team"): ("yes", 0),
        ("delete", "configmaps", "-n", "team"): ("no", 1),
        ("list", "configmaps", "-n", "default"): ("no", 1),
        ("create", "clusterrolebindings"): ("no", 1),
    }
    for check, (answer, code) in answers.items():
        done = kubectl("auth", "can-i", *check, as_limited)
        assert (done.stdout.strip(), done.returncode) == (answer, code), check

    denied = kubectl.fails("get", "configmaps", "-n", "default", as_limited)
    assert denied.strip() == (
        'Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:team:limited" '
        'cannot list resource "configmaps" in API group "" in the namespace "default"'
    )
    name = f"grab-admin-{kubectl.version.replace('.', '-')}"
    escalation = kubectl.fails(
        "create", "rolebinding", name, "-n", "team", "--clusterrole=cluster-admin",
        "--serviceaccount=team:limited", as_limited,
    )  # fmt: skip
    assert escalation == (
        f'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "{name}" is forbidden: '
        'user "system:serviceaccount:team:limited" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:team" "system:authenticated"]) is attempting to grant RBAC permissions '
        'not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n'
        '{NonResourceURLs:["*"], Verbs:["*"]}\n'
    )
    assert kubectl("get", "rolebinding", name, "-n", "team").returncode == 1
    # what it does hold it may bind
    allowed = kubectl.ok(
        "create", "rolebinding", f"{name}-ok", "-n", "team", "--role=binder", "--serviceaccount=team:limited",
        as_limited,
    )  # fmt: skip
    assert allowed.strip() == f"rolebinding.rbac.authorization.k8s.io/{name}-ok created"


EXPECTED_RESOURCES = {
    "bindings", "componentstatuses", "configmaps", "endpoints", "events", "limitranges", "namespaces",
    "nodes", "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates",
    "replicationcontrollers", "resourcequotas", "secrets", "serviceaccounts", "services",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
    "validatingwebhookconfigurations.admissionregistration.k8s.io",
    "customresourcedefinitions.apiextensions.k8s.io", "apiservices.apiregistration.k8s.io",
    "controllerrevisions.apps", "daemonsets.apps", "deployments.apps", "replicasets.apps",
    "statefulsets.apps", "selfsubjectreviews.authentication.k8s.io", "tokenreviews.authentication.k8s.io",
    "localsubjectaccessreviews.authorization.k8s.io", "selfsubjectaccessreviews.authorization.k8s.io",
    "selfsubjectrulesreviews.authorization.k8s.io", "subjectaccessreviews.authorization.k8s.io",
    "horizontalpodautoscalers.autoscaling", "cronjobs.batch", "jobs.batch",
    "certificatesigningrequests.certificates.k8s.io", "leases.coordination.k8s.io",
    "endpointslices.discovery.k8s.io", "events.events.k8s.io",
    "flowschemas.flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations.flowcontrol.apiserver.k8s.io",
    "ingressclasses.networking.k8s.io", "ingresses.networking.k8s.io", "ipaddresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io", "servicecidrs.networking.k8s.io", "runtimeclasses.node.k8s.io",
    "poddisruptionbudgets.policy", "clusterrolebindings.rbac.authorization.k8s.io",
    "clusterroles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
    "roles.rbac.authorization.k8s.io", "priorityclasses.scheduling.k8s.io", "csidrivers.storage.k8s.io",
    "csinodes.storage.k8s.io", "csistoragecapacities.storage.k8s.io", "storageclasses.storage.k8s.io",
    "volumeattachments.storage.k8s.io",
}  # fmt: skip
KYMA_RESOURCES = {  # a new Kyma runtime's: the Kyma CRD and the CRDs of its default modules
    "kymas.operator.kyma-project.io", "istios.operator.kyma-project.io",
    "apigateways.operator.kyma-project.io", "btpoperators.operator.kyma-project.io",
    "virtualservices.networking.istio.io", "gateways.networking.istio.io",
    "serviceentries.networking.istio.io", "destinationrules.networking.istio.io",
    "authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io",
    "apirules.gateway.kyma-project.io", "serviceinstances.services.cloud.sap.com",
    "servicebindings.services.cloud.sap.com",
}  # fmt: skip


def test_api_resources_and_version(kubectl: Kubectl) -> None:
    """Discovery lists the 61 resource types of a 1.33 cluster and Kyma's; ``version`` shows the server's v1.33.0."""
    names = kubectl.ok("api-resources", "-o", "name").split()
    assert len(names) == len(set(names)) and set(names) == EXPECTED_RESOURCES | KYMA_RESOURCES
    wide = rows(kubectl.ok("api-resources"))
    assert wide[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in wide
    assert ["horizontalpodautoscalers", "hpa", "autoscaling/v2", "true", "HorizontalPodAutoscaler"] in wide
    version = json.loads(kubectl.ok("version", "-o", "json"))
    assert version["clientVersion"]["minor"] == kubectl.version.split(".")[1]
    server = version["serverVersion"]
    assert (server["major"], server["minor"], server["gitVersion"]) == ("1", "33", "v1.33.0")


# --- differences from a real cluster found by this suite ---------------------------------------------


def test_diff_shows_only_what_changes(kubectl: Kubectl, tmp_path: Path) -> None:
    """kube-apiserver's dry-run update answers with the stored resourceVersion and a dry-run create with
    none; kymaprov answered with the next one, so every ``kubectl diff`` showed a resourceVersion change."""
    name = f"dry-{uuid.uuid4().hex[:6]}"
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\ndata: {{a: '1'}}\n"
    )
    kubectl.ok("apply", "-f", str(manifest))
    stored = kubectl.ok("get", "cm", name, "-o", "jsonpath={.metadata.resourceVersion}")
    manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
    diff = kubectl("diff", "-f", str(manifest))
    assert diff.returncode == 1, diff.stderr
    changed = [
        line for line in diff.stdout.splitlines()[3:] if line[:1] in "+-" and not line.startswith("@@")
    ]
    assert changed == ['-  a: "1"', '+  a: "2"']
    dry = kubectl.ok(
        "apply", "-f", str(manifest), "--dry-run=server", "-o", "jsonpath={.metadata.resourceVersion}"
    )
    assert dry == stored
    created = kubectl.ok("create", "cm", f"{name}-new", "--dry-run=server", "-o", "json")
    assert "resourceVersion" not in json.loads(created)["metadata"]


def test_new_namespace_has_the_root_ca_configmap(kubectl: Kubectl) -> None:
    """kube-controller-manager's root-ca-cert-publisher: made in each new namespace within moments,
    made again when deleted, its data put back when edited."""
    namespace = f"ca-{uuid.uuid4().hex[:6]}"
    kubectl.ok("create", "namespace", namespace)
    get = ("get", "configmap", "kube-root-ca.crt", "-n", namespace, "-o", "json")
    wait_for("kube-root-ca.crt", lambda: kubectl(*get).returncode == 0, timeout=5)
    ca = json.loads(kubectl.ok(*get))
    assert ca["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    kubectl.ok("delete", "configmap", "kube-root-ca.crt", "-n", namespace)
    wait_for("kube-root-ca.crt again", lambda: kubectl(*get).returncode == 0, timeout=5)
    assert json.loads(kubectl.ok(*get))["data"] == ca["data"]
    kubectl.ok("patch", "configmap", "kube-root-ca.crt", "-n", namespace, "-p", '{"data":{"ca.crt":"x"}}')
    wait_for(
        "kube-root-ca.crt reverted", lambda: json.loads(kubectl.ok(*get))["data"] == ca["data"], timeout=5
    )


# --- server-side apply, CRDs, finalizers and namespace termination ------------------------------------

SSA_ALICE = """apiVersion: v1
kind: ConfigMap
metadata: {name: shared, namespace: default}
data: {owner: alice, a: "1"}
"""
SSA_BOB = """apiVersion: v1
kind: ConfigMap
metadata: {name: shared, namespace: default}
data: {owner: bob}
"""


def test_server_side_apply_conflict_and_force(kubectl: Kubectl) -> None:
    name = f"shared-{uuid.uuid4().hex[:6]}"
    alice, bob = SSA_ALICE.replace("shared", name), SSA_BOB.replace("shared", name)
    applied = kubectl.ok("apply", "--server-side", "--field-manager=alice", "-f", "-", stdin=alice)
    assert applied.strip() == f"configmap/{name} serverside-applied"
    conflict = kubectl.fails("apply", "--server-side", "--field-manager=bob", "-f", "-", stdin=bob)
    assert 'Apply failed with 1 conflict: conflict with "alice": .data.owner' in conflict
    assert "--force-conflicts" in conflict
    assert kubectl.ok("get", "cm", name, "-o", "jsonpath={.data.owner}") == "alice"
    forced = kubectl.ok(
        "apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-", stdin=bob
    )
    assert forced.strip() == f"configmap/{name} serverside-applied"
    live = yaml.safe_load(kubectl.ok("get", "cm", name, "-o", "yaml", "--show-managed-fields"))
    assert live["data"] == {"owner": "bob", "a": "1"}
    managers = {entry["manager"]: entry for entry in live["metadata"]["managedFields"]}
    assert set(managers) == {"alice", "bob"}
    assert managers["alice"]["operation"] == "Apply" and managers["alice"]["fieldsV1"] == {
        "f:data": {"f:a": {}}
    }
    assert managers["bob"]["fieldsV1"] == {"f:data": {"f:owner": {}}}
    hidden = yaml.safe_load(kubectl.ok("get", "cm", name, "-o", "yaml"))
    assert "managedFields" not in hidden["metadata"]
    # alice stops applying "a": server-side apply removes the field she alone owned
    dropped = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default}}\n"
    kubectl.ok("apply", "--server-side", "--field-manager=alice", "-f", "-", stdin=dropped)
    assert kubectl.ok("get", "cm", name, "-o", "jsonpath={.data}") == '{"owner":"bob"}'


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1}
"""


def test_crd_with_custom_resources(kubectl: Kubectl) -> None:
    crd = kubectl("apply", "-f", "-", stdin=CRD)
    assert crd.returncode == 0, crd.stderr
    kubectl.ok("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=5s")
    made = kubectl.ok(
        "apply", "-f", "-",
        stdin="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 3}\n",
    )  # fmt: skip
    assert made.strip() == "widget.example.com/w1 created"
    table = rows(kubectl.ok("get", "wd"))
    assert table == [["NAME", "SIZE"], ["w1", "3"]]  # no AGE once printer columns are given
    refused = kubectl.fails(
        "apply", "-f", "-",
        stdin="apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, namespace: default}\nspec: {size: 0}\n",
    )  # fmt: skip
    assert (
        'The Widget "w2" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1'
        in refused
    )
    assert "widgets" in kubectl.ok("api-resources", "--api-group=example.com", "-o", "name")
    assert "size\t<integer> -required-" in kubectl.ok("explain", "widget.spec")
    assert kubectl.ok("delete", "crd", "widgets.example.com").strip() == (
        'customresourcedefinition.apiextensions.k8s.io "widgets.example.com" deleted'
    )
    wait_for("widgets to go", lambda: kubectl("get", "widgets.example.com").returncode != 0)


def test_finalizer_holds_a_delete(kubectl: Kubectl) -> None:
    name = f"held-{uuid.uuid4().hex[:6]}"
    kubectl.ok(
        "apply", "-f", "-",
        stdin=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: default, finalizers: [example.com/hold]}}\n",
    )  # fmt: skip
    deleted = kubectl.ok("delete", "configmap", name, "--wait=false")
    assert deleted.strip() == f'configmap "{name}" deleted'
    held = json.loads(kubectl.ok("get", "configmap", name, "-o", "json"))
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["example.com/hold"]
    kubectl.ok(
        "patch", "configmap", name, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]'
    )
    wait_for("the held object to go", lambda: kubectl("get", "configmap", name).returncode == 1)


def test_namespace_terminates_after_its_contents(kubectl: Kubectl) -> None:
    namespace = f"ending-{uuid.uuid4().hex[:6]}"
    kubectl.ok("create", "namespace", namespace)
    kubectl.ok(
        "apply", "-f", "-",
        stdin=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: held, namespace: {namespace}, finalizers: [example.com/hold]}}\n",
    )  # fmt: skip
    assert (
        kubectl.ok("delete", "namespace", namespace, "--wait=false").strip()
        == f'namespace "{namespace}" deleted'
    )
    table = rows(kubectl.ok("get", "namespace", namespace))
    assert table[1][:2] == [namespace, "Terminating"]
    refused = kubectl.fails("create", "configmap", "late", "-n", namespace)
    assert "because it is being terminated" in refused
    kubectl.ok(
        "patch", "configmap", "held", "-n", namespace, "--type=json",
        "-p", '[{"op":"remove","path":"/metadata/finalizers"}]',
    )  # fmt: skip
    wait_for("the namespace to go", lambda: kubectl("get", "namespace", namespace).returncode == 1)


def test_a_cron_job_fires_after_the_admin_clock_advance(kubectl: Kubectl, server: RunningServer) -> None:
    """The service clock drives the runtime's CronJobs: ``/admin/clock/advance`` past the schedule makes
    the Job at once, and the Job runs to completion."""
    name = f"tick-{kubectl.version.replace('.', '')}"
    kubectl.ok(
        "create", "cronjob", name, "--image=busybox:1.36", "--schedule=*/1 * * * *", "--", "echo", "hi"
    )

    def jobs() -> list[str]:
        listed = json.loads(kubectl.ok("get", "jobs", "-o", "json"))["items"]
        return [j["metadata"]["name"] for j in listed if j["metadata"]["name"].startswith(f"{name}-")]

    assert jobs() == []
    server.admin("POST", "/admin/clock/advance", {"seconds": 60})
    wait_for("the CronJob's Job", lambda: len(jobs()) == 1)
    waited = kubectl.ok("wait", "--for=condition=complete", f"job/{jobs()[0]}", "--timeout=45s")
    assert waited == f"job.batch/{jobs()[0]} condition met\n"
    last = kubectl.ok("get", "cronjob", name, "-o", "jsonpath={.status.lastScheduleTime}")
    assert last.endswith(":00Z")
