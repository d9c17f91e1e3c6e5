"""``kymaprov serve``: the one command on the server side of the CLI.

``kymaprov.cli.main`` attaches it lazily, so the client installs and runs without the server; this
module needs ``kymaprov[server]``.
"""

from __future__ import annotations

from pathlib import Path

import click
import setproctitle
from click.core import ParameterSource

from kymaprov import logs
from kymaprov.backends.runtimes import RuntimesConfigError, load_runtimes_config
from kymaprov.config import Settings
from kymaprov.init import InitError
from kymaprov.init import load as load_init
from kymaprov.paths import default_data_dir
from kymaprov.provisioning.catalog import PLANS
from kymaprov.server import KymaprovServer, ServeError
from kymaprov.store import StoreError, redact_url, url_password


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="KYMAPROV_HOST", help="Address to bind."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="KYMAPROV_PORT",
    help="HTTP API port (0: any free port).",
)
@click.option(
    "--kube-port",
    type=click.IntRange(0, 65535),
    default=6443,
    show_default=True,
    envvar="KYMAPROV_KUBE_PORT",
    help="Embedded Kubernetes API port (TLS; 0: any free port).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="KYMAPROV_DATA_DIR",
    help="State directory (SQLite database, master key, local login).  [default: ~/.local/share/kymaprov]",
)
@click.option(
    "--database-url",
    default=None,
    envvar="KYMAPROV_DATABASE_URL",
    help="SQLAlchemy URL of a shared database, e.g. postgresql+psycopg://user@host/db "
    "(default: SQLite in the data dir).",
)
@click.option(
    "--provisioning-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    envvar="KYMAPROV_PROVISIONING_SECONDS",
    help="How long a simulated create, update or delete takes (service-clock seconds).",
)
@click.option(
    "--advertise-host",
    default=None,
    envvar="KYMAPROV_ADVERTISE_HOST",
    help="Host name or address put into URLs and kubeconfigs (default: --host, or 127.0.0.1 for a wildcard).",
)
@click.option(
    "--public-url",
    default=None,
    envvar="KYMAPROV_PUBLIC_URL",
    help="The API's public URL if not http://<advertise-host>:<port>; "
    "replicas behind a load balancer share it.",
)
@click.option(
    "--service-account-max-token-expiration",
    type=click.IntRange(min=3600, max=2**32),
    default=86400,
    show_default=True,
    envvar="KYMAPROV_SERVICE_ACCOUNT_MAX_TOKEN_EXPIRATION",
    help="Longest lifetime (seconds) of a runtime ServiceAccount token; longer TokenRequests are shortened.",
)
@click.option(
    "--kube-public-url",
    default=None,
    envvar="KYMAPROV_KUBE_PUBLIC_URL",
    help="The embedded Kubernetes API's URL behind a (TLS pass-through) load balancer if not "
    "https://<advertise-host>:<kube-port>; kubeconfigs name it, replicas share it.",
)
@click.option(
    "--runtimes-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="KYMAPROV_RUNTIMES_CONFIG",
    help="YAML file naming runtime backends (e.g. a pool of existing clusters) and the plans they serve; "
    "plans it does not name get embedded runtimes (docs/runtimes.md).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="KYMAPROV_LOG_LEVEL",
    help="Requests and lifecycle steps are logged at info.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    envvar="KYMAPROV_LOG_FORMAT",
    help="Log lines as text or as one JSON object each (stderr).",
)
@click.option(
    "--init",
    "init_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="KYMAPROV_INIT",
    help="YAML file of subaccounts, cis instances, bindings (with fixed credentials) and environments "
    "to create at start if missing.",
)
def serve(
    host: str,
    port: int,
    kube_port: int,
    data_dir: Path | None,
    database_url: str | None,
    provisioning_seconds: float,
    advertise_host: str | None,
    public_url: str | None,
    service_account_max_token_expiration: int,
    kube_public_url: str | None,
    runtimes_config: Path | None,
    log_level: str,
    log_format: str,
    init_file: Path | None,
) -> None:
    """Run kymaprov: token service, cis, Provisioning API, lifecycle workers and embedded runtimes."""
    logs.configure(log_level, log_format)
    source = click.get_current_context().get_parameter_source("database_url")
    if database_url and source is ParameterSource.COMMANDLINE:
        _mask_database_password(database_url)

    settings = Settings(
        host=host,
        port=port,
        kube_port=kube_port,
        data_dir=data_dir or default_data_dir(),
        database_url=database_url,
        provisioning_seconds=provisioning_seconds,
        advertise_host=advertise_host,
        public_url=public_url,
        service_account_max_token_expiration=service_account_max_token_expiration,
        kube_public_url=kube_public_url,
    )
    try:
        init = load_init(init_file) if init_file else None
        runtimes = load_runtimes_config(runtimes_config, PLANS) if runtimes_config else None
        server = KymaprovServer(settings, init, runtimes)
    except (StoreError, ServeError, InitError, RuntimesConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    server.run()


def _mask_database_password(database_url: str) -> None:
    """A password on the command line is readable by every local user in the process list: mask it in
    the process title (it was visible from the start until now) and say to use the environment."""
    if not url_password(database_url):
        return
    click.echo(
        "kymaprov: warning: the --database-url password shows in the process list until kymaprov masks "
        "it; pass the URL in KYMAPROV_DATABASE_URL instead",
        err=True,
    )
    setproctitle.setproctitle(setproctitle.getproctitle().replace(database_url, redact_url(database_url)))
