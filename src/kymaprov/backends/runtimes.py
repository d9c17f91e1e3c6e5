"""Which backend runs each plan's runtimes: the ``--runtimes-config`` file and the router it builds.

The file (YAML) names backends and maps plans to them; plans it does not name use ``default``
(``embedded`` unless it says otherwise)::

    default: embedded
    plans: {aws: lab}
    backends:
      lab:
        type: pool
        cleanNamespaces: true
        clusters:
          - {name: kind-1, kubeconfig: ~/.kube/kind-1.yaml}
          - {name: kind-2, kubeconfig: ~/.kube/config, context: kind-kind-2}

The router records which backend made each cluster (``runtime_backends``), so a cluster stays with
its backend when the file later maps its plan elsewhere, and every replica routes it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import sqlalchemy as sa
import yaml

from kymaprov.backends import clusterapi, gardener
from kymaprov.backends.base import ClusterAccess, ClusterShape, Progress, RuntimeBackend
from kymaprov.backends.kubeconfig import KubeconfigError, load_access
from kymaprov.backends.pool import PoolMember, PoolRuntimes
from kymaprov.context import Context
from kymaprov.store import metadata

EMBEDDED = "embedded"

runtime_backends = sa.Table(
    "runtime_backends",
    metadata,
    sa.Column("cluster_id", sa.String(64), primary_key=True),
    sa.Column("backend", sa.String(64), nullable=False),
)

_NAME = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "default": _NAME,
        "plans": {"type": "object", "additionalProperties": _NAME},
        "backends": {
            "type": "object",
            "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["pool", "gardener", "cluster-api"]}},
                "allOf": [
                    {"if": {"properties": {"type": {"const": "cluster-api"}}}, "then": clusterapi.SCHEMA},
                    {
                        "if": {"properties": {"type": {"const": "pool"}}},
                        "then": {
                            "additionalProperties": False,
                            "required": ["clusters"],
                            "properties": {
                                "type": {},
                                "cleanNamespaces": {"type": "boolean"},
                                "clusters": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["name", "kubeconfig"],
                                        "properties": {
                                            "name": _NAME,
                                            "kubeconfig": {"type": "string", "minLength": 1},
                                            "context": {"type": "string", "minLength": 1},
                                        },
                                    },
                                },
                            },
                        },
                    },
                    {"if": {"properties": {"type": {"const": "gardener"}}}, "then": gardener.SCHEMA},
                ],
            },
        },
    },
}


class RuntimesConfigError(ValueError):
    """The file is unusable; the message is one line naming the file and the place in it."""


@dataclass(frozen=True)
class PoolSpec:
    members: list[PoolMember]
    clean_namespaces: bool


@dataclass(frozen=True)
class RuntimesConfig:
    default: str = EMBEDDED
    plans: dict[str, str] = field(default_factory=dict)
    pools: dict[str, PoolSpec] = field(default_factory=dict)
    cluster_api: dict[str, clusterapi.ClusterApiConfig] = field(default_factory=dict)
    gardeners: dict[str, gardener.GardenerSpec] = field(default_factory=dict)


def _where(error: jsonschema.ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(top level)"


def load_runtimes_config(path: Path, known_plans: Iterable[str]) -> RuntimesConfig:
    """Read and check the file: its schema, backend and plan names, and every pool's kubeconfigs."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RuntimesConfigError(f"cannot read runtimes config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RuntimesConfigError(f"{path}: not YAML: {' '.join(str(exc).split())}") from None
    data = {} if data is None else data
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data))
    if error is not None:
        raise RuntimesConfigError(f"{path}: {_where(error)}: {error.message}")
    backends: dict[str, Any] = data.get("backends") or {}
    if EMBEDDED in backends:
        raise RuntimesConfigError(f"{path}: backends/{EMBEDDED}: the name is the built-in embedded backend's")
    names = {EMBEDDED, *backends}
    default = data.get("default", EMBEDDED)
    if default not in names:
        raise RuntimesConfigError(f"{path}: default: no backend named {default!r}")
    plans: dict[str, str] = data.get("plans") or {}
    known = set(known_plans)
    for plan, backend in plans.items():
        if plan not in known:
            listed = ", ".join(sorted(known))
            raise RuntimesConfigError(f"{path}: plans/{plan}: no such plan (plans: {listed})")
        if backend not in names:
            raise RuntimesConfigError(f"{path}: plans/{plan}: no backend named {backend!r}")
    pools, gardeners, cluster_api = {}, {}, {}
    for name, spec in backends.items():
        if spec["type"] == "gardener":
            gardeners[name] = _gardener(path, name, spec)
            continue
        if spec["type"] == "cluster-api":
            cluster_api[name] = _cluster_api(
                path, name, spec, known, {p for p in known if plans.get(p, default) == name}
            )
            continue
        members, seen = [], set()
        for i, cluster in enumerate(spec["clusters"]):
            if cluster["name"] in seen:
                where = f"backends/{name}/clusters/{i}"
                raise RuntimesConfigError(f"{path}: {where}: name {cluster['name']!r} repeats")
            seen.add(cluster["name"])
            kubeconfig = (path.parent / Path(cluster["kubeconfig"]).expanduser()).resolve()
            try:
                access = load_access(kubeconfig, cluster.get("context"))
            except KubeconfigError as exc:
                raise RuntimesConfigError(f"{path}: backends/{name}/clusters/{i}: {exc}") from None
            members.append(PoolMember(cluster["name"], access))
        pools[name] = PoolSpec(members, bool(spec.get("cleanNamespaces", False)))
    return RuntimesConfig(
        default=default, plans=plans, pools=pools, gardeners=gardeners, cluster_api=cluster_api
    )


def _gardener(path: Path, name: str, spec: dict[str, Any]) -> gardener.GardenerSpec:
    try:
        return gardener.load_spec(spec, path.parent)
    except KubeconfigError as exc:
        raise RuntimesConfigError(f"{path}: backends/{name}: {exc}") from None


def _cluster_api(
    path: Path, name: str, spec: dict[str, Any], known: set[str], served: set[str]
) -> clusterapi.ClusterApiConfig:
    """A ``cluster-api`` backend's management cluster and the ClusterClass of each plan it serves."""
    for plan in spec.get("plans") or {}:
        if plan not in known:
            raise RuntimesConfigError(f"{path}: backends/{name}/plans/{plan}: no such plan")
    kubeconfig = (path.parent / Path(spec["kubeconfig"]).expanduser()).resolve()
    try:
        management = load_access(kubeconfig, spec.get("context"))
        settings = clusterapi.class_settings(spec, sorted({*served, *(spec.get("plans") or {})}))
    except (KubeconfigError, ValueError) as exc:
        raise RuntimesConfigError(f"{path}: backends/{name}: {exc}") from None
    poll = float(spec.get("pollSeconds", 10.0))
    return clusterapi.ClusterApiConfig(management, spec["namespace"], settings, poll_seconds=poll)


class RuntimeRouter:
    """A ``RuntimeBackend`` that hands each cluster to the backend its plan names."""

    def __init__(self, ctx: Context, backends: dict[str, RuntimeBackend], config: RuntimesConfig) -> None:
        self.ctx = ctx
        self.backends = backends
        self.config = config

    @classmethod
    def build(cls, ctx: Context, embedded: RuntimeBackend, config: RuntimesConfig) -> RuntimeRouter:
        backends: dict[str, RuntimeBackend] = {EMBEDDED: embedded}
        for name, spec in config.pools.items():
            backends[name] = PoolRuntimes(ctx, name, spec.members, clean_namespaces=spec.clean_namespaces)
        for name, garden in config.gardeners.items():
            backends[name] = gardener.GardenerRuntimes(name, garden)
        for name, capi in config.cluster_api.items():
            backends[name] = clusterapi.ClusterApiRuntimes(name, capi)
        return cls(ctx, backends, config)

    def _recorded(self, cluster_id: str) -> str | None:
        with self.ctx.store.read() as conn:
            name = conn.execute(
                sa.select(runtime_backends.c.backend).where(runtime_backends.c.cluster_id == cluster_id)
            ).scalar()
        return None if name is None else str(name)

    def _of(self, cluster_id: str) -> RuntimeBackend:
        """The cluster's backend; clusters made before a configuration existed are the default's."""
        name = self._recorded(cluster_id) or self.config.default
        return self.backends.get(name) or self.backends[EMBEDDED]

    def create(self, cluster_id: str, name: str, shape: ClusterShape) -> Progress:
        if self._recorded(cluster_id) is None:
            chosen = self.config.plans.get(shape.plan, self.config.default)
            try:
                with self.ctx.store.write() as conn:
                    conn.execute(sa.insert(runtime_backends).values(cluster_id=cluster_id, backend=chosen))
            except sa.exc.IntegrityError:
                pass  # recorded concurrently: the recorded one wins
        return self._of(cluster_id).create(cluster_id, name, shape)

    def status(self, cluster_id: str) -> Progress:
        return self._of(cluster_id).status(cluster_id)

    def update(self, cluster_id: str, shape: ClusterShape) -> Progress:
        return self._of(cluster_id).update(cluster_id, shape)

    def delete(self, cluster_id: str) -> Progress:
        progress = self._of(cluster_id).delete(cluster_id)
        if progress.done:
            with self.ctx.store.write() as conn:
                conn.execute(sa.delete(runtime_backends).where(runtime_backends.c.cluster_id == cluster_id))
        return progress

    def access(self, cluster_id: str) -> ClusterAccess | None:
        return self._of(cluster_id).access(cluster_id)

    def reset(self) -> None:
        for backend in self.backends.values():
            backend.reset()
        with self.ctx.store.write() as conn:
            conn.execute(sa.delete(runtime_backends))
