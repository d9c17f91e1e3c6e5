"""``btp``: a stand-in for SAP's btp CLI covering what the Kyma procedure uses.

Shape of the real CLI: ``btp [--format json] ACTION GROUP/OBJECT [options]``. Without ``btp login`` it
targets the local kymaprov default, reading the login that ``kymaprov serve`` wrote (mode 0600) to
``$KYMAPROV_DATA_DIR/local-login.json``. ``btp login`` stores its session in ``$BTP_CLIENTCONFIG``
(default ``~/.config/kymaprov/btp.json``, mode 0600).

Exit codes: 0 success, 1 the server refused the request, 2 usage error, 3 not logged in / cannot
reach the server.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from kymaprov import __version__
from kymaprov.cli.hints import RootOptionHints
from kymaprov.paths import LOGIN_FILE, default_data_dir

OBJECTS = ("services/instance", "services/binding", "accounts/subaccount")


class BtpError(click.ClickException):
    exit_code = 1


class NotLoggedIn(click.ClickException):
    exit_code = 3


def config_path() -> Path:
    env = os.environ.get("BTP_CLIENTCONFIG")
    return Path(env) if env else Path.home() / ".config" / "kymaprov" / "btp.json"


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)


@dataclass
class BtpSession:
    url: str
    token: str
    subaccount: str | None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, **params: str) -> Any:
        try:
            response = httpx.request(
                method,
                f"{self.url}{path}",
                json=body,
                params={k: v for k, v in params.items() if v},
                headers={"authorization": f"Bearer {self.token}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise NotLoggedIn(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code == 401:
            raise NotLoggedIn(f"{_message(response)} (server {self.url})")
        if response.status_code >= 400:  # say which server: several may run on one machine
            raise BtpError(f"{_message(response)} (server {self.url})")
        return response.json() if response.content else None

    def target(self, override: str | None) -> str:
        sub = override or self.subaccount
        if not sub:
            raise BtpError("no subaccount targeted; run 'btp target --subaccount ID' or pass --subaccount")
        return sub


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or data.get("error_description") or data)


def _password_token(url: str, user: str, password: str) -> str:
    try:
        response = httpx.post(
            f"{url}/oauth/token",
            data={"grant_type": "password", "client_id": "btp-cli", "username": user, "password": password},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise NotLoggedIn(f"cannot reach {url}: {exc}") from exc
    if response.status_code != 200:
        raise NotLoggedIn(f"login failed: {_message(response)}")
    return str(response.json()["access_token"])


def load_session() -> BtpSession:
    path = config_path()
    if path.exists():
        data = json.loads(path.read_text())
        return BtpSession(data["url"], data["token"], data.get("subaccount"))
    login_file = default_data_dir() / LOGIN_FILE
    if not login_file.exists():
        raise NotLoggedIn(
            f"not logged in and no local kymaprov found at {login_file}; "
            "start 'kymaprov serve' or run 'btp login --url URL'"
        )
    login = json.loads(login_file.read_text())
    return BtpSession(
        login["url"], _password_token(login["url"], login["user"], login["password"]), login["subaccount"]
    )


def _emit(ctx: click.Context, data: Any, human: str) -> None:
    if ctx.obj["format"] == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(human)


def _check_object(obj: str, allowed: tuple[str, ...]) -> str:
    if obj not in allowed:
        raise click.UsageError(f"unknown object '{obj}'; expected one of: {', '.join(allowed)}")
    return obj


@click.group(cls=RootOptionHints)
@click.version_option(__version__, prog_name="btp", message="%(prog)s CLI (kymaprov stand-in) %(version)s")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", help="Output format.")
@click.pass_context
def cli(ctx: click.Context, fmt: str) -> None:
    """btp stand-in for kymaprov: service instances and bindings of the cis offering."""
    ctx.ensure_object(dict)
    ctx.obj["format"] = fmt


@cli.command()
@click.option("--url", required=True, help="kymaprov base URL, e.g. http://127.0.0.1:8080")
@click.option("--user", help="Platform user (e-mail).")
@click.option("--password", help="Password (prompted if omitted).")
@click.option("--subaccount", help="Subaccount to target (default: the user's default subaccount).")
def login(url: str, user: str | None, password: str | None, subaccount: str | None) -> None:
    """Log in and store the session."""
    url = url.rstrip("/")
    user = user or click.prompt("User")
    password = password or click.prompt("Password", hide_input=True)
    token = _password_token(url, str(user), str(password))
    me = BtpSession(url, token, None).request("GET", "/cis/v1/me")
    target = subaccount or me.get("defaultSubaccount")
    _write_private(config_path(), {"url": url, "token": token, "user": user, "subaccount": target})
    click.echo(f"Login successful. Current target: subaccount {target}")


@cli.command()
def logout() -> None:
    """Forget the stored session."""
    config_path().unlink(missing_ok=True)
    click.echo("Logged out.")


@cli.command()
@click.option("--subaccount", required=True, help="Subaccount ID to target.")
def target(subaccount: str) -> None:
    """Target a subaccount for later commands."""
    session = load_session()
    session.request("GET", f"/cis/v1/subaccounts/{subaccount}")
    path = config_path()
    data = json.loads(path.read_text()) if path.exists() else {"url": session.url, "token": session.token}
    data["subaccount"] = subaccount
    _write_private(path, data)
    click.echo(f"Current target: subaccount {subaccount}")


def _instance_id(session: BtpSession, sub: str, name: str | None, ident: str | None) -> str:
    if ident:
        return ident
    if not name:
        raise click.UsageError("pass the ID or --name")
    items = session.request("GET", f"/cis/v1/subaccounts/{sub}/service_instances", name=name)["items"]
    return str(items[0]["id"])


def _binding_id(session: BtpSession, sub: str, name: str | None, ident: str | None) -> str:
    if ident:
        return ident
    if not name:
        raise click.UsageError("pass the ID or --name")
    items = session.request("GET", f"/cis/v1/subaccounts/{sub}/service_bindings", name=name)["items"]
    return str(items[0]["id"])


def _require(**options: str | None) -> None:
    """A usage error naming the missing options as typed (``--offering-name``), before any request."""
    missing = [f"--{k.replace('_', '-')}" for k, v in options.items() if not v]
    if missing:
        raise click.UsageError(f"missing option {', '.join(missing)}")


def _describe(data: dict[str, Any]) -> str:
    keys = (
        "id",
        "name",
        "guid",
        "displayName",
        "subdomain",
        "region",
        "service_plan_name",
        "service_instance_id",
        "created_at",
        "ready",
    )
    return "\n".join(f"{k}:{' ' * max(1, 22 - len(k))}{data[k]}" for k in keys if k in data)


@cli.command()
@click.argument("obj", metavar="GROUP/OBJECT")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.option("--offering-name", help="Service offering (cis).")
@click.option("--plan-name", help="Service plan (local, central, local-viewer, central-viewer).")
@click.option("--name", help="Name of the instance or binding.")
@click.option("--parameters", help='JSON parameters, e.g. {"grantType":"clientCredentials"}.')
@click.option("--instance-name", help="Service instance to bind (by name).")
@click.option("--service-instance", "--instance-id", "instance_id", help="Service instance to bind (by ID).")
@click.option("--display-name", help="Subaccount display name.")
@click.option("--subdomain", help="Subaccount subdomain.")
@click.option("--region", default="eu10", show_default=True, help="Subaccount region.")
@click.pass_context
def create(
    ctx: click.Context,
    obj: str,
    subaccount: str | None,
    offering_name: str | None,
    plan_name: str | None,
    name: str | None,
    parameters: str | None,
    instance_name: str | None,
    instance_id: str | None,
    display_name: str | None,
    subdomain: str | None,
    region: str,
) -> None:
    """Create a service instance, service binding or subaccount."""
    _check_object(obj, OBJECTS)
    if obj == "services/instance":
        _require(name=name, offering_name=offering_name, plan_name=plan_name)
    elif obj == "services/binding":
        _require(name=name)
        if not (instance_name or instance_id):
            raise click.UsageError("missing option --instance-name (or --service-instance ID)")
    session = load_session()
    if obj == "accounts/subaccount":
        body = {"displayName": display_name, "subdomain": subdomain, "region": region}
        result = session.request("POST", "/cis/v1/subaccounts", body)
        _emit(ctx, result, _describe(result))
        return
    sub = session.target(subaccount)
    if obj == "services/instance":
        body = {
            "name": name,
            "offering_name": offering_name,
            "plan_name": plan_name,
            "parameters": parameters,
        }
        result = session.request("POST", f"/cis/v1/subaccounts/{sub}/service_instances", body)
    else:
        body = {"name": name, "service_instance_name": instance_name, "service_instance_id": instance_id}
        result = session.request("POST", f"/cis/v1/subaccounts/{sub}/service_bindings", body)
    _emit(ctx, result, _describe(result))


@cli.command()
@click.argument("obj", metavar="GROUP/OBJECT")
@click.argument("ident", required=False, metavar="[ID]")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.option("--name", help="Name of the instance or binding.")
@click.pass_context
def get(ctx: click.Context, obj: str, ident: str | None, subaccount: str | None, name: str | None) -> None:
    """Show a service instance, service binding (with credentials) or subaccount."""
    _check_object(obj, OBJECTS)
    session = load_session()
    if obj == "accounts/subaccount":
        result = session.request("GET", f"/cis/v1/subaccounts/{session.target(ident or subaccount)}")
        _emit(ctx, result, _describe(result))
        return
    sub = session.target(subaccount)
    if obj == "services/instance":
        result = session.request(
            "GET", f"/cis/v1/subaccounts/{sub}/service_instances/{_instance_id(session, sub, name, ident)}"
        )
        _emit(ctx, result, _describe(result))
    else:
        result = session.request(
            "GET", f"/cis/v1/subaccounts/{sub}/service_bindings/{_binding_id(session, sub, name, ident)}"
        )
        _emit(
            ctx, result, _describe(result) + "\ncredentials:\n" + json.dumps(result["credentials"], indent=2)
        )


@cli.command(name="list")
@click.argument("obj", metavar="GROUP/OBJECT")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.pass_context
def list_(ctx: click.Context, obj: str, subaccount: str | None) -> None:
    """List service instances, service bindings or subaccounts."""
    _check_object(obj, OBJECTS)
    session = load_session()
    if obj == "accounts/subaccount":
        items = session.request("GET", "/cis/v1/subaccounts")["value"]
        rows = [(s["guid"], s["displayName"], s["subdomain"], s["region"]) for s in items]
        header = ("subaccount id", "display name", "subdomain", "region")
    else:
        sub = session.target(subaccount)
        kind = "service_instances" if obj == "services/instance" else "service_bindings"
        items = session.request("GET", f"/cis/v1/subaccounts/{sub}/{kind}")["items"]
        if obj == "services/instance":
            rows = [(i["id"], i["name"], i["service_plan_name"], i["created_at"]) for i in items]
            header = ("id", "name", "plan", "created")
        else:
            rows = [(b["id"], b["name"], b["service_instance_name"], b["created_at"]) for b in items]
            header = ("id", "name", "instance", "created")
    _emit(ctx, items, _table(header, rows))


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    cells = [header, *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


@cli.command()
@click.argument("obj", metavar="GROUP/OBJECT")
@click.argument("ident", required=False, metavar="[ID]")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.option("--name", help="Name of the instance or binding.")
@click.option("--confirm", is_flag=True, help="Accepted for compatibility; deletion never prompts.")
@click.pass_context
def delete(
    ctx: click.Context, obj: str, ident: str | None, subaccount: str | None, name: str | None, confirm: bool
) -> None:
    """Delete a service instance or service binding."""
    _check_object(obj, OBJECTS[:2])
    session = load_session()
    sub = session.target(subaccount)
    if obj == "services/instance":
        ident = _instance_id(session, sub, name, ident)
        session.request("DELETE", f"/cis/v1/subaccounts/{sub}/service_instances/{ident}")
    else:
        ident = _binding_id(session, sub, name, ident)
        session.request("DELETE", f"/cis/v1/subaccounts/{sub}/service_bindings/{ident}")
    _emit(ctx, {"id": ident, "deleted": True}, f"{obj} {ident} deleted.")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
