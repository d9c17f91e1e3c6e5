"""``btp``: a stand-in for SAP's btp CLI covering what the Kyma procedure uses.

Shape of the real CLI: ``btp [--format json] ACTION GROUP/OBJECT [options]``, and like it a client of the
BTP CLI-server protocol (``POST /login/<version>``, ``POST /command/<version>/<group>/<object>?<action>``),
so it and SAP's ``btp`` behave the same against kymaprov. Without ``btp login`` it logs in to the local
kymaprov with the login that ``kymaprov serve`` wrote (mode 0600) to ``$KYMAPROV_DATA_DIR/local-login.json``.
``btp login`` stores its session id in ``$BTP_CLIENTCONFIG`` (default ``~/.config/kymaprov/btp.json``,
mode 0600).

Exit codes: 0 success, 1 the server refused the request, 2 usage error, 3 not logged in / cannot
reach the server.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from email.message import Message

from kymaprov import __version__
from kymaprov.cli.hints import RootOptionHints
from kymaprov.paths import LOGIN_FILE, default_data_dir

ENVIRONMENT = "accounts/environment-instance"
DELETABLE = ("services/instance", "services/binding", ENVIRONMENT)
OBJECTS = (*DELETABLE, "accounts/subaccount")


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


# the session ``btp`` got with the local login (``local-login.json``), kept next to that file so that
# each command does not log in again (a login is a deliberately slow password check on the server)
LOCAL_SESSION_FILE = "btp-local-session.json"

PROTOCOL = "v2.106.1"  # the BTP CLI-server protocol version this client speaks (the provider's too)


@dataclass
class Reply:
    """An HTTP answer: btp's few small POSTs go through the standard library (httpx and its imports
    were most of each command's start-up)."""

    status_code: int
    headers: Message
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> Reply:
    import urllib.error  # here, not at the top: --help needs none of it
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # a 3xx is the answer, as with any HTTP client that does not follow POSTs

    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.build_opener(NoRedirects).open(request, timeout=60) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, exc.headers, exc.read())
    except (OSError, ValueError) as exc:  # URLError is an OSError; a malformed URL a ValueError
        raise NotLoggedIn(f"cannot reach {url}: {exc}") from exc


@dataclass
class BtpSession:
    """A session of the BTP CLI-server protocol, as SAP's ``btp`` keeps one. ``renew`` logs in again
    when the server no longer knows the session (only for the implicit local login)."""

    url: str
    session_id: str
    subdomain: str
    subaccount: str | None
    renew: Callable[[], BtpSession] | None = field(default=None, repr=False, compare=False)

    def _post(self, path: str, body: dict[str, Any]) -> Reply:
        headers = {
            "X-Cpcli-Format": "json",
            "X-Cpcli-Sessionid": self.session_id,
            "X-Cpcli-Subdomain": self.subdomain,
        }
        return post(f"{self.url}{path}", body, headers)

    def command(self, command: str, action: str, **params: str | None) -> Any:
        """Run ``action command`` with these parameters; the backend's body, or its error as a BtpError."""
        values = {k: v for k, v in params.items() if v is not None}
        response = self._post(f"/command/{PROTOCOL}/{command}?{action}", {"paramValues": values})
        if response.status_code == 401 and self.renew is not None:
            fresh, self.renew = self.renew(), None
            self.session_id, self.subdomain = fresh.session_id, fresh.subdomain
            response = self._post(f"/command/{PROTOCOL}/{command}?{action}", {"paramValues": values})
        if response.status_code == 401:
            raise NotLoggedIn(f"session expired or not logged in; run 'btp login' (server {self.url})")
        if response.status_code != 200:
            reason = response.headers.get("x-cpcli-server-message") or f"HTTP {response.status_code}"
            raise BtpError(f"{reason} (server {self.url})")
        status = int(response.headers.get("x-cpcli-backend-status", "200"))
        if status >= 400:  # say which server: several may run on one machine
            raise BtpError(f"{_message(response)} (server {self.url})")
        return response.json() if response.content else None

    def logout(self) -> None:
        self._post(f"/logout/{PROTOCOL}", {})

    def target(self, override: str | None) -> str:
        sub = override or self.subaccount
        if not sub:
            raise BtpError("no subaccount targeted; run 'btp target --subaccount ID' or pass --subaccount")
        return sub


def _message(response: Reply) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text}"
    if not isinstance(data, dict):
        return str(data)
    # Service Manager: {"error": reason, "description": message}; accounts backends: {"error": message}
    return str(data.get("description") or data.get("error") or data)


def _login(url: str, user: str, password: str, subdomain: str | None) -> BtpSession:
    """``POST /login``; without a subdomain the server logs in to the user's own global account."""
    body = {"customIdp": "", "subdomain": subdomain or "", "userName": user, "password": password}
    response = post(f"{url}/login/{PROTOCOL}", body, {"X-Cpcli-Format": "json"})
    if response.status_code != 200:
        reason = response.headers.get("x-cpcli-server-message") or f"HTTP {response.status_code}"
        raise NotLoggedIn(f"login failed: {reason}")
    return BtpSession(
        url,
        str(response.headers["x-cpcli-sessionid"]),
        response.headers.get("x-cpcli-subdomain") or subdomain or "",
        None,
    )


def load_session() -> BtpSession:
    path = config_path()
    if path.exists():
        data = json.loads(path.read_text())
        if "session" not in data:
            raise NotLoggedIn(f"{path} holds no session of this btp version; run 'btp login' again")
        return BtpSession(data["url"], data["session"], data.get("subdomain", ""), data.get("subaccount"))
    login_file = default_data_dir() / LOGIN_FILE
    if not login_file.exists():
        raise NotLoggedIn(
            f"not logged in and no local kymaprov found at {login_file}; "
            "start 'kymaprov serve' or run 'btp login --url URL'"
        )
    login = json.loads(login_file.read_text())
    return _local_session(login, login_file.with_name(LOCAL_SESSION_FILE))


def _local_session(login: dict[str, Any], cache: Path) -> BtpSession:
    """The session of the local login: the one kept from an earlier command when it was made for this
    login, else a new login (kept for the next command). A session the server has since forgotten
    (expired, reset, another server on this data directory) is renewed on its first 401."""

    def fresh() -> BtpSession:
        session = _login(login["url"], login["user"], login["password"], None)
        session.subaccount = login["subaccount"]
        with contextlib.suppress(OSError):  # a data directory we may not write to: no reuse, no harm
            made_for = {k: login[k] for k in ("url", "user", "subaccount")}
            _write_private(cache, {**made_for, "session": session.session_id, "subdomain": session.subdomain})
        return session

    try:
        kept = json.loads(cache.read_text())
        if any(kept.get(k) != login[k] for k in ("url", "user", "subaccount")):
            return fresh()
        return BtpSession(login["url"], kept["session"], kept["subdomain"], login["subaccount"], fresh)
    except (OSError, ValueError, KeyError, TypeError):
        return fresh()


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
@click.option("--url", required=True, help="CLI server URL (kymaprov's API), e.g. http://127.0.0.1:8080")
@click.option("--subdomain", help="Global account subdomain (default: the user's global account).")
@click.option("--user", help="Platform user (e-mail).")
@click.option("--password", help="Password (prompted if omitted).")
@click.option("--subaccount", help="Subaccount to target (default: the global account's first).")
def login(
    url: str, subdomain: str | None, user: str | None, password: str | None, subaccount: str | None
) -> None:
    """Log in through the CLI server's /login and store the session."""
    url = url.rstrip("/")
    user = user or click.prompt("User")
    password = password or click.prompt("Password", hide_input=True)
    session = _login(url, str(user), str(password), subdomain)
    if subaccount:
        session.command("accounts/subaccount", "get", subaccount=subaccount)
    else:
        subs = session.command("accounts/subaccount", "list", globalAccount=session.subdomain)["value"]
        subaccount = subs[0]["guid"] if subs else None
    data = {"url": url, "session": session.session_id, "subdomain": session.subdomain, "user": user}
    _write_private(config_path(), {**data, "subaccount": subaccount})
    click.echo(
        f"Login successful. Global account: {session.subdomain}. Current target: subaccount {subaccount}"
    )


@cli.command()
def logout() -> None:
    """End the session on the server and forget it."""
    path = config_path()
    if path.exists():
        with contextlib.suppress(click.ClickException):
            load_session().logout()
    path.unlink(missing_ok=True)
    click.echo("Logged out.")


@cli.command()
@click.option("--subaccount", required=True, help="Subaccount ID to target.")
def target(subaccount: str) -> None:
    """Target a subaccount for later commands."""
    session = load_session()
    session.command("accounts/subaccount", "get", globalAccount=session.subdomain, subaccount=subaccount)
    path = config_path()
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update({"url": session.url, "session": session.session_id, "subdomain": session.subdomain})
    data["subaccount"] = subaccount
    _write_private(path, data)
    click.echo(f"Current target: subaccount {subaccount}")


def _named(name: str | None, ident: str | None) -> dict[str, str | None]:
    """The ``id`` or ``name`` parameter of a get or delete."""
    if not ident and not name:
        raise click.UsageError("pass the ID or --name")
    return {"id": ident} if ident else {"name": name}


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
        "state",
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
@click.option("--display-name", help="Display name of the subaccount or environment instance.")
@click.option("--subdomain", help="Subaccount subdomain.")
@click.option("--region", default="eu10", show_default=True, help="Subaccount region.")
@click.option("--environment", help="Environment type (kyma).")
@click.option("--service", help="Environment's service (kymaruntime).")
@click.option("--plan", help="Environment's plan (aws, azure, gcp, ...).")
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
    environment: str | None,
    service: str | None,
    plan: str | None,
) -> None:
    """Create a service instance, service binding, environment instance or subaccount."""
    _check_object(obj, OBJECTS)
    if obj == "services/instance":
        _require(name=name, offering_name=offering_name, plan_name=plan_name)
    elif obj == "services/binding":
        _require(name=name)
        if not (instance_name or instance_id):
            raise click.UsageError("missing option --instance-name (or --service-instance ID)")
    session = load_session()
    if obj == "accounts/subaccount":
        result = session.command(
            obj, "create", globalAccount=session.subdomain, displayName=display_name, subdomain=subdomain,
            region=region,
        )  # fmt: skip
        _emit(ctx, result, _describe(result))
        return
    sub = session.target(subaccount)
    if obj == ENVIRONMENT:
        result = session.command(
            obj, "create", subaccount=sub, displayName=display_name, environmentType=environment,
            service=service, plan=plan, parameters=parameters,
        )  # fmt: skip
    elif obj == "services/instance":
        result = session.command(
            obj, "create", subaccount=sub, name=name, offeringName=offering_name, planName=plan_name,
            parameters=parameters,
        )  # fmt: skip
    else:
        result = session.command(
            obj, "create", subaccount=sub, name=name, serviceInstanceName=instance_name,
            serviceInstanceID=instance_id,
        )  # fmt: skip
    _emit(ctx, result, _describe(result))


@cli.command()
@click.argument("obj", metavar="GROUP/OBJECT")
@click.argument("ident", required=False, metavar="[ID]")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.option("--name", help="Name of the instance or binding.")
@click.pass_context
def get(ctx: click.Context, obj: str, ident: str | None, subaccount: str | None, name: str | None) -> None:
    """Show a service instance, service binding (with credentials), environment instance or subaccount."""
    _check_object(obj, OBJECTS)
    session = load_session()
    if obj == ENVIRONMENT:
        if not ident:
            raise click.UsageError("pass the environment instance ID")
        result = session.command(obj, "get", subaccount=session.target(subaccount), environmentID=ident)
        _emit(ctx, result, _describe(result))
        return
    if obj == "accounts/subaccount":
        sub_id = session.target(ident or subaccount)
        result = session.command(obj, "get", globalAccount=session.subdomain, subaccount=sub_id)
        _emit(ctx, result, _describe(result))
        return
    sub = session.target(subaccount)
    if obj == "services/instance":
        result = session.command(obj, "get", subaccount=sub, **_named(name, ident))
        _emit(ctx, result, _describe(result))
    else:
        result = session.command(obj, "get", subaccount=sub, **_named(name, ident))
        _emit(
            ctx, result, _describe(result) + "\ncredentials:\n" + json.dumps(result["credentials"], indent=2)
        )


@cli.command(name="list")
@click.argument("obj", metavar="GROUP/OBJECT")
@click.option("--subaccount", "-sa", "subaccount", help="Subaccount ID (default: the target).")
@click.pass_context
def list_(ctx: click.Context, obj: str, subaccount: str | None) -> None:
    """List service instances, service bindings, environment instances or subaccounts."""
    _check_object(obj, OBJECTS)
    session = load_session()
    if obj == ENVIRONMENT:
        items = session.command(obj, "list", subaccount=session.target(subaccount))["environmentInstances"]
        rows = [(e["id"], e["name"], e["planName"], e["state"]) for e in items]
        header = ("id", "name", "plan", "state")
    elif obj == "accounts/subaccount":
        items = session.command(obj, "list", globalAccount=session.subdomain)["value"]
        rows = [(s["guid"], s["displayName"], s["subdomain"], s["region"]) for s in items]
        header = ("subaccount id", "display name", "subdomain", "region")
    else:
        sub = session.target(subaccount)
        items = session.command(obj, "list", subaccount=sub)
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
    """Delete a service instance, service binding or environment instance."""
    _check_object(obj, DELETABLE)
    session = load_session()
    sub = session.target(subaccount)
    if obj == ENVIRONMENT:
        if not ident:
            raise click.UsageError("pass the environment instance ID")
        session.command(obj, "delete", subaccount=sub, environmentID=ident, confirm="true")
    else:
        ident = session.command(obj, "get", subaccount=sub, **_named(name, ident))["id"]
        session.command(obj, "delete", subaccount=sub, id=ident, confirm="true")
    _emit(ctx, {"id": ident, "deleted": True}, f"{obj} {ident} deleted.")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
