"""DeleteOptions and the finalizers a delete sets, as kube-apiserver's generic registry does it.

``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``: a DELETE of an object with
finalizers (after the garbage collector's ``orphan``/``foregroundDeletion`` finalizer is added or
removed per ``propagationPolicy``) only marks it as deleting (``deletionTimestamp``,
``deletionGracePeriodSeconds: 0``, ``generation`` + 1) and answers the object; an update that removes
the last finalizer of such an object deletes it. Pods are deleted as kube deletes unscheduled pods
(grace period 0): there is no kubelet here to wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kymaprov.kubeapi.bodies import go_type
from kymaprov.kubeapi.errors import BadRequest, Invalid

ORPHAN = "orphan"  # metav1.FinalizerOrphanDependents
FOREGROUND = "foregroundDeletion"  # metav1.FinalizerDeleteDependents
NAMESPACE_FINALIZER = "kubernetes"  # the namespace controller's spec.finalizers entry
POLICIES = ("Foreground", "Background", "Orphan")


@dataclass(frozen=True)
class DeleteOptions:
    """The fields of ``meta/v1 DeleteOptions`` that change what a delete does."""

    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    grace_period_seconds: int | None = None
    preconditions: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def _unmarshal(value: Any, where: str, target: str) -> BadRequest:
    return BadRequest(
        f"json: cannot unmarshal {go_type(value)} into Go struct field {where} of type {target}"
    )


def parse(body: Any, query: dict[str, str]) -> DeleteOptions:
    """DeleteOptions from the request body (kubectl, client-go) or else from the query string."""
    if body is None:
        body = {}
        for key in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents", "dryRun"):
            if key in query:
                body[key] = query[key]
        if "gracePeriodSeconds" in body:
            try:
                body["gracePeriodSeconds"] = int(body["gracePeriodSeconds"])
            except ValueError as exc:
                raise BadRequest(
                    f'strconv.ParseInt: parsing "{body["gracePeriodSeconds"]}": invalid syntax'
                ) from exc
        if "orphanDependents" in body:
            body["orphanDependents"] = body["orphanDependents"] in ("1", "t", "T", "true", "TRUE", "True")
        if "dryRun" in body:
            body["dryRun"] = [body["dryRun"]]
    if not isinstance(body, dict):
        raise BadRequest(f"json: cannot unmarshal {go_type(body)} into Go value of type v1.DeleteOptions")
    policy = body.get("propagationPolicy")
    if policy is not None and not isinstance(policy, str):
        raise _unmarshal(policy, "DeleteOptions.propagationPolicy", "v1.DeletionPropagation")
    grace = body.get("gracePeriodSeconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        raise _unmarshal(grace, "DeleteOptions.gracePeriodSeconds", "int64")
    orphan = body.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise _unmarshal(orphan, "DeleteOptions.orphanDependents", "bool")
    dry_run = body.get("dryRun") or []
    if not isinstance(dry_run, list) or not all(isinstance(v, str) for v in dry_run):
        raise _unmarshal(dry_run, "DeleteOptions.dryRun", "[]string")
    pre = body.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise _unmarshal(pre, "DeleteOptions.preconditions", "v1.Preconditions")
    for key in ("uid", "resourceVersion"):
        if pre.get(key) is not None and not isinstance(pre[key], str):
            raise _unmarshal(pre[key], f"Preconditions.preconditions.{key}", "string")
    causes: list[tuple[str, str, str]] = []
    if orphan is not None and policy is not None:
        causes.append(
            ("propagationPolicy", "FieldValueInvalid",
             f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be both set')
        )  # fmt: skip
    elif policy is not None and policy not in POLICIES:
        causes.append(
            ("propagationPolicy", "FieldValueNotSupported",
             f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"')
        )  # fmt: skip
    for value in dry_run:
        if value != "All":
            causes.append(
                ("dryRun", "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: "All"')
            )
    if causes:
        raise Invalid("DeleteOptions", "meta.k8s.io", "", causes)
    return DeleteOptions(
        propagation_policy=policy,
        orphan_dependents=orphan,
        grace_period_seconds=grace,
        preconditions={k: v for k, v in pre.items() if isinstance(v, str)},
        dry_run=bool(dry_run),
    )


def _should_orphan(finalizers: list[str], options: DeleteOptions) -> bool:
    """``shouldOrphanDependents``: the options, else the finalizers already set, else no."""
    if options.orphan_dependents is not None:
        return options.orphan_dependents
    if options.propagation_policy is not None:
        return options.propagation_policy == "Orphan"
    for f in finalizers:
        if f in (ORPHAN, FOREGROUND):
            return f == ORPHAN
    return False


def _should_foreground(finalizers: list[str], options: DeleteOptions) -> bool:
    """``shouldDeleteDependents``."""
    if options.orphan_dependents is not None:
        return False
    if options.propagation_policy is not None:
        return options.propagation_policy == "Foreground"
    for f in finalizers:
        if f in (ORPHAN, FOREGROUND):
            return f == FOREGROUND
    return False


def gc_finalizers(finalizers: list[str], options: DeleteOptions) -> list[str]:
    """``deletionFinalizersForGarbageCollection``: the finalizers with ``orphan`` and
    ``foregroundDeletion`` set as the options ask; the same list when nothing changes."""
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if _should_orphan(finalizers, options):
        kept.append(ORPHAN)
    if _should_foreground(finalizers, options):
        kept.append(FOREGROUND)
    return finalizers if set(kept) == set(finalizers) else kept


def namespace_finalizers(finalizers: list[str], options: DeleteOptions) -> list[str]:
    """A namespace's first delete: ``orphan``/``foregroundDeletion`` only per explicit options
    (``shouldHaveOrphanFinalizer`` and ``shouldHaveDeleteDependentsFinalizer``)."""

    orphan, foreground = ORPHAN in finalizers, FOREGROUND in finalizers
    if options.orphan_dependents is not None:
        orphan, foreground = options.orphan_dependents, not options.orphan_dependents
    elif options.propagation_policy is not None:
        orphan = options.propagation_policy == "Orphan"
        foreground = options.propagation_policy == "Foreground"
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if orphan:
        kept.append(ORPHAN)
    if foreground:
        kept.append(FOREGROUND)
    return finalizers if set(kept) == set(finalizers) else kept


def new_finalizers_forbidden(new: list[str], old: list[str]) -> tuple[str, str, str] | None:
    """``ValidateNoNewFinalizers``: an object being deleted takes no new finalizers."""
    extra = sorted(set(new) - set(old))
    if not extra:
        return None
    listed = ", ".join(f'"{f}"' for f in extra)
    return (
        "metadata.finalizers",
        "FieldValueForbidden",
        f"Forbidden: no new finalizers can be added if the object is being deleted, "
        f"found new finalizers []string{{{listed}}}",
    )


def mark_deleting(obj: dict[str, Any], now_text: str) -> None:
    """``markAsDeleting``: deletionTimestamp (kept if set), grace period 0, generation + 1 once."""
    meta = obj["metadata"]
    if not meta.get("deletionTimestamp"):
        if int(meta.get("generation") or 0) > 0:
            meta["generation"] = int(meta["generation"]) + 1
        meta["deletionTimestamp"] = now_text
    meta["deletionGracePeriodSeconds"] = 0
