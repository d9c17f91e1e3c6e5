"""What a real server can't be made to do on demand: 429s, 5xx, dropped connections, token expiry.

Driven through ``httpx.MockTransport``; the injected sleep records every wait.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kymaprov.client import (
    AsyncProvisioningClient,
    NotFoundError,
    ProvisioningClient,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from tests.client.conftest import API, CREDENTIALS, FakeClock, FakeUaa, body_of, error, scripted

MakeClient = Callable[..., tuple[ProvisioningClient, FakeUaa]]
MakeAsyncClient = Callable[..., tuple[AsyncProvisioningClient, FakeUaa]]

ENV = {"id": "ENV-1", "state": "OK", "environmentType": "kyma", "parameters": "{}", "labels": "{}"}


def test_429_waits_until_x_ratelimit_reset_in_epoch_milliseconds(
    make_client: MakeClient, clock: FakeClock
) -> None:
    reset_ms = str(int((clock.now + 2.5) * 1000))
    client, uaa = make_client(
        scripted(
            error(429, 11006, "Request rate limit exceeded.", {"X-Ratelimit-Reset": reset_ms}),
            httpx.Response(200, json=ENV),
        )
    )
    assert client.get_environment("ENV-1").state == "OK"
    assert clock.sleeps == [pytest.approx(2.5)]
    assert len(uaa.api_requests) == 2


def test_429_with_a_reset_already_past_still_backs_off(make_client: MakeClient, clock: FakeClock) -> None:
    past = str(int((clock.now - 5) * 1000))
    limited = error(429, 11006, "Request rate limit exceeded.", {"X-Ratelimit-Reset": past})
    client, uaa = make_client(scripted(limited, limited, httpx.Response(200, json=ENV)))
    assert client.get_environment("ENV-1").state == "OK"
    assert len(uaa.api_requests) == 3 and len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)


def test_429_wait_is_capped_and_errors_carry_reset_at(make_client: MakeClient, clock: FakeClock) -> None:
    far = str(int((clock.now + 3600) * 1000))
    limited = error(429, 11006, "Request rate limit exceeded.", {"X-Ratelimit-Reset": far})
    client, uaa = make_client(scripted(limited, limited, limited), retries=2, max_rate_limit_wait=10)
    with pytest.raises(RateLimitedError) as info:
        client.list_environments()
    assert clock.sleeps == [10, 10]
    assert len(uaa.api_requests) == 3
    assert info.value.status == 429 and info.value.code == 11006
    assert info.value.reset_at is not None and info.value.reset_at.timestamp() == pytest.approx(
        int(far) / 1000
    )
    assert info.value.exit_code == RateLimitedError.exit_code


def test_429_without_header_uses_exponential_backoff(make_client: MakeClient, clock: FakeClock) -> None:
    limited = error(429, 11006, "Request rate limit exceeded.")
    client, _ = make_client(
        scripted(limited, limited, httpx.Response(200, json={"environmentInstances": []}))
    )
    assert client.list_environments() == []
    assert clock.sleeps == [0.5, 1.0]


def test_5xx_is_retried_with_exponential_backoff_then_succeeds(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client, uaa = make_client(
        scripted(
            error(500, 10000, "Internal server error"),
            httpx.Response(502, text="<html>bad gateway</html>"),
            error(503, 10000, "unavailable"),
            httpx.Response(200, json=ENV),
        )
    )
    assert client.get_environment("ENV-1").id == "ENV-1"
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(uaa.api_requests) == 4


def test_5xx_gives_up_after_retries(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(scripted(*[error(500, 10000, "boom")] * 4))
    with pytest.raises(ServerError) as info:
        client.get_labels("ENV-1")
    assert info.value.status == 500 and info.value.message == "boom" and info.value.correlation_id == "c-1"
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(uaa.api_requests) == 4


def test_jitter_scales_each_delay_between_half_and_all(make_client: MakeClient, clock: FakeClock) -> None:
    client, _ = make_client(
        scripted(error(500, 1, "x"), error(500, 1, "x"), httpx.Response(200, json=ENV)), random=lambda: 0.0
    )
    client.get_environment("ENV-1")
    assert clock.sleeps == [0.25, 0.5]


def test_connection_errors_are_retried_for_get(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(
        scripted(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=ENV))
    )
    assert client.get_environment("ENV-1").id == "ENV-1"
    assert clock.sleeps == [0.5, 1.0]
    assert len(uaa.api_requests) == 3


def test_connection_errors_become_transport_error_after_retries(
    make_client: MakeClient, clock: FakeClock
) -> None:
    client, _ = make_client(scripted(*[httpx.ConnectError("refused")] * 3), retries=2)
    with pytest.raises(TransportError) as info:
        client.list_environments()
    assert "ConnectError" in str(info.value) and "after 3 attempts" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert clock.sleeps == [0.5, 1.0]


def test_post_environment_is_never_retried(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(scripted(error(503, 10000, "unavailable")))
    with pytest.raises(ServerError):
        client.create_environment("rt", "aws", "eu-central-1", user="me@example.com")
    assert len(uaa.api_requests) == 1 and clock.sleeps == []

    client, uaa = make_client(scripted(httpx.ReadTimeout("lost answer")))
    with pytest.raises(TransportError) as info:
        client.create_environment("rt", "aws", "eu-central-1", user="me@example.com")
    assert "not retried" in str(info.value)
    assert len(uaa.api_requests) == 1 and clock.sleeps == []

    limited = error(429, 11006, "Request rate limit exceeded.", {"X-Ratelimit-Reset": "1"})
    client, uaa = make_client(scripted(limited))
    with pytest.raises(RateLimitedError):
        client.create_environment("rt", "aws", "eu-central-1", user="me@example.com")
    assert len(uaa.api_requests) == 1 and clock.sleeps == []


def test_put_binding_and_patch_are_never_retried(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(scripted(httpx.RemoteProtocolError("reset"), error(500, 1, "x")))
    with pytest.raises(TransportError):
        client.create_binding("ENV-1", 600)
    with pytest.raises(ServerError):
        client.update_environment("ENV-1", "aws", {"name": "rt"})
    assert [r.method for r in uaa.api_requests] == ["PUT", "PATCH"]
    assert clock.sleeps == []


def test_put_labels_and_delete_are_retried(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(
        scripted(
            error(500, 1, "x"),
            httpx.Response(200, json={"labels": {"team": ["a"]}}),
            httpx.ConnectError("refused"),
            httpx.Response(202, json=ENV),
        )
    )
    assert dict(client.set_labels("ENV-1", {"team": ["a"]})) == {"team": ["a"]}
    assert client.delete_environment("ENV-1").id == "ENV-1"
    assert [r.method for r in uaa.api_requests] == ["PUT", "PUT", "DELETE", "DELETE"]
    assert body_of(uaa.api_requests[1]) == {"labels": {"team": ["a"]}}
    assert clock.sleeps == [0.5, 0.5]


def test_delete_binding_whose_answer_was_lost_counts_404_on_retry_as_done(make_client: MakeClient) -> None:
    client, uaa = make_client(scripted(httpx.ReadTimeout("lost answer"), httpx.Response(404)))
    client.delete_binding("ENV-1", "B-1")
    assert len(uaa.api_requests) == 2
    # but a plain 404 (no earlier attempt) is an error
    client, _ = make_client(scripted(httpx.Response(404)))
    with pytest.raises(NotFoundError):
        client.delete_binding("ENV-1", "B-1")


def test_empty_body_404_of_a_deleted_binding(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(scripted(httpx.Response(404)))
    with pytest.raises(NotFoundError) as info:
        client.get_binding("ENV-1", "B-1")
    assert info.value.status == 404 and info.value.code is None
    assert "empty response body" in info.value.message
    assert info.value.target == "/provisioning/v1/environments/ENV-1/bindings/B-1"
    assert len(uaa.api_requests) == 1 and clock.sleeps == []  # a 404 is not retried


def test_token_is_fetched_once_with_basic_auth_and_reused(make_client: MakeClient) -> None:
    client, uaa = make_client(lambda r: httpx.Response(200, json=ENV))
    client.get_environment("ENV-1")
    client.get_environment("ENV-1")
    assert uaa.issued == 1
    token_request = uaa.token_requests[0]
    assert str(token_request.url) == "https://sub.authentication.eu10.hana.ondemand.com/oauth/token"
    assert token_request.content == b"grant_type=client_credentials"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(b"sb-1234!b5|cis-local!b4:s3cret").decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert uaa.api_auth == ["Bearer token-1", "Bearer token-1"]


def test_token_is_refreshed_shortly_before_expiry(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(lambda r: httpx.Response(200, json=ENV))
    client.get_environment("ENV-1")
    clock.now += 43199 - 61  # still more than 60 s left
    client.get_environment("ENV-1")
    assert uaa.issued == 1
    clock.now += 2  # now less than 60 s left: refresh
    client.get_environment("ENV-1")
    assert uaa.issued == 2
    assert uaa.api_auth == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_short_lived_token_uses_a_ten_percent_margin(make_client: MakeClient, clock: FakeClock) -> None:
    client, uaa = make_client(lambda r: httpx.Response(200, json=ENV))
    uaa.expires_in = 100
    client.get_environment("ENV-1")
    clock.now += 89
    client.get_environment("ENV-1")
    assert uaa.issued == 1
    clock.now += 2
    client.get_environment("ENV-1")
    assert uaa.issued == 2


def test_401_refreshes_the_token_once_and_repeats_the_request(make_client: MakeClient) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-1":
            return error(401, 11002, "Invalid token: revoked")
        return httpx.Response(200, json={"labels": {}})

    client, uaa = make_client(api)
    assert dict(client.get_labels("ENV-1")) == {}
    assert uaa.issued == 2
    assert uaa.api_auth == ["Bearer token-1", "Bearer token-2"]


def test_persistent_401_raises_unauthorized_without_looping(make_client: MakeClient) -> None:
    client, uaa = make_client(lambda r: error(401, 11002, "Not Authorized"))
    with pytest.raises(UnauthorizedError) as info:
        client.list_environments()
    assert info.value.exit_code == UnauthorizedError.exit_code
    assert uaa.issued == 2 and len(uaa.api_requests) == 2


def test_401_retry_replays_the_request_body(make_client: MakeClient) -> None:
    seen: list[Any] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(body_of(request))
        if len(seen) == 1:
            return error(401, 11002, "expired")
        return httpx.Response(200, json={"labels": {"a": ["1"]}})

    client, _ = make_client(api)
    client.set_labels("ENV-1", {"a": ["1"]})
    assert seen == [{"labels": {"a": ["1"]}}] * 2


def test_token_endpoint_rejection_is_unauthorized_with_oauth_message(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth/token"
        return httpx.Response(401, json={"error": "unauthorized", "error_description": "Bad credentials"})

    client = ProvisioningClient(
        CREDENTIALS, transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock
    )
    with pytest.raises(UnauthorizedError) as info:
        client.list_environments()
    assert info.value.message == "Bad credentials"
    assert clock.sleeps == []


def test_bearer_token_provider_is_used_as_is(clock: FakeClock) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={"environmentInstances": [ENV]})

    client = ProvisioningClient(
        base_url=API + "/", token=lambda: "abc", transport=httpx.MockTransport(handler), sleep=clock.sleep
    )
    assert [e.id for e in client.list_environments()] == ["ENV-1"]
    assert seen == ["Bearer abc"]


def test_async_client_retries_429_and_5xx_and_refreshes_token(
    make_async_client: MakeAsyncClient, clock: FakeClock
) -> None:
    reset_ms = str(int((clock.now + 1.5) * 1000))

    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-1":
            return error(401, 11002, "expired")
        return responses.pop(0)

    responses = [
        error(429, 11006, "Request rate limit exceeded.", {"X-Ratelimit-Reset": reset_ms}),
        error(500, 1, "x"),
        httpx.Response(200, json=ENV),
    ]
    client, uaa = make_async_client(api)

    async def main() -> str:
        async with client:
            return (await client.get_environment("ENV-1")).state

    assert asyncio.run(main()) == "OK"
    assert clock.sleeps == [pytest.approx(1.5), 1.0]
    assert uaa.issued == 2


def test_async_client_never_retries_post(make_async_client: MakeAsyncClient, clock: FakeClock) -> None:
    client, uaa = make_async_client(scripted(httpx.ConnectError("refused")))

    async def main() -> None:
        await client.create_environment("rt", "aws", "eu-central-1", user="me@example.com")

    with pytest.raises(TransportError):
        asyncio.run(main())
    assert len(uaa.api_requests) == 1 and clock.sleeps == []


def test_concurrent_threads_share_one_token_fetch(clock: FakeClock) -> None:
    import threading

    fetching = threading.Event()
    release = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            fetching.set()
            release.wait(5)
        return uaa(request)

    uaa = FakeUaa(lambda r: httpx.Response(200, json=ENV))
    client = ProvisioningClient(CREDENTIALS, transport=httpx.MockTransport(handler), clock=clock)
    threads = [threading.Thread(target=client.get_environment, args=("ENV-1",)) for _ in range(5)]
    for t in threads:
        t.start()
    fetching.wait(5)
    release.set()
    for t in threads:
        t.join(5)
    assert uaa.issued == 1 and len(uaa.api_requests) == 5
