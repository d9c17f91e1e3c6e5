"""The dashboard's pages (Jinja2, autoescaped). Small enough to live next to the views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}kymaprov{% endblock %}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
th{background:#f3f3f3}.OK{color:#176a1c}.FAILED,.CREATION_FAILED,.UPDATE_FAILED,.DELETION_FAILED{color:#b00020}
.busy{color:#8a5a00}header{display:flex;gap:1rem;align-items:baseline}header form{margin-left:auto}
.error{color:#b00020}
</style></head><body>
<header><h1><a href="/dashboard/">kymaprov</a></h1>
{% if user %}<span id="user">{{ user }}</span>
<form method="post" action="/dashboard/logout"><button>Sign out</button></form>{% endif %}
</header>
{% block body %}{% endblock %}
{% if refresh %}<script>
// something is in progress: refresh until it is not
setTimeout(function () { location.reload(); }, 3000);
</script>{% endif %}
</body></html>"""

LOGIN = """{% extends "base" %}{% block title %}Sign in - kymaprov{% endblock %}{% block body %}
<h2>Sign in</h2><p>With the platform login (the user and password of <code>btp login</code>, or of
<code>local-login.json</code>).</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
<form method="post" action="/dashboard/login" id="login">
<input type="hidden" name="next" value="{{ next }}">
<p><label>User <input name="username" id="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" id="password" type="password"
 autocomplete="current-password" required></label></p>
<p><button type="submit" id="sign-in">Sign in</button></p></form>
{% endblock %}"""

INDEX = """{% extends "base" %}{% block body %}
<h2>Environments</h2>
{% if not environments %}<p>No environments in this global account.</p>{% else %}
<table id="environments"><tr><th>Name</th><th>Subaccount</th><th>Plan</th><th>Region</th><th>State</th>
<th>Operation</th><th>Message</th><th>Modified</th></tr>
{% for e in environments %}<tr data-id="{{ e.id }}">
<td><a href="/dashboard/?kubeconfigID={{ e.id }}">{{ e.name }}</a></td><td>{{ e.subaccount }}</td>
<td>{{ e.plan }}</td><td>{{ e.region }}</td><td class="{{ e.css }}">{{ e.state }}</td>
<td>{{ e.operation }}</td>
<td>{{ e.message }}</td><td>{{ e.modified }}</td></tr>{% endfor %}</table>{% endif %}
{% endblock %}"""

ENVIRONMENT = """{% extends "base" %}{% block title %}{{ env.name }} - kymaprov{% endblock %}{% block body %}
<h2 id="environment">{{ env.name }}</h2>
<table><tr><th>ID</th><td>{{ env.id }}</td></tr><tr><th>Plan</th><td>{{ env.plan }}</td></tr>
<tr><th>Region</th><td>{{ env.region }}</td></tr>
<tr><th>State</th><td class="{{ env.css }}" id="state">{{ env.state }}</td></tr>
<tr><th>Progress</th><td id="progress">{{ env.progress }}</td></tr>
<tr><th>Message</th><td>{{ env.message }}</td></tr>
<tr><th>API server</th><td>{{ env.api_server }}</td></tr></table>

<h3>Operations</h3>
<table id="operations">
<tr><th>Type</th><th>State</th><th>Description</th><th>Started</th><th>Updated</th></tr>
{% for o in operations %}<tr><td>{{ o.type }}</td><td>{{ o.state }}</td><td>{{ o.description }}</td>
<td>{{ o.created }}</td><td>{{ o.updated }}</td></tr>{% endfor %}</table>

<h3>Bindings</h3>
{% if not bindings %}<p id="no-bindings">No bindings.</p>{% else %}
<table id="bindings"><tr><th>ID</th><th>Created by</th><th>Created</th><th>Expires</th><th></th></tr>
{% for b in bindings %}<tr data-id="{{ b.id }}"><td>{{ b.id }}</td>
<td>{{ b.created_by }}</td><td>{{ b.created }}</td>
<td>{{ b.expires }}</td><td>{{ b.status }}</td></tr>{% endfor %}</table>{% endif %}

<h3>Runtime</h3>
{% if runtime.error %}<p class="error">{{ runtime.error }}</p>{% else %}
<h4>Namespaces</h4>
<table id="namespaces"><tr><th>Name</th><th>Phase</th><th>Created</th></tr>
{% for n in runtime.namespaces %}<tr><td>{{ n.metadata.name }}</td><td>{{ (n.status or {}).phase }}</td>
<td>{{ n.metadata.creationTimestamp }}</td></tr>{% endfor %}</table>
<h4>Workloads</h4>
<table id="workloads"><tr><th>Kind</th><th>Namespace</th><th>Name</th><th>Status</th></tr>
{% for kind, w in runtime.workloads %}<tr><td>{{ kind }}</td><td>{{ w.metadata.namespace }}</td>
<td>{{ w.metadata.name }}</td><td>{{ status(kind, w) }}</td></tr>{% endfor %}</table>
<h4>Events</h4>
<table id="events"><tr><th>Type</th><th>Object</th><th>Reason</th><th>Message</th><th>Last seen</th></tr>
{% for ev in runtime.events %}<tr><td>{{ ev.type }}</td>
<td>{{ (ev.involvedObject or {}).kind }}/{{ (ev.involvedObject or {}).name }}</td><td>{{ ev.reason }}</td>
<td>{{ ev.message }}</td><td>{{ ev.lastTimestamp or ev.eventTime }}</td></tr>{% endfor %}</table>
{% endif %}{% endblock %}"""

NOT_FOUND = """{% extends "base" %}{% block body %}<h2>Not found</h2>
<p>No environment {{ env_id }} in this global account. <a href="/dashboard/">All environments</a></p>
{% endblock %}"""


def when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else ""


def workload_status(kind: str, item: dict[str, Any]) -> str:
    """One phrase per kind: ready replicas, or the pod's phase, or the job's completions."""
    status = item.get("status") or {}
    spec = item.get("spec") or {}
    if kind in ("Deployment", "StatefulSet"):
        return f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)} ready"
    if kind == "DaemonSet":
        return f"{status.get('numberReady', 0)}/{status.get('desiredNumberScheduled', 0)} ready"
    if kind == "Job":
        return f"{status.get('succeeded', 0)}/{spec.get('completions', 1)} succeeded"
    if kind == "CronJob":
        return f"schedule {spec.get('schedule', '')}"
    return str(status.get("phase", ""))


pages = Environment(
    loader=DictLoader(
        {"base": BASE, "login": LOGIN, "index": INDEX, "environment": ENVIRONMENT, "not_found": NOT_FOUND}
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
pages.globals["status"] = workload_status
