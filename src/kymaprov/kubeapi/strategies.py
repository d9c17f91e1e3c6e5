"""One strategy per kind, as ``pkg/registry/<group>/<kind>/strategy.go`` has in kube-apiserver.

The generic ``Strategy`` serves most kinds from their schema alone: names as DNS-1123 subdomains,
required fields, the status subresource (a main update keeps the stored status, a status update
keeps everything else), and ``metadata.generation`` bumped when anything but metadata and status
changes. Kinds with behaviour of their own subclass it; the object store asks ``strategy_for(rt)``
and never tests which kind it handles.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kymaprov.kubeapi import crds, defaults, deletion, disruption, pods, schemas, structural, validation
from kymaprov.kubeapi.cron import schedule_error
from kymaprov.kubeapi.deletion import DeleteOptions
from kymaprov.kubeapi.errors import BadRequest, Invalid
from kymaprov.kubeapi.pods import Connector
from kymaprov.kubeapi.resources import RBAC, SERVICE_ACCOUNTS, ResourceType
from kymaprov.kubeapi.validation import Cause

if TYPE_CHECKING:
    from kymaprov.kubeapi.objects import ObjectStore


class Strategy:
    """The default behaviour, driven by the registry entry and the kind's schema."""

    name_rule = "subdomain"
    keeps_spec = False  # a main update may not change spec (Namespace: spec.finalizers via /finalize)

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt

    # --- create and update ----------------------------------------------------------------------

    def decode(self, obj: dict[str, Any], check: schemas.FieldValidation) -> None:
        """Type-check and prune a request body in place (Go's decoder on the kind's type)."""
        rt = self.rt
        schemas.decode(rt.group, rt.version, rt.kind, obj, check)

    def default(self, obj: dict[str, Any], rv: int) -> None:
        """Fill defaults in place (the defaulters and admission of a real cluster)."""

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """A main update keeps the stored status when the kind has a status subresource."""
        if self.rt.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if self.keeps_spec:
            new["spec"] = old.get("spec", {})

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """A status update keeps everything but the status."""
        updated = copy.deepcopy(old)
        updated["status"] = new.get("status", {})
        return updated

    def controller_status(self, obj: dict[str, Any], old: dict[str, Any] | None, now_text: str) -> None:
        """The status a controller would write soon after (there are no controllers here)."""

    # --- validation -----------------------------------------------------------------------------

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return []

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return self.validate(obj)

    def check(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Raise ``Invalid`` (422) with every problem found, as the real validators aggregate them."""
        rt = self.rt
        name = obj["metadata"].get("name", "")
        causes: list[Cause] = []
        if not name:
            causes.append(
                ("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")
            )
        elif old is None:
            causes += validation.name_causes(self.name_rule, name)
        causes += schemas.required_causes(rt.group, rt.version, rt.kind, obj)
        kind_causes = self.validate(obj) if old is None else self.validate_update(obj, old)
        causes += [c for c in kind_causes if c not in causes]
        if causes:
            raise Invalid(rt.kind, rt.group, name, causes)

    # --- side effects ---------------------------------------------------------------------------

    def after_create(self, store: ObjectStore, obj: dict[str, Any]) -> None:
        """Objects a controller would make at once (a namespace's ``default`` ServiceAccount)."""

    def after_delete(self, store: ObjectStore, obj: dict[str, Any]) -> None:
        """What a delete leaves to do once the object is gone (nothing here: controllers act on it)."""

    # --- deletion -------------------------------------------------------------------------------

    def before_delete(
        self, obj: dict[str, Any], options: DeleteOptions, now_text: str
    ) -> dict[str, Any] | None:
        """A kind whose delete works otherwise (a namespace) answers the object to keep and store."""
        return None

    def delete_on_update(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """``ShouldDeleteDuringUpdate``: an update of an object being deleted that leaves no finalizer
        (and a grace period of 0) deletes it."""
        grace = old["metadata"].get("deletionGracePeriodSeconds")
        return not new["metadata"].get("finalizers") and (grace is None or grace == 0)

    def prepare_for_finalize(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The ``finalize`` subresource (namespaces only) changes nothing elsewhere."""
        return copy.deepcopy(old)

    def prepare_for_subresource(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """What an update through another subresource than ``status`` keeps of ``new``."""
        if sub == "finalize":
            return self.prepare_for_finalize(new, old)
        return copy.deepcopy(old)

    # --- connect subresources -------------------------------------------------------------------

    def connector(self, sub: str) -> Connector | None:
        """A subresource served by a function (a pod's ``log``, ``exec``, ``binding``), or None."""
        return None


class Namespaces(Strategy):
    name_rule = "label"
    keeps_spec = True

    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.namespace(obj, rv)

    def after_create(self, store: ObjectStore, obj: dict[str, Any]) -> None:
        # the ServiceAccount controller's job
        store.create(SERVICE_ACCOUNTS, obj["metadata"]["name"], {"metadata": {"name": "default"}})

    def before_delete(
        self, obj: dict[str, Any], options: DeleteOptions, now_text: str
    ) -> dict[str, Any] | None:
        """The namespace registry's Delete: the first delete makes the namespace Terminating (the
        namespace controller then empties it and removes the ``kubernetes`` finalizer through
        ``finalize``); later ones keep it while ``spec.finalizers`` is not empty."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp"):
            marked = copy.deepcopy(obj)
            marked["metadata"]["deletionTimestamp"] = now_text
            marked.setdefault("status", {})["phase"] = "Terminating"
            finalizers = list(meta.get("finalizers") or [])
            wanted = deletion.namespace_finalizers(finalizers, options)
            if wanted != finalizers:
                marked["metadata"]["finalizers"] = wanted
            if not marked["metadata"].get("finalizers"):
                marked["metadata"].pop("finalizers", None)
            return marked
        if (obj.get("spec") or {}).get("finalizers"):
            return obj
        return None

    def delete_on_update(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        return not (new.get("spec") or {}).get("finalizers") and super().delete_on_update(new, old)

    def prepare_for_finalize(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """``namespaces/<name>/finalize`` sets ``spec.finalizers``; nothing else changes."""
        updated = copy.deepcopy(old)
        finalizers = (new.get("spec") or {}).get("finalizers") or []
        updated.setdefault("spec", {})["finalizers"] = list(finalizers)
        return updated


class Pods(Strategy):
    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.pod(obj, rv)

    def before_delete(
        self, obj: dict[str, Any], options: DeleteOptions, now_text: str
    ) -> dict[str, Any] | None:
        return pods.graceful_delete(obj, options, now_text)

    def delete_on_update(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """A pod waiting for its kubelet (grace period left) is not deleted by an update."""
        return not new["metadata"].get("finalizers") and not old["metadata"].get("deletionGracePeriodSeconds")

    def prepare_for_subresource(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        if sub == "binding":
            return pods.keep_binding(new, old)
        return super().prepare_for_subresource(sub, new, old)

    def connector(self, sub: str) -> Connector | None:
        return pods.CONNECTORS.get(sub) or disruption.CONNECTORS.get(sub)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.containers(obj.get("spec"), "spec")


class Services(Strategy):
    name_rule = "dns1035"

    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.service(obj, rv)

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_for_update(new, old)
        defaults.keep_allocated(new, old)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        new_ip = (obj.get("spec") or {}).get("clusterIP")
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if old_ip and old_ip != "None" and new_ip != old_ip:
            return [
                (
                    "spec.clusterIPs[0]",
                    "FieldValueInvalid",
                    f'Invalid value: []string{{"{new_ip or ""}"}}: may not change once set',
                )
            ]
        return []


class Secrets(Strategy):
    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.secret(obj, rv)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.base64_data(obj)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        causes = self.validate(obj)
        if old.get("type", "Opaque") != obj.get("type", "Opaque"):
            causes.append(validation.immutable("type", f'"{obj.get("type")}"'))
        return causes + validation.immutable_data(obj, old, ("data",))


class ConfigMaps(Strategy):
    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return validation.immutable_data(obj, old, ("data", "binaryData"))


class Workloads(Strategy):
    """Deployments, ReplicaSets, StatefulSets, DaemonSets: a pod template and an immutable selector."""

    defaulter: Callable[[dict[str, Any], int], None] = staticmethod(defaults.daemon_set)

    def default(self, obj: dict[str, Any], rv: int) -> None:
        type(self).defaulter(obj, rv)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [("spec", "FieldValueRequired", "Required value")]
        return validation.pod_template(spec)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        causes = self.validate(obj)
        selector = (obj.get("spec") or {}).get("selector")
        if selector != (old.get("spec") or {}).get("selector"):  # apps/v1: the selector is immutable
            causes.append(validation.immutable("spec.selector", validation.label_selector_text(selector)))
        return causes


class Deployments(Workloads):
    defaulter = staticmethod(defaults.deployment)


class ReplicaSets(Workloads):
    defaulter = staticmethod(defaults.replica_set)


class StatefulSets(ReplicaSets):
    defaulter = staticmethod(defaults.stateful_set)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return super().validate_update(obj, old) + _stateful_set_update(obj, old)


_STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _stateful_set_update(obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    others = {k: v for k, v in spec.items() if k not in (*_STS_MUTABLE, "selector")}
    old_others = {k: v for k, v in old_spec.items() if k not in (*_STS_MUTABLE, "selector")}
    if others == old_others:
        return []
    return [
        (
            "spec",
            "FieldValueForbidden",
            "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
            "are forbidden",
        )
    ]


class Jobs(Strategy):
    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.job(obj, rv)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [("spec", "FieldValueRequired", "Required value")]
        template = spec.get("template")
        if not isinstance(template, dict):
            return [("spec.template", "FieldValueRequired", "Required value")]
        causes = validation.containers(template.get("spec"), "spec.template.spec")
        policy = (template.get("spec") or {}).get("restartPolicy")
        if policy not in (None, "Never", "OnFailure"):
            causes.append(
                (
                    "spec.template.spec.restartPolicy",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                )
            )
        return causes

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        causes = self.validate(obj)
        spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        if spec.get("selector") != old_spec.get("selector"):
            causes.append(
                validation.immutable("spec.selector", validation.label_selector_text(spec.get("selector")))
            )
        if spec.get("template") != old_spec.get("template"):
            causes.append(validation.immutable("spec.template", "core.PodTemplateSpec{...}"))
        if spec.get("completions") != old_spec.get("completions"):
            causes.append(validation.immutable("spec.completions", str(spec.get("completions"))))
        return causes


class CronJobs(Strategy):
    name_rule = "subdomain"

    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.cron_job(obj, rv)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        name = obj["metadata"].get("name", "")
        causes: list[Cause] = []
        if len(name) > 52:  # the Jobs it makes append 11 characters
            causes.append(
                (
                    "metadata.name",
                    "FieldValueInvalid",
                    f'Invalid value: "{name}": must be no more than 52 characters',
                )
            )
        schedule = (obj.get("spec") or {}).get("schedule")
        if schedule:
            problem = schedule_error(schedule)
            if problem is not None:
                causes.append(
                    ("spec.schedule", "FieldValueInvalid", f'Invalid value: "{schedule}": {problem}')
                )
        template = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        pod = (template.get("template") or {}).get("spec")
        return causes + validation.containers(pod, "spec.jobTemplate.spec.template.spec")


class PodTemplates(Strategy):
    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.containers((obj.get("template") or {}).get("spec"), "template.spec")


class Roles(Strategy):
    name_rule = "path"

    def default(self, obj: dict[str, Any], rv: int) -> None:
        defaults.role(obj, rv)


class RoleBindings(Strategy):
    name_rule = "path"

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return validation.role_binding(obj, None)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return validation.role_binding(obj, old)


class PersistentVolumeClaims(Strategy):
    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        spec, old_spec = dict(obj.get("spec") or {}), dict(old.get("spec") or {})
        for mutable in ("resources", "volumeAttributesClassName"):
            spec.pop(mutable, None)
            old_spec.pop(mutable, None)
        if old_spec.get("volumeName") is None:  # binding sets it once
            spec.pop("volumeName", None)
        if spec != old_spec:
            return [
                (
                    "spec",
                    "FieldValueForbidden",
                    "Forbidden: spec is immutable after creation except resources.requests and "
                    "volumeAttributesClassName for bound claims",
                )
            ]
        return []


class CustomResourceDefinitions(Strategy):
    """Validated as ``apiextensions-apiserver`` does; names accepted and established at once."""

    def default(self, obj: dict[str, Any], rv: int) -> None:
        crds.default(obj)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return crds.validate(obj, None)

    def validate_update(self, obj: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
        return crds.validate(obj, old)

    def controller_status(self, obj: dict[str, Any], old: dict[str, Any] | None, now_text: str) -> None:
        crds.controller_status(obj, old, now_text)

    def after_delete(self, store: ObjectStore, obj: dict[str, Any]) -> None:
        crds.delete_custom_resources(store, obj)


class CustomResources(Strategy):
    """A CRD's objects: decoded (pruned, defaulted) and validated by the version's structural schema."""

    def __init__(self, rt: ResourceType) -> None:
        super().__init__(rt)
        assert rt.custom is not None
        self.schema = rt.custom.schema

    def decode(self, obj: dict[str, Any], check: schemas.FieldValidation) -> None:
        rt = self.rt
        unknown: list[str] = []
        try:
            structural.prune_and_default(obj, self.schema, unknown)
        except schemas.TypeMismatch as exc:
            raise BadRequest(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {exc.message}'
            ) from exc
        schemas.report(rt.kind, rt.version, unknown, check)

    def validate(self, obj: dict[str, Any]) -> list[Cause]:
        return structural.validate(obj, self.schema)

    def controller_status(self, obj: dict[str, Any], old: dict[str, Any] | None, now_text: str) -> None:
        if old is None and self.rt.has_status:  # PrepareForCreate: the status subresource owns status
            obj.pop("status", None)

    def after_create(self, store: ObjectStore, obj: dict[str, Any]) -> None:
        crds.check_served(store, self.rt)


_BY_KIND: dict[tuple[str, str], type[Strategy]] = {
    ("", "namespaces"): Namespaces,
    ("", "pods"): Pods,
    ("", "services"): Services,
    ("", "secrets"): Secrets,
    ("", "configmaps"): ConfigMaps,
    ("", "podtemplates"): PodTemplates,
    ("", "persistentvolumeclaims"): PersistentVolumeClaims,
    ("apps", "deployments"): Deployments,
    ("apps", "replicasets"): ReplicaSets,
    ("apps", "statefulsets"): StatefulSets,
    ("apps", "daemonsets"): Workloads,
    ("batch", "jobs"): Jobs,
    ("batch", "cronjobs"): CronJobs,
    (RBAC, "roles"): Roles,
    (RBAC, "clusterroles"): Roles,
    (RBAC, "rolebindings"): RoleBindings,
    (RBAC, "clusterrolebindings"): RoleBindings,
    (crds.GROUP, "customresourcedefinitions"): CustomResourceDefinitions,
}

_STRATEGIES: dict[tuple[str, str, str], Strategy] = {}


def strategy_for(rt: ResourceType) -> Strategy:
    """The kind's strategy (one instance per built-in resource type)."""
    if rt.custom is not None:  # per runtime: another runtime's CRD of the same name may differ
        return CustomResources(rt)
    key = (rt.group, rt.version, rt.resource)
    strategy = _STRATEGIES.get(key)
    if strategy is None:
        strategy = _STRATEGIES[key] = _BY_KIND.get((rt.group, rt.resource), Strategy)(rt)
    return strategy
