"""The built-in kinds of Kubernetes 1.33, read from published definitions rather than written by hand.

Two packages are the source, both pinned to 1.33 in ``pyproject.toml``:

- ``lightkube-models`` generates one class per resource and subresource from the 1.33 OpenAPI
  document, each with ``_api_info`` (group, version, kind, plural, verbs, subresource action) and a
  base class that says whether it is namespaced. Its modules are *parsed* (``ast``), never imported:
  that takes about 10 ms and needs neither ``lightkube`` itself nor its pydantic-free models.
- ``kubernetes-validate`` ships the 1.33 ``_definitions.json`` (``schemas.py`` reads it lazily).

Short names and categories are in neither; they come from Kubernetes' own registry
(``pkg/registry/<group>/<kind>/storage/storage.go``, ``ShortNames()`` and ``Categories()``) in the
small table below. Only the versions a 1.33 cluster serves by default are kept: GA versions (``v1``,
``v2``); alpha and beta APIs are off by default there.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.33"

# (group, plural) -> short names, from each storage.go's ShortNames()
SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "componentstatuses"): ("cs",),
    ("", "configmaps"): ("cm",),
    ("", "endpoints"): ("ep",),
    ("", "events"): ("ev",),
    ("", "limitranges"): ("limits",),
    ("", "namespaces"): ("ns",),
    ("", "nodes"): ("no",),
    ("", "persistentvolumeclaims"): ("pvc",),
    ("", "persistentvolumes"): ("pv",),
    ("", "pods"): ("po",),
    ("", "replicationcontrollers"): ("rc",),
    ("", "resourcequotas"): ("quota",),
    ("", "serviceaccounts"): ("sa",),
    ("", "services"): ("svc",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
    ("apps", "daemonsets"): ("ds",),
    ("apps", "deployments"): ("deploy",),
    ("apps", "replicasets"): ("rs",),
    ("apps", "statefulsets"): ("sts",),
    ("autoscaling", "horizontalpodautoscalers"): ("hpa",),
    ("batch", "cronjobs"): ("cj",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("csr",),
    ("events.k8s.io", "events"): ("ev",),
    ("networking.k8s.io", "ingresses"): ("ing",),
    ("networking.k8s.io", "ipaddresses"): ("ip",),
    ("networking.k8s.io", "networkpolicies"): ("netpol",),
    ("policy", "poddisruptionbudgets"): ("pdb",),
    ("scheduling.k8s.io", "priorityclasses"): ("pc",),
    ("storage.k8s.io", "storageclasses"): ("sc",),
}

# (group, plural) -> categories, from each storage.go's Categories()
CATEGORIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("all",),
    ("", "replicationcontrollers"): ("all",),
    ("", "services"): ("all",),
    ("apps", "daemonsets"): ("all",),
    ("apps", "deployments"): ("all",),
    ("apps", "replicasets"): ("all",),
    ("apps", "statefulsets"): ("all",),
    ("autoscaling", "horizontalpodautoscalers"): ("all",),
    ("batch", "cronjobs"): ("all",),
    ("batch", "jobs"): ("all",),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): ("api-extensions",),
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): ("api-extensions",),
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): ("api-extensions",),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): ("api-extensions",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("api-extensions",),
    ("apiregistration.k8s.io", "apiservices"): ("api-extensions",),
}

# lightkube's verb names -> Kubernetes' (global_list/global_watch are its list across namespaces)
_VERBS = {"post": "create", "put": "update", "global_list": "list", "global_watch": "watch"}
_GA = re.compile(r"^v\d+$")


@dataclass(frozen=True)
class SubresourceInfo:
    name: str
    group: str  # of the kind the subresource answers with (Scale: autoscaling/v1)
    version: str
    kind: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class KindInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...]
    subresources: tuple[SubresourceInfo, ...]


def _verbs(raw: list[str]) -> tuple[str, ...]:
    return tuple(sorted({_VERBS.get(v, v) for v in raw}))


def _resources_dir() -> Path:
    spec = importlib.util.find_spec("lightkube")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("lightkube-models is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "resources"
        if path.is_dir():
            return path
    raise RuntimeError("lightkube-models is not installed (no lightkube/resources)")


def _api_info(node: ast.ClassDef) -> dict[str, Any] | None:
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == "_api_info"
            and isinstance(statement.value, ast.Call)
        ):
            info: dict[str, Any] = {}
            for keyword in statement.value.keywords:
                value = keyword.value
                if isinstance(value, ast.Call):  # res.ResourceDef('apps', 'v1', 'Deployment')
                    info[str(keyword.arg)] = tuple(ast.literal_eval(a) for a in value.args)
                else:
                    info[str(keyword.arg)] = ast.literal_eval(value)
            return info
    return None


def load_kinds() -> list[KindInfo]:
    """Every GA kind of the 1.33 API with its subresources, in a stable order (core first)."""
    mains: dict[tuple[str, str, str], dict[str, Any]] = {}
    subs: dict[tuple[str, str, str], list[SubresourceInfo]] = {}
    for file in sorted(_resources_dir().glob("*.py")):
        if file.name.startswith("_"):
            continue
        for node in ast.parse(file.read_text()).body:
            if not isinstance(node, ast.ClassDef) or not node.bases:
                continue
            info = _api_info(node)
            if info is None:
                continue
            base = ast.unparse(node.bases[0])
            group, version, kind = info["resource"]
            verbs = list(info["verbs"])
            if "parent" in info:
                p_group, p_version, p_kind = info["parent"]
                if not _GA.match(p_version):
                    continue
                subs.setdefault((p_group, p_version, p_kind), []).append(
                    SubresourceInfo(str(info["action"]), group, version, kind, _verbs(verbs))
                )
            elif _GA.match(version):
                mains[(group, version, kind)] = {
                    "plural": info["plural"],
                    "namespaced": base.startswith("res.Namespaced"),
                    "verbs": _verbs(verbs),
                }
    kinds = [
        KindInfo(
            group,
            version,
            kind,
            str(main["plural"]),
            bool(main["namespaced"]),
            main["verbs"],
            tuple(sorted(subs.get((group, version, kind), []), key=lambda s: s.name)),
        )
        for (group, version, kind), main in mains.items()
    ]
    return sorted(kinds, key=lambda k: (k.group != "", k.group, k.version, k.plural))
