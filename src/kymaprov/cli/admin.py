"""``kymaprov admin``: the emulator's controls (clock, failures, faults, lifecycle, reset, subaccounts).

A client of the server's ``/admin`` HTTP API, so it works against any kymaprov it can reach. Which one:
``--url`` and ``--admin-token`` (``KYMAPROV_ADMIN_URL``, ``KYMAPROV_ADMIN_TOKEN``), else the local login
``kymaprov serve`` wrote to ``$KYMAPROV_DATA_DIR/local-login.json``, as ``btp`` finds it.

Exit codes: 0 success, 1 the server refused the request, 2 usage, 3 no server or admin token.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import httpx

from kymaprov.cli.common import emit, output_option
from kymaprov.client.faults import fault_rule
from kymaprov.paths import LOGIN_FILE, default_data_dir


class AdminRefused(click.ClickException):
    exit_code = 1


class NoServer(click.ClickException):
    exit_code = 3


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h``, ``1.5d``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise click.BadParameter(f"'{text}' is not a duration; use e.g. 90, 90s, 15m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


DURATION = Duration()


@dataclass
class AdminApi:
    url: str
    token: str

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = httpx.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"authorization": f"Bearer {self.token}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise NoServer(f"cannot reach kymaprov at {self.url}: {exc}") from exc
        if response.status_code == 401:
            raise NoServer(f"{self.url} refused the admin token; pass --admin-token or KYMAPROV_ADMIN_TOKEN")
        if response.status_code >= 400:
            raise AdminRefused(f"{_message(response)} (server {self.url})")
        return response.json() if response.content else None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text}"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error or data)


def _locate(url: str | None, token: str | None) -> AdminApi:
    if url and token:
        return AdminApi(url.rstrip("/"), token)
    login_file = default_data_dir() / LOGIN_FILE
    try:
        login = json.loads(login_file.read_text())
    except FileNotFoundError:
        raise NoServer(
            f"no local kymaprov login at {login_file}; start 'kymaprov serve', set KYMAPROV_DATA_DIR to "
            "its data dir, or pass --url and --admin-token"
        ) from None
    except (OSError, ValueError) as exc:
        raise NoServer(f"cannot read {login_file}: {exc}") from None
    return AdminApi((url or login["url"]).rstrip("/"), token or login["adminToken"])


pass_api = click.make_pass_decorator(AdminApi)


@click.group()
@click.option("--url", envvar="KYMAPROV_ADMIN_URL", help="kymaprov's URL (default: the local login's).")
@click.option(
    "--admin-token", envvar="KYMAPROV_ADMIN_TOKEN", help="The admin token (default: the local login's)."
)
@click.pass_context
def admin(ctx: click.Context, url: str | None, admin_token: str | None) -> None:
    """Control the emulator: clock, failures, faults, lifecycle, reset, subaccounts."""
    ctx.obj = _locate(url, admin_token)


def _clock_rows(data: dict[str, Any]) -> list[list[Any]]:
    now = datetime.fromtimestamp(data["now"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [[now, data["offsetSeconds"]]]


@admin.group()
def clock() -> None:
    """Service time: every expiry and provisioning delay reads it."""


@clock.command("show")
@output_option
@pass_api
def clock_show(api: AdminApi, output: str) -> None:
    """Print service time and how far it runs ahead of wall time."""
    data = api("GET", "/admin/clock")
    emit(output, data, ["NOW", "OFFSET SECONDS"], _clock_rows(data))


@clock.command("advance")
@click.argument("duration", type=DURATION)
@output_option
@pass_api
def clock_advance(api: AdminApi, duration: float, output: str) -> None:
    """Move service time forward by DURATION (90, 90s, 15m, 2h, 1d)."""
    data = api("POST", "/admin/clock/advance", {"seconds": duration})
    emit(output, data, ["NOW", "OFFSET SECONDS"], _clock_rows(data))


@clock.command("set")
@click.argument("when", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]))
@output_option
@pass_api
def clock_set(api: AdminApi, when: datetime, output: str) -> None:
    """Move service time forward to WHEN (ISO 8601; UTC unless it names a zone). It never goes back."""
    target = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    now = api("GET", "/admin/clock")["now"]
    if target < now:
        raise click.BadParameter(
            f"{when.isoformat()} is before service time; the clock only moves forward "
            "('kymaprov admin reset' puts it back to wall time)",
            param_hint="WHEN",
        )
    data = api("POST", "/admin/clock/advance", {"seconds": target - now})
    emit(output, data, ["NOW", "OFFSET SECONDS"], _clock_rows(data))


@admin.command("fail-next")
@click.argument("environment_id")
@click.option("--message", required=True, help="The state message of the failure.")
@click.option(
    "--operation",
    type=click.Choice(["provision", "update", "deprovision"]),
    help="Fail only this kind of operation (default: whichever comes next).",
)
@pass_api
def fail_next(api: AdminApi, environment_id: str, message: str, operation: str | None) -> None:
    """Make the environment's next operation end in *_FAILED; the one after succeeds."""
    body = {"message": message, "operation": operation}
    api("POST", f"/admin/environments/{environment_id}/fail-next", body)
    click.echo(f"The next {operation or 'operation'} of {environment_id} fails: {message}")


@admin.command()
@click.confirmation_option(prompt="Delete every environment, binding, cis instance, fault and control?")
@pass_api
def reset(api: AdminApi) -> None:
    """Delete what users made and every fault and control; reset the clock. Tenancy and users stay."""
    api("POST", "/admin/reset")
    click.echo("kymaprov reset")


@admin.group()
def subaccounts() -> None:
    """Subaccounts of the default global account."""


def _subaccount_row(s: dict[str, Any]) -> list[Any]:
    return [s["guid"], s["displayName"], s["subdomain"], s["region"]]


@subaccounts.command("list")
@output_option
@pass_api
def subaccounts_list(api: AdminApi, output: str) -> None:
    data = api("GET", "/admin/subaccounts")
    rows = [_subaccount_row(s) for s in data["value"]]
    emit(output, data["value"], ["ID", "NAME", "SUBDOMAIN", "REGION"], rows)


@subaccounts.command("create")
@click.option("--name", required=True, help="Display name.")
@click.option("--subdomain", required=True)
@click.option("--region", default="eu10", show_default=True)
@output_option
@pass_api
def subaccounts_create(api: AdminApi, name: str, subdomain: str, region: str, output: str) -> None:
    data = api("POST", "/admin/subaccounts", {"displayName": name, "subdomain": subdomain, "region": region})
    emit(output, data, ["ID", "NAME", "SUBDOMAIN", "REGION"], [_subaccount_row(data)])


@admin.group()
def faults() -> None:
    """Make chosen requests answer 429, a 5xx or 504, or come late."""


def _fault_row(r: dict[str, Any]) -> list[Any]:
    until = r["untilMs"] and datetime.fromtimestamp(r["untilMs"] / 1000, tz=UTC).strftime("%H:%M:%S UTC")
    return [
        r["id"],
        r["method"],
        r["path"],
        r["status"] or "",
        r["delayMs"] or "",
        "" if r["remaining"] is None else r["remaining"],
        until or "",
    ]


_FAULT_COLUMNS = ["ID", "METHOD", "PATH", "STATUS", "DELAY MS", "REMAINING", "UNTIL"]


@faults.command("add")
@click.argument("method")
@click.argument("path")
@click.option("--status", type=click.IntRange(400, 599), help="Answer this status (429, 500, 503, 504...).")
@click.option("--delay", type=DURATION, help="Hold each matching request this long first (e.g. 5s).")
@click.option(
    "--retry-after",
    type=click.IntRange(0, 86400),
    help="Seconds in Retry-After and X-Ratelimit-Reset of a 429 or 503.  [default: 1]",
)
@click.option("--count", type=click.IntRange(min=1), help="Only the next N matching requests.")
@click.option("--for", "window", type=DURATION, help="Only for this long (service clock), e.g. 10m.")
@click.option("--message", help="The error message.")
@output_option
@pass_api
def faults_add(
    api: AdminApi,
    method: str,
    path: str,
    status: int | None,
    delay: float | None,
    retry_after: int | None,
    count: int | None,
    window: float | None,
    message: str | None,
    output: str,
) -> None:
    """Fault METHOD (or '*') requests whose path matches PATH (a glob: '/provisioning/v1/environments*')."""
    if status is None and not delay:
        raise click.UsageError("give --status, --delay or both")
    rule = fault_rule(
        method,
        path,
        status=status,
        delay=delay,
        retry_after=retry_after,
        count=count,
        seconds=window,
        message=message,
    )
    data = api("POST", "/admin/faults", rule)
    emit(output, data, _FAULT_COLUMNS, [_fault_row(data)])


@faults.command("list")
@output_option
@pass_api
def faults_list(api: AdminApi, output: str) -> None:
    data = api("GET", "/admin/faults")
    emit(output, data["rules"], _FAULT_COLUMNS, [_fault_row(r) for r in data["rules"]])


@faults.command("clear")
@click.argument("rule_id", required=False)
@pass_api
def faults_clear(api: AdminApi, rule_id: str | None) -> None:
    """Remove the rule RULE_ID, or every rule."""
    data = api("DELETE", f"/admin/faults/{rule_id}" if rule_id else "/admin/faults")
    click.echo(f"removed {data['removed']} fault rule(s)")


@admin.group()
def lifecycle() -> None:
    """How long operations take, holding them in CREATING, failing creations."""


def _control_rows(data: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for kind, key in (("plan", "plans"), ("environment", "environments")):
        for name, c in data[key].items():
            fail = f"{c['failTimes']}x {c['failMessage'] or ''}".strip() if c.get("failTimes") else ""
            rows.append([kind, name, "" if c["seconds"] is None else c["seconds"], c["hold"], fail])
    return rows


_CONTROL_COLUMNS = ["SCOPE", "NAME", "SECONDS", "HOLD", "FAIL"]


@lifecycle.command("show")
@output_option
@pass_api
def lifecycle_show(api: AdminApi, output: str) -> None:
    data = api("GET", "/admin/lifecycle")
    emit(output, data, _CONTROL_COLUMNS, _control_rows(data))


def _control_body(
    duration: float | None, hold: bool | None, fail_times: int | None = None, fail_message: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if duration is not None:
        body["seconds"] = duration
    if hold is not None:
        body["hold"] = hold
    if fail_times is not None:
        body["failTimes"] = fail_times
    if fail_message is not None:
        body["failMessage"] = fail_message
    if not body:
        raise click.UsageError("nothing to set; give --duration, --hold/--no-hold or --fail")
    return body


@lifecycle.command("plan")
@click.argument("plan")
@click.option("--duration", type=DURATION, help="How long its operations take (service clock).")
@click.option("--hold/--no-hold", default=None, help="Keep new operations pending until released.")
@click.option("--fail", "fail_times", type=click.IntRange(0, 1000), help="Fail the next N creations.")
@click.option("--message", "fail_message", help="The state message of those failures.")
@pass_api
def lifecycle_plan(
    api: AdminApi,
    plan: str,
    duration: float | None,
    hold: bool | None,
    fail_times: int | None,
    fail_message: str | None,
) -> None:
    """Control the environments of PLAN (aws, azure, gcp, ...)."""
    body = _control_body(duration, hold, fail_times, fail_message)
    data = api("PUT", f"/admin/lifecycle/plans/{plan}", body)
    click.echo(format_control("plan", plan, data))


@lifecycle.command("env")
@click.argument("environment_id")
@click.option("--duration", type=DURATION, help="How long its operations take (service clock).")
@click.option("--hold/--no-hold", default=None, help="Keep its operations pending until released.")
@pass_api
def lifecycle_env(api: AdminApi, environment_id: str, duration: float | None, hold: bool | None) -> None:
    """Control one environment; its pending operation is re-timed at once."""
    body = _control_body(duration, hold)
    data = api("PUT", f"/admin/environments/{environment_id}/lifecycle", body)
    click.echo(format_control("environment", environment_id, data))


@lifecycle.command("release")
@click.argument("environment_id")
@pass_api
def lifecycle_release(api: AdminApi, environment_id: str) -> None:
    """Let a held environment's operation finish now."""
    data = api("POST", f"/admin/environments/{environment_id}/release")
    click.echo(f"released {data['released']} operation(s) of {environment_id}")


@lifecycle.command("clear")
@pass_api
def lifecycle_clear(api: AdminApi) -> None:
    """Remove every control: operations take --provisioning-seconds again."""
    api("DELETE", "/admin/lifecycle")
    click.echo("lifecycle controls cleared")


def format_control(kind: str, name: str, c: dict[str, Any]) -> str:
    parts = [f"{kind} {name}:", "held" if c["hold"] else "not held"]
    if c["seconds"] is not None:
        parts.append(f"operations take {c['seconds']:g} s")
    if c.get("failTimes"):
        parts.append(f"the next {c['failTimes']} creation(s) fail")
    return " ".join(parts)
