"""``kymaprov profile ...``: named credentials kept in one owner-only file."""

from __future__ import annotations

from pathlib import Path

import click

from kymaprov.cli.common import Session, emit, output_option, pass_session
from kymaprov.client import Credentials, ProfileStore


@click.group()
def profile() -> None:
    """Named credentials (a cis service key) so commands need only --profile NAME."""


@profile.command("save")
@click.argument("name")
@click.option(
    "--from-key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A cis service key file (default: the current --service-key, or CLIENT_ID and friends).",
)
@pass_session
def save(session: Session, name: str, key_file: Path | None) -> None:
    """Store credentials under NAME (mode 0600)."""
    credentials = Credentials.from_file(key_file) if key_file else session.credentials()
    store = ProfileStore(session.profiles_file)
    store.save(name, credentials)
    click.echo(f"saved profile {name} in {store.path}", err=True)


@profile.command("list")
@output_option
@pass_session
def list_profiles(session: Session, output: str) -> None:
    """List the stored profiles (never their secrets)."""
    store = ProfileStore(session.profiles_file)
    rows = [[name, store.load(name).provisioning_url] for name in store.names()]
    emit(output, [{"name": n, "provisioningServiceUrl": u} for n, u in rows], ("NAME", "SERVICE"), rows)


@profile.command("delete")
@click.argument("name")
@pass_session
def delete(session: Session, name: str) -> None:
    """Forget profile NAME."""
    if not ProfileStore(session.profiles_file).delete(name):
        raise click.ClickException(f"no profile named {name!r}")
    click.echo(f"deleted profile {name}", err=True)
