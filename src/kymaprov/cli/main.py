"""The ``kymaprov`` command: ``serve`` runs the service; the other commands are its client.

``serve`` is loaded only when asked for (click's lazy subcommand pattern), so the client installs and
runs without the server (``pip install kymaprov``); without ``kymaprov[server]`` it says so and exits 1.

Client commands take credentials from ``--service-key FILE``, else ``--profile NAME``, else the
seed procedure's variables ``CLIENT_ID``, ``CLIENT_SECRET``, ``UAA_URL`` and ``PROVISIONING_SERVICE_URL``.
Exit codes: 0 success, 1 other client error, 2 usage, 3 credentials, 4 connection, 5 wait timed out,
6 operation failed, 7 unreadable kubeconfig, 8 access check refused, 10-18 HTTP errors (400 11,
401 12, 403 13, 404 14, 409 15, 410 16, 429 17, 5xx 18, other 10).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import click

from kymaprov import __version__
from kymaprov.cli.hints import RootOptionHints

SERVER_HINT = "kymaprov serve needs the server: pip install 'kymaprov[server]'"


@click.command(
    name="serve",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def _serve_unavailable(ctx: click.Context) -> None:
    """Run kymaprov (needs the server: pip install 'kymaprov[server]')."""
    click.echo(SERVER_HINT, err=True)
    ctx.exit(1)


def _serve_command() -> click.Command:
    """``kymaprov.cli.serve`` if the server's dependencies are installed, else the command that says so."""
    try:
        # the one import the client-only install may lack: allowed in tests/test_boundaries.py
        module = importlib.import_module("kymaprov.cli.serve")
    except ModuleNotFoundError as exc:
        if (exc.name or "kymaprov").partition(".")[0] == "kymaprov":
            raise  # a module of our own missing is a bug, not a client-only install
        return _serve_unavailable
    return cast(click.Command, module.serve)


def _common() -> ModuleType:
    return importlib.import_module("kymaprov.cli.common")


# Each command: its summary and how to load it. ``kymaprov --help`` lists the summaries without importing
# the commands, whose modules load the SDK, httpx, rich and yaml (most of the start-up); a command is
# imported when it runs. tests/cli/test_startup.py checks each summary against its command.
COMMANDS: dict[str, tuple[str, Callable[[], Any]]] = {
    "admin": (
        "Control the emulator: clock, failures, faults, lifecycle, reset, subaccounts.",
        lambda: importlib.import_module("kymaprov.cli.admin").admin,
    ),
    "bindings": (
        "Kyma bindings (kubeconfigs) of an environment: list, get, revoke.",
        lambda: importlib.import_module("kymaprov.cli.bindings").bindings,
    ),
    "down": (
        "Revoke the bindings of Kyma environment NAME and deprovision it.",
        lambda: importlib.import_module("kymaprov.cli.procedure").down,
    ),
    "env": (
        "Kyma environments of the subaccount: list, get, create, update, delete.",
        lambda: importlib.import_module("kymaprov.cli.environments").env,
    ),
    "exec-credential": (
        "kubectl's exec credential plugin: print an ExecCredential with a live binding's token.",
        lambda: importlib.import_module("kymaprov.cli.exec_fast").exec_credential,
    ),
    "kubeconfig": (
        "Create a binding for ENVIRONMENT (name or id) and write its kubeconfig.",
        lambda: importlib.import_module("kymaprov.cli.bindings").kubeconfig,
    ),
    "plans": (
        "List the Kyma plans and regions this subaccount may use.",
        lambda: importlib.import_module("kymaprov.cli.environments").plans,
    ),
    "profile": (
        "Named credentials (a cis service key) so commands need only --profile NAME.",
        lambda: importlib.import_module("kymaprov.cli.profiles").profile,
    ),
    "serve": (
        "Run kymaprov: token service, cis, Provisioning API, lifecycle workers and embedded runtimes.",
        _serve_command,
    ),
    "up": (
        "Make sure Kyma environment NAME exists and is ready, and write a working kubeconfig for it.",
        lambda: importlib.import_module("kymaprov.cli.procedure").up,
    ),
}


# commands that take no credentials from the root options: they start without loading the SDK
SESSIONLESS = frozenset({"exec-credential", "serve"})


class KymaprovGroup(RootOptionHints):
    """The commands of ``COMMANDS``: listed from their summaries, imported when run; a root option
    given after the command says where it belongs."""

    misplaced = {"--format": "The output format is '-o json|yaml|table', after the command."}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return click.Command(cmd_name, short_help=COMMANDS[cmd_name][0])  # listed only: resolve_command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return name, load_command(name) if name else command, rest

    def invoke(self, ctx: click.Context) -> Any:
        """A command's SDK errors end it with their message and exit code (``common.client_errors``)."""
        try:
            return super().invoke(ctx)
        except Exception as exc:
            errors = sys.modules.get("kymaprov.client.exceptions")  # not loaded: no SDK error was raised
            if errors is None or not isinstance(exc, errors.ClientError):
                raise
            with _common().client_errors(ctx):
                raise


def load_command(name: str) -> click.Command:
    return cast(click.Command, COMMANDS[name][1]())


@click.group(cls=KymaprovGroup)
@click.version_option(__version__, prog_name="kymaprov")
@click.option(
    "--service-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KYMAPROV_SERVICE_KEY",
    help="A cis service key (JSON of 'btp --format json get services/binding', or its credentials).",
)
@click.option("--profile", envvar="KYMAPROV_PROFILE", help="A profile saved with 'kymaprov profile save'.")
@click.option(
    "--profiles-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KYMAPROV_PROFILES",
    help="Profiles file.  [default: ~/.config/kymaprov/profiles.json]",
)
@click.pass_context
def cli(
    ctx: click.Context, service_key: Path | None, profile: str | None, profiles_file: Path | None
) -> None:
    """kymaprov: the SAP BTP Provisioning Service for Kyma runtimes, self-hosted, and its client."""
    if ctx.invoked_subcommand not in SESSIONLESS:
        ctx.obj = _common().Session(service_key=service_key, profile=profile, profiles_file=profiles_file)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
