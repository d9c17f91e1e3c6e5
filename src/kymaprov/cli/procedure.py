"""``kymaprov up`` and ``kymaprov down``: the documented procedure, and its reverse, in one command each.

``up`` = find or provision the environment by name, wait until OK, bind, write the kubeconfig, and
prove it works with a real Kubernetes API call. ``down`` = revoke the bindings, deprovision, wait.
"""

from __future__ import annotations

import contextlib
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from kymaprov.cli.bindings import EXPIRATION, default_state_path, kubeconfig_file_option, write_kubeconfig
from kymaprov.cli.common import (
    Session,
    create_environment,
    parse_parameters,
    pass_session,
    resolve_environment,
    wait_deleted,
    wait_options,
    wait_ready,
    when,
)
from kymaprov.client import Environment, ProvisioningClient
from kymaprov.client.exceptions import GoneError, NotFoundError, OperationFailed
from kymaprov.client.exec_credential import RotatingCredential
from kymaprov.client.files import check_replaceable
from kymaprov.client.kubeconfig import KubeconfigError, binding_id_of, check_access, parse_kubeconfig
from kymaprov.client.models import Binding, BindingMetadata

# a binding in the kubeconfig file is reused while it has at least this long to live
REUSE_MARGIN = timedelta(minutes=5)


@click.command()
@click.argument("name")
@click.option("--plan", help="Kyma plan when it must be created.  [default: aws]")
@click.option("--region", help="Region when it must be created (default: the plan's first).")
@click.option(
    "--user",
    envvar="KYMAPROV_USER",
    help="User the environment is created for (needed with client credentials).",
)
@click.option(
    "--parameters", "parameters_text", metavar="JSON", help="More plan parameters as a JSON object."
)
@kubeconfig_file_option
@click.option("--expiration", type=EXPIRATION, help="Binding lifetime in seconds, 600-7200.")
@click.option(
    "--exec", "use_exec", is_flag=True, help="Write a self-renewing kubeconfig (exec credential plugin)."
)
@wait_options
@pass_session
def up(
    session: Session,
    name: str,
    plan: str | None,
    region: str | None,
    user: str | None,
    parameters_text: str | None,
    path: Path,
    expiration: int | None,
    use_exec: bool,
    timeout: float,
    interval: float,
) -> None:
    """Make sure Kyma environment NAME exists and is ready, and write a working kubeconfig for it."""
    parameters = parse_parameters(parameters_text, None)
    check_replaceable(path)  # refuse a bad path before provisioning anything
    credentials = session.credentials()
    with ProvisioningClient(credentials) as client:
        env = client.find_environment(name)
        if env is None:
            plan = plan or "aws"
            env = create_environment(client, name, plan, region, user, parameters)
            click.echo(f"creating {name} ({env.id}) with plan {plan}", err=True)
        elif env.is_failed:
            raise OperationFailed(env.id, env.state, env.state_message, environment=env)
        else:
            _check_same(env, plan, region)
            click.echo(f"found {name} ({env.id}): {env.state}", err=True)
        env = wait_ready(client, env, timeout, interval)
        previous = None if use_exec else _binding_in(path, client, env.id)
        if isinstance(previous, Binding) and expiration is None and _lasts(previous):
            click.echo(f"reusing binding {previous.id} from {path}", err=True)
            written, expires_at = path, previous.expires_at
            info = parse_kubeconfig(path.read_text())
        else:
            written, binding = write_kubeconfig(client, credentials, env, path, expiration, use_exec)
            expires_at, info = binding.expires_at, parse_kubeconfig(binding.kubeconfig)
            if previous is not None:  # replaced: one binding per kubeconfig file, never a pile-up
                old_id = previous.id
                with contextlib.suppress(NotFoundError, GoneError):
                    client.delete_binding(env.id, old_id)
                click.echo(f"revoked binding {old_id}, which {path} held before", err=True)
    pods = check_access(info)
    renewal = "renewed automatically" if use_exec else f"valid until {when(expires_at)}"
    click.echo(f"checked access to {info.server}: {pods} pod(s) in namespace default", err=True)
    click.echo(f"wrote {written} ({renewal})", err=True)
    click.echo(f"export KUBECONFIG={shlex.quote(str(written))}")


def _check_same(env: Environment, plan: str | None, region: str | None) -> None:
    """A usage error if ``--plan``/``--region`` differ from what the existing environment has."""
    have = {"--plan": env.plan_name, "--region": env.parameters.get("region")}
    wanted = {"--plan": plan, "--region": region}
    differ = [f"{k} {v} (it has {have[k]})" for k, v in wanted.items() if v is not None and v != have[k]]
    if differ:
        raise click.UsageError(
            f"{env.display_name} exists with other settings: {', '.join(differ)}; "
            f"change them with 'kymaprov env update', or 'kymaprov down {env.display_name}' first"
        )


def _binding_in(path: Path, client: ProvisioningClient, env_id: str) -> Binding | BindingMetadata | None:
    """The binding of this environment that the kubeconfig at ``path`` holds, as the service sees it:
    a ``Binding`` while live, its metadata once expired, None if there is none (or it is gone)."""
    try:
        binding_id = binding_id_of(parse_kubeconfig(path.read_text()))
    except (OSError, UnicodeDecodeError, KubeconfigError):
        return None
    if binding_id is None:
        return None
    try:
        return client.get_binding(env_id, binding_id)
    except NotFoundError:
        return None


def _lasts(binding: Binding | BindingMetadata | None) -> bool:
    """Live, and not about to expire: worth keeping rather than replacing."""
    return (
        isinstance(binding, Binding)
        and binding.expires_at is not None
        and binding.expires_at - datetime.now(UTC) > REUSE_MARGIN
    )


@click.command()
@click.argument("name")
@click.option(
    "-f",
    "--kubeconfig",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A kubeconfig written by 'up' to remove as well.",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the environment is gone.")
@wait_options
@pass_session
def down(session: Session, name: str, path: Path | None, wait: bool, timeout: float, interval: float) -> None:
    """Revoke the bindings of Kyma environment NAME and deprovision it."""
    credentials = session.credentials()
    with ProvisioningClient(credentials) as client:
        try:
            env = resolve_environment(client, name)
        except NotFoundError:
            click.echo(f"{name} does not exist; nothing to do", err=True)
            return
        state = default_state_path(credentials, env.id)
        revoked = RotatingCredential(state).revoke_all() if state.exists() else 0
        for item in client.list_bindings(env.id):
            try:
                client.delete_binding(env.id, item.id)
                revoked += 1
            except (NotFoundError, GoneError):
                pass  # gone already, or expired (the 410 drops its metadata)
        click.echo(f"revoked {revoked} binding(s)", err=True)
        if env.state != "DELETING":
            client.delete_environment(env.id)
        click.echo(f"deleting {env.display_name} ({env.id})", err=True)
        if wait:
            wait_deleted(client, env, timeout, interval)
    if path is not None:
        path.unlink(missing_ok=True)
