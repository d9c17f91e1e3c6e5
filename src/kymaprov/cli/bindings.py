"""``kymaprov kubeconfig``, ``kymaprov bindings ...`` and the exec credential plugin."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import sys
import time
from pathlib import Path

import click

from kymaprov.cli.common import Session, emit, output_option, pass_session, resolve_environment, when
from kymaprov.client import Binding, ClientError, Credentials, Environment, ProvisioningClient
from kymaprov.client.exceptions import GoneError
from kymaprov.client.exec_credential import RotatingCredential
from kymaprov.client.files import check_replaceable, write_private
from kymaprov.client.kubeconfig import exec_kubeconfig

EXPIRATION = click.IntRange(600, 7200)


def default_state_path(credentials: Credentials, environment_id: str) -> Path:
    """Where the exec plugin keeps its binding for this service and environment."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    service = hashlib.sha256(credentials.provisioning_url.encode()).hexdigest()[:12]
    return Path(base) / "kymaprov" / "exec" / f"{service}-{environment_id}.json"


def exec_command(state_path: Path) -> tuple[str, list[str]]:
    """The plugin command kubectl runs: this Python and this package, wherever kubectl runs it from."""
    return sys.executable, ["-m", "kymaprov", "exec-credential", "--state", str(state_path)]


def write_kubeconfig(
    client: ProvisioningClient,
    credentials: Credentials,
    env: Environment,
    path: Path,
    expiration: int | None,
    use_exec: bool,
    state_path: Path | None = None,
) -> tuple[Path, Binding]:
    """Create a binding and write its kubeconfig (mode 0600), or an exec kubeconfig that renews itself.

    Both paths are checked before the binding is made, and a binding whose kubeconfig could not be
    written is deleted again: a mistake never costs one of the 10 bindings.
    """
    check_replaceable(path)
    state = (state_path or default_state_path(credentials, env.id)).expanduser().resolve()
    if use_exec:
        check_replaceable(state)
    requested_at = time.time()
    binding = client.create_binding(env.id, expiration)
    try:
        if not use_exec:
            return write_private(path, binding.kubeconfig), binding
        info = RotatingCredential.start(
            state, credentials, env.id, binding, expiration or 600, requested_at, client
        )
        command, args = exec_command(state)
        return write_private(path, exec_kubeconfig(info, command, args)), binding
    except ClientError:
        with contextlib.suppress(ClientError):
            client.delete_binding(env.id, binding.id)
        raise


kubeconfig_file_option = click.option(
    "-f",
    "--file",
    "--kubeconfig",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("kubeconfig.yaml"),
    show_default=True,
    help="Where to write the kubeconfig (mode 0600).",
)


@click.command()
@click.argument("environment")
@kubeconfig_file_option
@click.option(
    "--expiration", type=EXPIRATION, help="Binding lifetime in seconds, 600-7200 (service default 600)."
)
@click.option(
    "--exec",
    "use_exec",
    is_flag=True,
    help="Write a kubeconfig whose token kymaprov renews before it expires (exec credential plugin).",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --exec: the plugin's state file.  [default: ~/.local/state/kymaprov/exec/...]",
)
@pass_session
def kubeconfig(
    session: Session,
    environment: str,
    path: Path,
    expiration: int | None,
    use_exec: bool,
    state_path: Path | None,
) -> None:
    """Create a binding for ENVIRONMENT (name or id) and write its kubeconfig."""
    credentials = session.credentials()
    with ProvisioningClient(credentials) as client:
        env = resolve_environment(client, environment)
        written, binding = write_kubeconfig(client, credentials, env, path, expiration, use_exec, state_path)
    renewal = "renewed automatically" if use_exec else f"expires {when(binding.expires_at)}"
    click.echo(f"wrote {written} (binding {binding.id}, {renewal})", err=True)
    click.echo(f"export KUBECONFIG={shlex.quote(str(written))}")


@click.group()
def bindings() -> None:
    """Kyma bindings (kubeconfigs) of an environment: list, get, revoke."""


BINDING_COLUMNS = ("ID", "CREATED BY", "CREATED", "EXPIRES")


@bindings.command("list")
@click.argument("environment")
@output_option
@pass_session
def list_bindings(session: Session, environment: str, output: str) -> None:
    """List the bindings of ENVIRONMENT (name or id)."""
    with session.client() as client:
        env = resolve_environment(client, environment)
        items = client.list_bindings(env.id)
    rows = [[b.id, b.created_by, when(b.created_date), when(b.expires_at)] for b in items]
    emit(output, [b.raw for b in items], BINDING_COLUMNS, rows)


@bindings.command("get")
@click.argument("environment")
@click.argument("binding_id")
@output_option
@pass_session
def get_binding(session: Session, environment: str, binding_id: str, output: str) -> None:
    """Show a binding; json and yaml include the kubeconfig while it is live."""
    with session.client() as client:
        env = resolve_environment(client, environment)
        item = client.get_binding(env.id, binding_id)
    if isinstance(item, Binding):
        rows = [["id", item.id], ["state", "live"], ["expires", when(item.expires_at)]]
    else:
        rows = [["id", item.id], ["state", "expired"], ["expires", when(item.expires_at)]]
    emit(output, item.raw, ("FIELD", "VALUE"), rows)


@bindings.command("revoke")
@click.argument("environment")
@click.argument("binding_id")
@pass_session
def revoke_binding(session: Session, environment: str, binding_id: str) -> None:
    """Delete a binding: its kubeconfig stops working at once."""
    with session.client() as client:
        env = resolve_environment(client, environment)
        try:
            client.delete_binding(env.id, binding_id)
        except GoneError:  # what revoking was for has happened: not a failure
            click.echo(f"{binding_id} had already expired; nothing to revoke", err=True)
            return
    click.echo(f"revoked {binding_id}", err=True)
