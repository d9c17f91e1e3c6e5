"""``kymaprov plans`` and ``kymaprov env ...``: what a subaccount may create, and its environments."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from kymaprov.cli.common import (
    ENVIRONMENT_COLUMNS,
    Session,
    abbreviate,
    create_environment,
    emit,
    environment_row,
    kyma_plan,
    kyma_plans,
    output_option,
    parse_parameters,
    pass_session,
    region_property,
    resolve_environment,
    wait_deleted,
    wait_options,
    wait_ready,
    when,
)
from kymaprov.client import Environment, ProvisioningClient

CREATE_ONLY = frozenset({"region", "networking", "modules", "colocateControlPlane"})


def updatable(client: ProvisioningClient, plan: str, current: dict[str, Any]) -> dict[str, Any]:
    """The ``current`` parameters the plan's update schema accepts."""
    available = kyma_plan(client, plan)
    allowed = (available.update_parameters_schema.get("properties") or {}).keys() if available else None
    if allowed:
        return {k: v for k, v in current.items() if k in allowed}
    return {k: v for k, v in current.items() if k not in CREATE_ONLY}


@click.command()
@output_option
@pass_session
def plans(session: Session, output: str) -> None:
    """List the Kyma plans and regions this subaccount may use."""
    with session.client() as client:
        available = kyma_plans(client)
    # regions are cut so the table fits 100 columns; -o json lists them all
    regions = {a.plan_name: [str(r) for r in region_property(a).get("enum") or []] for a in available}
    rows = [[a.plan_name, abbreviate(regions[a.plan_name], 44) or "-", a.description] for a in available]
    emit(output, [a.raw for a in available], ("PLAN", "REGIONS", "DESCRIPTION"), rows)


@click.group("env")
def env() -> None:
    """Kyma environments of the subaccount: list, get, create, update, delete."""


parameters_options = [
    click.option("--parameters", "parameters_text", metavar="JSON", help="Plan parameters as a JSON object."),
    click.option(
        "--parameters-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Plan parameters from a JSON file.",
    ),
]


def with_parameters(func: Any) -> Any:
    for option in reversed(parameters_options):
        func = option(func)
    return func


@env.command("list")
@output_option
@pass_session
def list_environments(session: Session, output: str) -> None:
    """List the subaccount's Kyma environments."""
    with session.client() as client:
        envs = [e for e in client.list_environments() if e.environment_type == "kyma"]
    emit(output, [e.raw for e in envs], ENVIRONMENT_COLUMNS, [environment_row(e) for e in envs])


@env.command("get")
@click.argument("environment")
@output_option
@pass_session
def get_environment(session: Session, environment: str, output: str) -> None:
    """Show one environment, by name or id."""
    with session.client() as client:
        e = resolve_environment(client, environment)
    rows = [
        ["name", e.display_name],
        ["id", e.id],
        ["plan", e.plan_name],
        ["region", e.parameters.get("region", "")],
        ["state", e.state],
        ["message", e.state_message],
        ["operation", e.operation],
        ["created", when(e.created)],
        ["modified", when(e.modified)],
        ["api server", e.api_server_url or ""],
        ["kubeconfig url", e.kubeconfig_url or ""],
    ]
    emit(output, e.raw, ("FIELD", "VALUE"), rows)


@env.command("create")
@click.argument("name")
@click.option("--plan", required=True, help="Kyma plan, e.g. aws (see 'kymaprov plans').")
@click.option("--region", help="Region of the plan (default: the plan's first).")
@click.option(
    "--user",
    envvar="KYMAPROV_USER",
    help="User the environment is created for (needed with client credentials).",
)
@with_parameters
@click.option("--wait/--no-wait", default=False, help="Wait until the environment is OK.")
@wait_options
@output_option
@pass_session
def create(
    session: Session,
    name: str,
    plan: str,
    region: str | None,
    user: str | None,
    parameters_text: str | None,
    parameters_file: Path | None,
    wait: bool,
    timeout: float,
    interval: float,
    output: str,
) -> None:
    """Provision a Kyma environment NAME."""
    parameters = parse_parameters(parameters_text, parameters_file)
    with session.client() as client:
        e = create_environment(client, name, plan, region, user, parameters)
        click.echo(f"creating {name} ({e.id})", err=True)
        if wait:
            e = wait_ready(client, e, timeout, interval)
    emit(output, e.raw, ENVIRONMENT_COLUMNS, [environment_row(e)])


@env.command("update")
@click.argument("environment")
@click.option("--plan", help="New plan (default: the current one).")
@with_parameters
@click.option("--wait/--no-wait", default=False, help="Wait until the update is done.")
@wait_options
@pass_session
def update_environment(
    session: Session,
    environment: str,
    plan: str | None,
    parameters_text: str | None,
    parameters_file: Path | None,
    wait: bool,
    timeout: float,
    interval: float,
) -> None:
    """Update an environment: the given parameters are merged into its current ones."""
    parameters = parse_parameters(parameters_text, parameters_file)
    if not parameters and plan is None:
        raise click.UsageError("nothing to update: give --parameters, --parameters-file or --plan")
    with session.client() as client:
        e = resolve_environment(client, environment)
        # the service stores exactly what an update sends (crossplane relies on it), so the current
        # parameters go along, except those the update schema does not take (fixed at creation)
        keep = updatable(client, plan or e.plan_name, e.parameters)
        client.update_environment(e.id, plan or e.plan_name, {**keep, **parameters})
        click.echo(f"updating {e.display_name} ({e.id})", err=True)
        if wait:
            wait_update_started(client, e, timeout, interval)
            wait_ready(client, e, timeout, interval)


def wait_update_started(client: ProvisioningClient, e: Environment, timeout: float, interval: float) -> None:
    """Until the service shows the update (a state other than OK, or a new modifiedDate).

    A service may still answer the old ``OK`` just after accepting a PATCH; waiting for ``OK`` then
    would end before the update began.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = client.get_environment(e.id)
        if now.state != "OK" or now.modified != e.modified:
            return
        time.sleep(min(interval, 1.0))


@env.command("delete")
@click.argument("environment")
@click.option("--wait/--no-wait", default=False, help="Wait until the environment is gone.")
@wait_options
@pass_session
def delete_environment(
    session: Session, environment: str, wait: bool, timeout: float, interval: float
) -> None:
    """Deprovision an environment, by name or id."""
    with session.client() as client:
        e = resolve_environment(client, environment)
        client.delete_environment(e.id)
        click.echo(f"deleting {e.display_name} ({e.id})", err=True)
        if wait:
            wait_deleted(client, e, timeout, interval)
