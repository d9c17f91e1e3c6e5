"""What every client command shares: credentials, the client, output formats, progress and errors.

Errors: a ``ClientError`` ends the command with the server's message (and correlation id) on stderr
and the exception class's ``exit_code`` (see ``kymaprov.client.exceptions``); usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from kymaprov.client import (
    AvailableEnvironment,
    ClientError,
    Credentials,
    Environment,
    ProvisioningClient,
    resolve_credentials,
)
from kymaprov.client.exceptions import BadRequestError, NotFoundError, ProvisioningError
from kymaprov.client.files import read_text_file

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_FORMATS = ("table", "json", "yaml")


@contextmanager
def client_errors(ctx: click.Context) -> Iterator[None]:
    """An SDK error ends the command with its message on stderr and its exit code."""
    try:
        yield
    except ClientError as exc:
        report_error(exc)
        ctx.exit(exc.exit_code)


def report_error(exc: ClientError) -> None:
    click.echo(f"Error: {exc}", err=True)
    if isinstance(exc, ProvisioningError):
        if exc.target:
            click.echo(f"  target: {exc.target}", err=True)
        if exc.correlation_id:
            click.echo(f"  correlation id: {exc.correlation_id}", err=True)
    if exc.hint:
        click.echo(f"  next: {exc.hint}", err=True)


@dataclass
class Session:
    """Where the credentials come from, as the root options say; opens clients on demand."""

    service_key: Path | None
    profile: str | None
    profiles_file: Path | None

    def credentials(self) -> Credentials:
        return resolve_credentials(
            service_key=self.service_key, profile=self.profile, profiles_path=self.profiles_file
        )

    def client(self) -> ProvisioningClient:
        return ProvisioningClient(self.credentials())


pass_session = click.make_pass_decorator(Session)


def output_option(func: F) -> F:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(OUTPUT_FORMATS),
        default="table",
        show_default=True,
        help="Output format; json and yaml print the service's own fields.",
    )(func)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def emit(output: str, data: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print ``data`` as JSON or YAML, or ``rows`` as an aligned table under ``columns``."""
    if output == "json":
        click.echo(json.dumps(_plain(data), indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(_plain(data), sort_keys=False), nl=False)
    else:
        click.echo(format_table(columns, rows), nl=False)


def abbreviate(items: Sequence[str], width: int) -> str:
    """``items`` joined by commas, cut to ``width`` characters with a count of the rest."""
    text = ", ".join(items)
    for shown in range(len(items), 0, -1):
        text = ", ".join(items[:shown]) + ("" if shown == len(items) else f" +{len(items) - shown} more")
        if len(text) <= width:
            break
    return text


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in cells
    )


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def environment_row(env: Environment) -> list[Any]:
    return [
        env.display_name,
        env.id,
        env.plan_name,
        env.parameters.get("region", ""),
        env.state,
        when(env.created),
    ]


ENVIRONMENT_COLUMNS = ("NAME", "ID", "PLAN", "REGION", "STATE", "CREATED")


def resolve_environment(client: ProvisioningClient, name_or_id: str) -> Environment:
    """The Kyma environment with this id or name (``parameters.name`` or instance name)."""
    for env in client.list_environments():
        if env.environment_type == "kyma" and name_or_id in (env.id, env.display_name, env.name):
            return env
    raise NotFoundError(f"no Kyma environment named or with id {name_or_id!r}", status=404)


def kyma_plans(client: ProvisioningClient) -> list[AvailableEnvironment]:
    return [a for a in client.available_environments() if a.environment_type == "kyma"]


def kyma_plan(client: ProvisioningClient, plan: str) -> AvailableEnvironment | None:
    """The subaccount's Kyma plan of this name; None if it may not use one."""
    return next((a for a in kyma_plans(client) if a.plan_name == plan), None)


def require_plan(client: ProvisioningClient, plan: str) -> AvailableEnvironment:
    """The subaccount's Kyma plan ``plan``, or a usage error that lists the ones it may use."""
    plans = kyma_plans(client)
    found = next((a for a in plans if a.plan_name == plan), None)
    if found is None:
        names = ", ".join(a.plan_name for a in plans) or "none"
        message = f"unknown plan {plan!r}; this subaccount may use: {names}"
        raise click.BadParameter(message, param_hint="--plan")
    return found


def create_environment(
    client: ProvisioningClient,
    name: str,
    plan: str,
    region: str | None,
    user: str | None,
    parameters: dict[str, Any],
) -> Environment:
    """Provision after checking the plan; a missing ``user`` is explained with where to give it."""
    available = require_plan(client, plan)
    try:
        return client.create_environment(
            name, plan, choose_region(available, region), user=user, parameters=parameters
        )
    except BadRequestError as exc:
        if user is None and "'user'" in exc.message:
            exc.hint = "give --user EMAIL (or set KYMAPROV_USER): client credentials carry no user"
        raise


def region_property(available: AvailableEnvironment) -> dict[str, Any]:
    """The create schema's ``region`` property (``enum``, ``default``); empty for plans without one."""
    region: dict[str, Any] = (available.create_parameters_schema.get("properties") or {}).get("region") or {}
    return region


def choose_region(available: AvailableEnvironment, region: str | None) -> str | None:
    """``region`` if given; else the plan schema's default or first region (plans without one: None)."""
    if region:
        return region
    schema = region_property(available)
    choices = schema.get("enum") or []
    chosen = schema.get("default") or (choices[0] if choices else None)
    if chosen:
        plan = available.plan_name
        click.echo(f"using region {chosen} (the first of plan {plan}; --region to choose)", err=True)
    return str(chosen) if chosen else None


def parse_parameters(text: str | None, file: Path | None) -> dict[str, Any]:
    """``--parameters`` JSON text or ``--parameters-file``; a usage error if it is not an object."""
    if text is not None and file is not None:
        raise click.UsageError("give --parameters or --parameters-file, not both")
    if file is not None:
        try:
            text = read_text_file(file)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"cannot read {file}: {exc}", param_hint="--parameters-file") from exc
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--parameters") from exc
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--parameters")
    return value


class WaitProgress:
    """The live line of ``--wait``: state, message and elapsed time.

    On a terminal one status line is redrawn; otherwise a line is printed whenever the state or
    message changes, so CI logs stay short.
    """

    def __init__(self, action: str, stream: Any = None) -> None:
        self.action = action
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last: tuple[str, str] | None = None
        self._status: Any = None

    def __call__(self, env: Environment, elapsed: float) -> None:
        text = f"{self.action} {env.display_name}: {env.state or '?'}"
        if env.state_message:
            text += f" - {env.state_message}"
        text += f" ({elapsed:.0f}s)"
        if self._status is not None:
            self._status.update(text)
        elif (env.state, env.state_message) != self._last:
            click.echo(text, file=self.stream)
        self._last = (env.state, env.state_message)

    @contextmanager
    def shown(self) -> Iterator[WaitProgress]:
        if not self.tty:
            yield self
            return
        from rich.console import Console

        with Console(file=self.stream).status(f"{self.action}...") as status:
            self._status = status
            try:
                yield self
            finally:
                self._status = None


def wait_ready(client: ProvisioningClient, env: Environment, timeout: float, interval: float) -> Environment:
    progress = WaitProgress("waiting for")
    with progress.shown():
        ready = client.wait_until_ready(env.id, timeout=timeout, interval=interval, on_poll=progress)
    click.echo(f"{ready.display_name} is {ready.state} ({ready.id})", err=True)
    return ready


def wait_deleted(client: ProvisioningClient, env: Environment, timeout: float, interval: float) -> None:
    progress = WaitProgress("deleting")
    started = time.monotonic()
    with progress.shown():
        client.wait_until_deleted(env.id, timeout=timeout, interval=interval, on_poll=progress)
    click.echo(f"{env.display_name} is deleted ({time.monotonic() - started:.0f}s)", err=True)


def wait_options(func: F) -> F:
    func = click.option(
        "--interval",
        type=click.FloatRange(min=0.1),
        default=5.0,
        show_default=True,
        help="Seconds between polls.",
    )(func)
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=3600.0,
        show_default=True,
        help="Give up waiting after this many seconds (exit 5).",
    )(func)
