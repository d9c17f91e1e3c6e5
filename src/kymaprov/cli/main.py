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
from pathlib import Path
from typing import cast

import click

from kymaprov import __version__
from kymaprov.cli.admin import admin
from kymaprov.cli.bindings import bindings, exec_credential, kubeconfig
from kymaprov.cli.common import ClientGroup, Session
from kymaprov.cli.environments import env, plans
from kymaprov.cli.procedure import down, up
from kymaprov.cli.profiles import profile

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


# what ``kymaprov --help`` lists for serve, so that listing it does not import the server (~300 ms)
SERVE_SUMMARY = "Run kymaprov: token service, cis, Provisioning API, lifecycle workers and embedded runtimes."


class KymaprovGroup(ClientGroup):
    """The client commands plus ``serve``, which is imported only when it is run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "serve"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "serve":
            return click.Command("serve", short_help=SERVE_SUMMARY)  # listed only: see resolve_command
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        return name, _serve_command() if name == "serve" else command, rest


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
    ctx.obj = Session(service_key=service_key, profile=profile, profiles_file=profiles_file)


for command in (plans, env, kubeconfig, bindings, up, down, profile, exec_credential, admin):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
