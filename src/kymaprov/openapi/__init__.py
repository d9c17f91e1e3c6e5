"""``GET /openapi.json``: kymaprov's HTTP API as it is on the wire, for schemathesis and client generators.

The document is written by hand in ``kymaprov.yaml`` (the wire format is the real service's, which no
framework would derive); ``tests/test_openapi.py`` runs schemathesis against a real server to keep it true.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@cache
def document() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("kymaprov.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def routes(base_url: str) -> list[Route]:
    def openapi(_: Request) -> Response:
        served = copy.deepcopy(document())
        served["servers"] = [{"url": base_url}]
        return JSONResponse(served)

    return [Route("/openapi.json", openapi, methods=["GET"])]
