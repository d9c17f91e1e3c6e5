"""The dashboard at ``dashboardUrl``: signed in with the platform login, in headless Chromium.

An environment and a binding are made through the API; the browser opens the environment's
``dashboardUrl``, signs in, and finds the environment, its binding and its runtime's namespaces.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api, RunningServer

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and shutil.which(CHROMEDRIVER) is not None
# CI installs chromium (.ci/run) and sets this, so the browser test can never silently skip there
REQUIRE_BROWSER = os.environ.get("KYMAPROV_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def made(server: RunningServer) -> dict[str, Any]:
    """An environment and one binding, through the Provisioning API."""
    api = Api(server, server.token_for(server.cis_credentials(server.new_subaccount("dashboard"))))
    env_id = api.create_kyma(name="dash-rt")
    env = api.wait_state(env_id)
    created = api.request(
        "PUT", f"/environments/{env_id}/bindings", json={"parameters": {"expiration_seconds": 900}}
    )
    assert created.status_code == 202, created.text
    return {"env": env, "binding_id": created.headers["location"]}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if not HAVE_BROWSER:
        if REQUIRE_BROWSER:
            pytest.fail(
                f"{CHROMIUM} and {CHROMEDRIVER} are required (apt-get install chromium chromium-driver)"
            )
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


def test_sign_in_and_find_the_environment_its_binding_and_runtime(
    server: RunningServer, made: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    env = made["env"]
    browser.get(env["dashboardUrl"])  # what the API advertises
    assert browser.find_element(By.ID, "login")
    browser.find_element(By.ID, "username").send_keys(server.login["user"])
    browser.find_element(By.ID, "password").send_keys(server.login["password"])
    browser.find_element(By.ID, "sign-in").click()

    # back on the environment's page (the dashboardUrl's kubeconfigID), signed in
    assert browser.find_element(By.ID, "environment").text == "dash-rt"
    assert browser.find_element(By.ID, "state").text == "OK"
    bindings = browser.find_element(By.ID, "bindings")
    assert made["binding_id"] in bindings.text and "live" in bindings.text
    namespaces = browser.find_element(By.ID, "namespaces").text.split()
    assert {"default", "kube-system", "kyma-system"} <= set(namespaces)
    assert "provision" in browser.find_element(By.ID, "operations").text

    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 1000

    browser.find_element(By.LINK_TEXT, "kymaprov").click()  # the overview lists it too
    row = browser.find_element(By.CSS_SELECTOR, f'#environments tr[data-id="{env["id"]}"]')
    assert "dash-rt" in row.text and "OK" in row.text


def test_a_wrong_password_is_refused_and_sets_no_cookie(server: RunningServer) -> None:
    response = httpx.post(
        f"{server.url}/dashboard/login",
        data={"username": server.login["user"], "password": "wrong", "next": "/dashboard/"},
    )
    assert response.status_code == 401 and "Wrong user or password" in response.text
    assert "set-cookie" not in response.headers


def test_sign_in_only_ever_redirects_to_the_dashboard(server: RunningServer) -> None:
    login = server.login
    for target in ("https://evil.example/", "//evil.example/dashboard/", "/admin/reset"):
        response = httpx.post(
            f"{server.url}/dashboard/login",
            data={"username": login["user"], "password": login["password"], "next": target},
        )
        assert response.status_code == 303 and response.headers["location"] == "/dashboard/"


def test_without_a_session_the_page_is_the_sign_in_form(server: RunningServer, made: dict[str, Any]) -> None:
    page = httpx.get(made["env"]["dashboardUrl"])
    assert page.status_code == 200 and 'id="login"' in page.text
    assert made["binding_id"] not in page.text and "dash-rt" not in page.text
    with_client_token = httpx.get(
        made["env"]["dashboardUrl"],
        cookies={
            "kymaprov_dashboard": server.token_for(
                server.cis_credentials(server.new_subaccount("dash-other"))
            )
        },
    )
    assert 'id="login"' in with_client_token.text  # a client's token is no platform login


def test_failed_sign_ins_count_against_the_token_endpoints_limit(server: RunningServer) -> None:
    form = {"username": "nobody@example.com", "password": "guess", "next": "/dashboard/"}
    for _ in range(10):
        assert httpx.post(f"{server.url}/dashboard/login", data=form).status_code == 401
    limited = httpx.post(f"{server.url}/dashboard/login", data=form)
    assert limited.status_code == 429 and "Too many failed sign-ins" in limited.text
    token = httpx.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": "btp-cli",
            "username": form["username"],
            "password": "x",
        },
    )
    assert token.status_code == 429  # one count for both doors
