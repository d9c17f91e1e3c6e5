"""SAP's btp-operator for the runtimes: ``ServiceInstance`` and ``ServiceBinding``
(``services.cloud.sap.com/v1``) become service instances and bindings of the environment's subaccount.

It works as the real operator (SAP/sap-btp-service-operator) does, from outside the service: it reads
each runtime through its Kubernetes API (``KubeClient``) and calls the service over HTTP with the
credentials the runtime holds in ``kyma-system/sap-btp-manager`` (``clientid``, ``clientsecret``,
``tokenurl``, ``sm_url``): a client-credentials token from ``<tokenurl>/oauth/token``, then the cis
instance and binding routes of the token's subaccount. It imports nothing of the service or of the
embedded API server, so it would run the same against a real cluster.

- A resource gets the finalizer ``services.cloud.sap.com/sap-btp-finalizer`` first; then the instance
  (named ``spec.externalName`` or the resource's name) or binding is created, and ``status`` says so as
  the real operator's does: ``instanceID``/``bindingID``, ``subaccountID``, ``ready``, and the
  conditions ``Succeeded`` (``Created``/``CreateFailed``/``CreateInProgress``...) and ``Ready``
  (``Provisioned``/``NotProvisioned``). A refused create (unknown offering or plan, a name taken) is
  ``CreateFailed`` for that generation and not retried until the spec changes.
- A binding waits for its instance to be ready, then writes the credentials into the Secret
  ``spec.secretName`` (default: the binding's name), owned by the binding: each top-level credential
  key becomes a key (objects as JSON), plus ``instance_name``, ``instance_guid``, ``plan``, ``label``,
  ``type`` and ``.metadata``, as the operator's ``NormalizeCredentials`` does. A deleted Secret is
  written again.
- Deleting a resource deletes the binding (and its Secret) or instance in the service (an instance
  with bindings waits for them), then removes the finalizer.

Runs in one thread: woken for a runtime by ``notify`` (the service wires it to the API server's write
notifications; only writes to the kinds it watches, ``WATCHED``, count, as for the real operator's
informers; at most one pass per ``min_interval``), again after ``retry_seconds`` while something
is pending, and for the runtimes whose resourceVersion moved since it last looked (``versions``,
asked every ``resync_seconds``: writes made by other replicas). An idle runtime costs nothing but its
row in that one query.

Every replica runs it, as every pod of the real operator's Deployment does, and as there only one acts
in a runtime at a time: the holder of the Lease ``kyma-system/aa689ecc.cloud.sap.com``
(``leaderelection``), asked for just before a change. Without it two replicas could both create an
instance, and the slower one mark it ``CreateFailed`` (its name was taken, by the other).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from kymaprov.backends.base import ClusterAccess
from kymaprov.backends.kubeclient import KubeClient, KubeClientError, KubeClients
from kymaprov.leaderelection import Election

log = logging.getLogger("kymaprov.btpoperator")

GROUP_VERSION = "services.cloud.sap.com/v1"
INSTANCES = f"/apis/{GROUP_VERSION}/serviceinstances"
BINDINGS = f"/apis/{GROUP_VERSION}/servicebindings"
FINALIZER = "services.cloud.sap.com/sap-btp-finalizer"
MANAGED_LABEL = "services.cloud.sap.com/managed-by-sap-btp-operator"
CREDENTIALS_SECRET = "/api/v1/namespaces/kyma-system/secrets/sap-btp-manager"
# the real operator's leader election: controller-runtime's Lease in its release namespace
LEASE_NAMESPACE, LEASE_NAME = "kyma-system", "aa689ecc.cloud.sap.com"
# what the operator watches, as its informers do: a write to anything else does not wake it
WATCHED = frozenset(
    {
        ("services.cloud.sap.com", "serviceinstances"),
        ("services.cloud.sap.com", "servicebindings"),
        ("", "secrets"),
    }
)


class ServiceError(Exception):
    """The service refused a call: HTTP status (0: not reached) and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @property
    def final(self) -> bool:
        """A refusal that repeating the same request cannot change (bad input, name taken)."""
        return self.status in (400, 404, 409, 422)


class ServiceManager:
    """The service's instance and binding API, with the runtime's operator credentials."""

    def __init__(self, credentials: dict[str, str], timeout: float = 10.0) -> None:
        self.credentials = credentials
        self._http = httpx.Client(timeout=timeout)
        self._token = ""
        self.subaccount = ""

    def close(self) -> None:
        self._http.close()

    def _fetch_token(self) -> None:
        c = self.credentials
        try:
            r = self._http.post(
                f"{c['tokenurl'].rstrip('/')}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(c["clientid"], c["clientsecret"]),
            )
        except httpx.HTTPError as exc:
            raise ServiceError(0, f"{type(exc).__name__}: {exc}") from exc
        if r.status_code != 200:
            raise ServiceError(r.status_code, f"token request refused: {r.text[:200]}")
        self._token = str(r.json()["access_token"])
        claims = jwt.decode(self._token, options={"verify_signature": False})
        self.subaccount = str((claims.get("ext_attr") or {}).get("subaccountid") or "")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """``path`` under the subaccount; a token the service no longer accepts is fetched again once."""
        for attempt in (0, 1):
            if not self._token or attempt:
                self._fetch_token()
            url = f"{self.credentials['sm_url'].rstrip('/')}/cis/v1/subaccounts/{self.subaccount}{path}"
            try:
                r = self._http.request(
                    method, url, json=body, headers={"authorization": f"Bearer {self._token}"}
                )
            except httpx.HTTPError as exc:
                raise ServiceError(0, f"{type(exc).__name__}: {exc}") from exc
            if r.status_code == 401 and not attempt:
                continue
            if r.status_code >= 300:
                try:
                    message = str(r.json().get("error", r.text))
                except ValueError:
                    message = r.text
                raise ServiceError(r.status_code, message)
            return r.json() if r.content else {}
        raise ServiceError(401, "unauthorized")  # pragma: no cover - the loop returns or raises


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(kind: str, reason: str, ok: bool, message: str, generation: int) -> list[dict[str, Any]]:
    """``Succeeded`` for the last operation and ``Ready``, as the operator's condition utilities set them."""
    now = _now()
    ready = ok and reason in ("Created", "Updated")
    return [
        {
            "type": "Succeeded",
            "status": "True" if ok else "False",
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": now,
        },
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "Provisioned" if ready else "NotProvisioned",
            "message": message if ready else f"{kind} is not ready",
            "observedGeneration": generation,
            "lastTransitionTime": now,
        },
    ]


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = obj.get("metadata") or {}
    return meta


def _path(collection: str, obj: dict[str, Any], sub: str = "") -> str:
    meta = _meta(obj)
    base = collection.replace(
        f"/apis/{GROUP_VERSION}/", f"/apis/{GROUP_VERSION}/namespaces/{meta['namespace']}/"
    )
    return f"{base}/{meta['name']}" + (f"/{sub}" if sub else "")


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("ready") == "True" and status.get("observedGeneration") == _meta(obj).get("generation")


def _failed_for_generation(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    if status.get("observedGeneration") != _meta(obj).get("generation"):
        return False
    return any(
        c.get("type") == "Succeeded" and c.get("reason") == "CreateFailed"
        for c in status.get("conditions") or []
    )


def secret_data(credentials: dict[str, Any], instance: dict[str, Any]) -> dict[str, str]:
    """The binding Secret's data (base64): the operator's ``NormalizeCredentials`` plus instance info."""
    values: dict[str, str] = {}
    properties = []
    for key, value in credentials.items():
        name = key.replace(" ", "_")
        text = value if isinstance(value, str) else json.dumps(value)
        values[name] = text
        properties.append({"name": name, "format": "text" if isinstance(value, str) else "json"})
    spec = instance.get("spec") or {}
    info = {
        "instance_name": str(spec.get("externalName") or _meta(instance)["name"]),
        "instance_guid": str((instance.get("status") or {}).get("instanceID", "")),
        "plan": str(spec.get("servicePlanName", "")),
        "label": str(spec.get("serviceOfferingName", "")),
        "type": str(spec.get("serviceOfferingName", "")),
    }
    values.update(info)
    values[".metadata"] = json.dumps(
        {
            "metaDataProperties": [{"name": k, "format": "text"} for k in info],
            "credentialProperties": properties,
        }
    )
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


class NotLeader(Exception):
    """Another replica's operator holds the runtime's Lease: this one must not act."""


class RuntimeOperator:
    """One pass over one runtime; ``pending`` says whether to come back soon. ``lead`` asks, before
    each change, whether this replica may act in the runtime (see ``leaderelection``)."""

    def __init__(
        self, kube: KubeClient, managers: dict[str, ServiceManager], lead: Callable[[], bool]
    ) -> None:
        self.kube = kube
        self.managers = managers
        self.pending = False
        self._lead = lead

    def _act(self) -> None:
        """Called once an object needs a change, before the first: objects that need none cost no
        Lease, so a settled runtime is never written to."""
        if not self._lead():
            raise NotLeader()

    def _manager(self) -> ServiceManager | None:
        try:
            secret = self.kube.get(CREDENTIALS_SECRET)
        except KubeClientError as exc:
            if exc.status != 404:
                self.pending = True
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        if not all(data.get(k) for k in ("clientid", "clientsecret", "sm_url", "tokenurl")):
            return None
        key = json.dumps(data, sort_keys=True)
        if key not in self.managers:
            self.managers[key] = ServiceManager(data)
        return self.managers[key]

    def _list(self, path: str) -> list[dict[str, Any]]:
        try:
            return self.kube.list(path)
        except KubeClientError as exc:
            if exc.status != 404:  # 404: the btp-operator module (its CRDs) is not installed
                self.pending = True
            return []

    def run(self) -> None:
        instances = self._list(INSTANCES)
        bindings = self._list(BINDINGS)
        if not instances and not bindings:
            return
        sm = self._manager()
        if sm is None:
            return
        by_name = {(_meta(i)["namespace"], _meta(i)["name"]): i for i in instances}
        secrets = {(_meta(s)["namespace"], _meta(s)["name"]) for s in self._list_secrets() if bindings}
        for binding in bindings:
            self._guard(self._binding, sm, binding, by_name, secrets)
        for instance in instances:
            self._guard(self._instance, sm, instance, bindings)

    def _list_secrets(self) -> list[dict[str, Any]]:
        try:
            return self.kube.list("/api/v1/secrets", f"{MANAGED_LABEL}=true")
        except KubeClientError:
            self.pending = True
            return []

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        """One object's reconcile; a conflict, an unreachable service or another replica's lead
        means trying again soon (the leader may be gone by then)."""
        try:
            fn(*args)
        except NotLeader:
            self.pending = True
        except (KubeClientError, ServiceError) as exc:
            log.info("btp-operator: will retry: %s", exc)
            self.pending = True

    def _add_finalizer(self, collection: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = _meta(obj)
        finalizers = list(meta.get("finalizers") or [])
        if FINALIZER in finalizers:
            return obj
        patch = {
            "metadata": {"finalizers": [*finalizers, FINALIZER], "resourceVersion": meta["resourceVersion"]}
        }
        return self.kube.merge_patch(_path(collection, obj), patch)

    def _remove_finalizer(self, collection: str, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        rest = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        patch = {"metadata": {"finalizers": rest or None, "resourceVersion": meta["resourceVersion"]}}
        self.kube.merge_patch(_path(collection, obj), patch)

    def _status(self, collection: str, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        updated = {**obj, "status": status}
        return self.kube.put(_path(collection, obj, "status"), updated)

    # --- instances ------------------------------------------------------------------------------

    def _instance(self, sm: ServiceManager, instance: dict[str, Any], bindings: list[dict[str, Any]]) -> None:
        meta = _meta(instance)
        status = dict(instance.get("status") or {})
        generation = int(meta.get("generation") or 1)
        if meta.get("deletionTimestamp"):
            if FINALIZER not in (meta.get("finalizers") or []):
                return
            self._act()
            if status.get("instanceID"):
                try:
                    sm.call("DELETE", f"/service_instances/{status['instanceID']}")
                except ServiceError as exc:
                    if exc.status != 404:
                        message = f"delete failed: {exc.message}"
                        if (status.get("conditions") or [{}])[0].get("message") != message:
                            status["conditions"] = _conditions(
                                "ServiceInstance", "DeleteFailed", False, message, generation
                            )
                            self._status(INSTANCES, instance, status)
                        self.pending = True
                        return
            self._remove_finalizer(INSTANCES, instance)
            return
        if _ready(instance) or _failed_for_generation(instance):
            return
        self._act()
        instance = self._add_finalizer(INSTANCES, instance)
        spec = instance.get("spec") or {}
        if status.get("instanceID"):  # created for an earlier generation: nothing to update here
            reason, ok, message = "Updated", True, "ServiceInstance updated successfully"
        else:
            try:
                created = sm.call(
                    "POST",
                    "/service_instances",
                    {
                        "name": spec.get("externalName") or meta["name"],
                        "offering_name": spec.get("serviceOfferingName"),
                        "plan_name": spec.get("servicePlanName"),
                        "parameters": spec.get("parameters") or {},
                    },
                )
            except ServiceError as exc:
                if not exc.final:
                    raise
                reason, ok, message = "CreateFailed", False, exc.message
            else:
                status["instanceID"] = created["id"]
                reason, ok, message = "Created", True, "ServiceInstance provisioned successfully"
        status.update(
            {
                "subaccountID": sm.subaccount,
                "ready": "True" if ok else "False",
                "observedGeneration": generation,
                "conditions": _conditions("ServiceInstance", reason, ok, message, generation),
            }
        )
        self._status(INSTANCES, instance, status)

    # --- bindings -------------------------------------------------------------------------------

    def _binding(
        self,
        sm: ServiceManager,
        binding: dict[str, Any],
        instances: dict[tuple[str, str], dict[str, Any]],
        secrets: set[tuple[str, str]],
    ) -> None:
        meta = _meta(binding)
        spec = binding.get("spec") or {}
        status = dict(binding.get("status") or {})
        generation = int(meta.get("generation") or 1)
        namespace = meta["namespace"]
        secret_name = str(spec.get("secretName") or meta["name"])
        secret_path = f"/api/v1/namespaces/{namespace}/secrets/{secret_name}"
        if meta.get("deletionTimestamp"):
            if FINALIZER not in (meta.get("finalizers") or []):
                return
            self._act()
            if status.get("bindingID"):
                try:
                    sm.call("DELETE", f"/service_bindings/{status['bindingID']}")
                except ServiceError as exc:
                    if exc.status != 404:
                        raise
            self.kube.delete(secret_path)
            self._remove_finalizer(BINDINGS, binding)
            return
        if _failed_for_generation(binding):
            return
        instance = instances.get(
            (str(spec.get("serviceInstanceNamespace") or namespace), str(spec.get("serviceInstanceName")))
        )
        if _ready(binding) and status.get("bindingID"):
            if (namespace, secret_name) not in secrets and instance is not None:
                self._act()
                credentials = sm.call("GET", f"/service_bindings/{status['bindingID']}")["credentials"]
                self._write_secret(binding, secret_name, credentials, instance)
            return
        waiting = instance is None or not _ready(instance)
        message = f"ServiceInstance {spec.get('serviceInstanceName')} is not ready"
        told = (status.get("conditions") or [{}])[0].get("message") == message
        if not (waiting and told and FINALIZER in (meta.get("finalizers") or [])):
            self._act()  # a binding that waits, and says so already, changes nothing: no Lease
        binding = self._add_finalizer(BINDINGS, binding)
        if waiting:
            if not told:
                status.update(
                    {
                        "ready": "False",
                        "conditions": _conditions(
                            "ServiceBinding", "CreateInProgress", False, message, generation
                        ),
                    }
                )
                self._status(BINDINGS, binding, status)
            self.pending = True
            return
        assert instance is not None  # not waiting
        try:
            created = sm.call(
                "POST",
                "/service_bindings",
                {
                    "name": spec.get("externalName") or meta["name"],
                    "service_instance_id": instance["status"]["instanceID"],
                },
            )
        except ServiceError as exc:
            if not exc.final:
                raise
            status.update(
                {
                    "ready": "False",
                    "observedGeneration": generation,
                    "conditions": _conditions(
                        "ServiceBinding", "CreateFailed", False, exc.message, generation
                    ),
                }
            )
            self._status(BINDINGS, binding, status)
            return
        self._write_secret(binding, secret_name, created["credentials"], instance)
        status.update(
            {
                "instanceID": instance["status"]["instanceID"],
                "bindingID": created["id"],
                "subaccountID": sm.subaccount,
                "ready": "True",
                "observedGeneration": generation,
                "conditions": _conditions(
                    "ServiceBinding", "Created", True, "ServiceBinding provisioned successfully", generation
                ),
            }
        )
        self._status(BINDINGS, binding, status)

    def _write_secret(
        self, binding: dict[str, Any], name: str, credentials: dict[str, Any], instance: dict[str, Any]
    ) -> None:
        meta = _meta(binding)
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {MANAGED_LABEL: "true"},
                "annotations": {"binding": meta["name"]},
                "ownerReferences": [
                    {
                        "apiVersion": GROUP_VERSION,
                        "kind": "ServiceBinding",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": secret_data(credentials, instance),
        }
        path = f"/api/v1/namespaces/{meta['namespace']}/secrets"
        try:
            self.kube.create(path, body, exist_ok=False)
        except KubeClientError as exc:
            if exc.status != 409:
                raise
            current = self.kube.get(f"{path}/{name}")
            if (_meta(current).get("annotations") or {}).get("binding") != meta["name"]:
                raise KubeClientError(409, f"the Secret {name} belongs to something else") from exc
            body["metadata"]["resourceVersion"] = _meta(current)["resourceVersion"]
            self.kube.put(f"{path}/{name}", body)


class BtpOperator:
    """The loop over the runtimes (``versions``: each runtime's resourceVersion), reached through
    ``access``."""

    def __init__(
        self,
        versions: Callable[[], dict[str, int]],
        access: Callable[[str], ClusterAccess | None],
        *,
        retry_seconds: float = 1.0,
        resync_seconds: float = 5.0,
        min_interval: float = 0.5,
    ) -> None:
        self._versions = versions
        self._seen: dict[str, int] = {}
        self._access = access
        self.retry_seconds = retry_seconds
        self.resync_seconds = resync_seconds
        self.min_interval = min_interval
        self._last: dict[str, float] = {}
        self._managers: dict[str, ServiceManager] = {}
        self._kube = KubeClients()  # one keep-alive client per runtime, not a TLS handshake per pass
        self.election = Election(LEASE_NAMESPACE, LEASE_NAME)  # one candidate per process
        self._cond = threading.Condition()
        self._dirty: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None

    def notify(self, cluster_id: str, kinds: frozenset[tuple[str, str]] | None = None) -> None:
        """A write to the runtime committed (called on the writer's thread, for every write);
        ``kinds``: the (group, resource)s it wrote, None when unknown."""
        if kinds is not None and kinds.isdisjoint(WATCHED):
            return
        with self._cond:
            if cluster_id in self._dirty or cluster_id in self._retry_at:
                return  # a pass is due already, and it reads the runtime after this write
            self._dirty.add(cluster_id)
            self._cond.notify_all()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="btp-operator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
        for manager in self._managers.values():
            manager.close()

    def _run(self) -> None:
        next_resync = 0.0
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = {c for c, at in self._retry_at.items() if at <= now}
                    if self._dirty or due or now >= next_resync:
                        break
                    self._cond.wait(max(min([next_resync, *self._retry_at.values()]) - now, 0.0))
                if self._stopping:
                    return
                todo = self._dirty | due
                self._dirty = set()
                for c in due:
                    del self._retry_at[c]
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + self.resync_seconds
                todo |= self._moved()
            for cluster_id in sorted(todo):
                if self._stopping:
                    return
                again = self._last.get(cluster_id, -self.min_interval) + self.min_interval
                if time.monotonic() < again:  # a burst of writes: one pass per interval, not per write
                    self._later(cluster_id, again)
                    continue
                self._last[cluster_id] = time.monotonic()
                if self.reconcile(cluster_id):
                    self._later(cluster_id, time.monotonic() + self.retry_seconds)

    def _later(self, cluster_id: str, at: float) -> None:
        with self._cond:
            self._retry_at[cluster_id] = min(at, self._retry_at.get(cluster_id, at))

    def _moved(self) -> set[str]:
        """The runtimes whose resourceVersion changed since the last look (all of them at first)."""
        try:
            current = self._versions()
        except Exception:
            log.exception("btp-operator: cannot read the runtimes' versions")
            return set()
        moved = {c for c, rv in current.items() if self._seen.get(c) != rv}
        self._seen = current
        return moved

    def reconcile(self, cluster_id: str) -> bool:
        """One pass over a runtime; whether something is pending."""
        try:
            access = self._access(cluster_id)
            if access is None:
                return False
            kube = self._kube.get(access)
            operator = RuntimeOperator(kube, self._managers, lambda: self.election.lead(kube, cluster_id))
            operator.run()
            return operator.pending
        except Exception:
            log.exception("btp-operator: a pass over runtime %s failed", cluster_id)
            return True
