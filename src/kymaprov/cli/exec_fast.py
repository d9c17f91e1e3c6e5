"""``kymaprov exec-credential``: kubectl starts it for every command, so the common case is made cheap.

The common case: the state's binding is current by the local clock and the cached Provisioning API
token is fresh. Then one GET with the standard library asks the service whether the binding is still
live (revocation and the service's clock still decide) and the stored token is printed, without loading
the SDK, httpx or the CLI's other modules (~400 ms of start-up). Anything else (rotation due, bindings
to delete, an unreadable state, any answer but a live binding) goes to ``RotatingCredential``, which
reads the same state file (``kymaprov.client.exec_credential.ExecState``).
"""

from __future__ import annotations

import importlib
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

EXEC_API_VERSION = "client.authentication.k8s.io/v1"  # as kymaprov.client.kubeconfig says


def cached_credential(state_path: Path, now: float) -> dict[str, Any] | None:
    """The ``ExecCredential`` of the state's live binding; None when the full client must decide."""
    try:
        state = json.loads(state_path.read_text())
        token, refresh_at, api = state["token"], float(state["refresh_at"]), state["api_token"]
        if state["superseded"] or not token or now >= refresh_at or now >= float(api["refresh_at"]):
            return None
        base = str(state["credentials"]["provisioning_url"]).rstrip("/")
        env_id, binding_id = quote(state["environment_id"], safe=""), quote(state["binding_id"], safe="")
        request = urllib.request.Request(
            f"{base}/provisioning/v1/environments/{env_id}/bindings/{binding_id}",
            headers={"authorization": f"Bearer {api['access_token']}", "accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # urllib's errors are OSErrors
        return None
    if not isinstance(body, dict) or not isinstance(body.get("credentials"), dict):
        return None  # expired by the service's clock: only metadata
    expires = datetime.fromtimestamp(refresh_at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expires},
    }


@click.command("exec-credential")
@click.option(
    "--state",
    "state_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Plugin state file.",
)
def exec_credential(state_path: Path) -> None:
    """kubectl's exec credential plugin: print an ExecCredential with a live binding's token."""
    answer = cached_credential(state_path, time.time())
    if answer is None:
        module = importlib.import_module("kymaprov.client.exec_credential")
        answer = module.RotatingCredential(state_path).exec_credential()
    click.echo(json.dumps(answer))
