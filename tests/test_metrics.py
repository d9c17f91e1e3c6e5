"""``/metrics``: scraped over HTTP from a running ``kymaprov serve`` after real requests, parsed with
prometheus_client's own parser; the counts move with what was done."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api, RunningServer, new_api, requires_postgres
from tests.test_postgres_replicas import replicas

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: RunningServer) -> Samples:
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


ENV_ROUTE = "/provisioning/v1/environments/{environmentInstanceId}"


def test_requests_are_counted_by_route_template_and_status(server: RunningServer) -> None:
    api = new_api(server, "metrics-requests")
    before = scrape(server)
    for env_id in ("no-such-a", "no-such-b", "no-such-c"):
        assert api.request("GET", f"/environments/{env_id}").status_code == 404
    assert httpx.get(f"{server.url}/no/such/route/at/all").status_code == 404
    for method in ("BREW", "WHEN"):  # what a client makes up is one series, not one per invention
        assert httpx.request(method, f"{server.url}/no/such/route").status_code == 404
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # three raw paths, one series: the template, never the ids
    assert delta("kymaprov_http_requests_total", method="GET", route=ENV_ROUTE, status="404") == 3
    assert delta("kymaprov_http_request_duration_seconds_count", method="GET", route=ENV_ROUTE) == 3
    assert (
        delta("kymaprov_http_request_duration_seconds_bucket", method="GET", route=ENV_ROUTE, le="+Inf") == 3
    )
    assert delta("kymaprov_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("kymaprov_http_requests_total", method="other", route="unmatched", status="404") == 2
    assert not any("no-such" in v or v in ("BREW", "WHEN") for _, labels in after for _, v in labels)
    # the first scrape was counted by the second
    assert value(after, "kymaprov_http_requests_total", method="GET", route="/metrics", status="200") >= 1


def test_operations_bindings_and_runtimes(server: RunningServer) -> None:
    api = new_api(server, "metrics-lifecycle")
    before = scrape(server)
    env_id = api.create_kyma(name="metrics-rt")
    api.wait_state(env_id)
    r = api.request(
        "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 600}}
    )
    assert r.status_code == 202, r.status_code
    during = scrape(server)

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    ok = {"type": "provision", "state": "succeeded"}
    assert delta(during, "kymaprov_lifecycle_operations_total", **ok) == 1
    assert delta(during, "kymaprov_lifecycle_operation_duration_seconds_count", **ok) == 1
    # provisioning takes --provisioning-seconds 0.5 of service time
    assert delta(during, "kymaprov_lifecycle_operation_duration_seconds_sum", **ok) >= 0.5
    assert delta(during, "kymaprov_kyma_bindings") == 1
    assert delta(during, "kymaprov_runtimes", backend="embedded") == 1

    assert api.request("DELETE", f"/environments/{env_id}").status_code == 202
    api.wait_gone(env_id)
    after = scrape(server)
    assert delta(after, "kymaprov_lifecycle_operations_total", type="deprovision", state="succeeded") == 1
    assert delta(after, "kymaprov_kyma_bindings") == 0  # the environment's bindings went with it
    assert delta(after, "kymaprov_runtimes", backend="embedded") == 0
    assert value(after, "kymaprov_lifecycle_operations_pending", type="provision") == 0


def test_metrics_need_no_token_and_show_no_secret(server: RunningServer) -> None:
    creds = server.cis_credentials()
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    secrets = [server.login["password"], server.login["adminToken"], creds["uaa"]["clientsecret"]]
    assert all(secret not in text for secret in secrets)


@requires_postgres
def test_two_replicas_count_their_own_requests_and_agree_on_shared_state(
    tmp_path: Path, postgres_database: str
) -> None:
    a, b = replicas(tmp_path, postgres_database, provisioning_seconds=0.5)
    try:
        token = a.token_for(a.cis_credentials())
        api_a, api_b = Api(a, token), Api(b, token)
        env_id = api_a.create_kyma(name="metrics-pg")
        api_b.wait_state(env_id)
        for _ in range(3):
            assert api_b.request("PUT", f"/environments/{env_id}/bindings").status_code == 202
        before_a, before_b = scrape(a), scrape(b)
        for _ in range(4):
            assert api_a.request("GET", f"/environments/{env_id}").status_code == 200
        after_a, after_b = scrape(a), scrape(b)
        name = "kymaprov_http_requests_total"
        counted = {"method": "GET", "route": ENV_ROUTE, "status": "200"}
        # process counters: the replica that answered counted, the other did not
        assert value(after_a, name, **counted) - value(before_a, name, **counted) == 4
        assert value(after_b, name, **counted) - value(before_b, name, **counted) == 0
        # one provision, counted by whichever worker finished it: once in total
        finished = {"type": "provision", "state": "succeeded"}
        assert (
            sum(value(s, "kymaprov_lifecycle_operations_total", **finished) for s in (after_a, after_b)) == 1
        )
        # shared state from the database: both replicas report the same, and it is not doubled
        for samples in (after_a, after_b):
            assert value(samples, "kymaprov_kyma_bindings") == 3
            assert value(samples, "kymaprov_runtimes", backend="embedded") == 1
    finally:
        a.stop()
        b.stop()
