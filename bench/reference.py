"""The reference the service is measured against: bare Starlette on the same uvicorn, no kymaprov.

``/hello`` answers a constant; ``/row`` reads one JSON row with ``sqlite3`` in the thread pool (as
kymaprov's handlers run) and renders it, the least a GET of an environment must do; ``/rows?n=N``
reads and renders N rows as one list, the least a list endpoint returning N items must do; ``/items``
reads every body a ``POST /items`` stored (the kube API's list items), parses each and renders the list.
Run: ``python -m bench.reference PORT DB``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROW = {"id": "e" * 36, "state": "OK", "labels": {"a": "b"}, "parameters": {"region": "eu-central-1"}}
ROWS = 100  # /rows serves up to this many


def app(db: str) -> Starlette:
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, body TEXT)")
    conn.execute("INSERT OR REPLACE INTO rows VALUES (?, ?)", (ROW["id"], json.dumps(ROW)))
    for i in range(1, ROWS):
        row = {**ROW, "id": f"{i:036d}"}
        conn.execute("INSERT OR REPLACE INTO rows VALUES (?, ?)", (row["id"], json.dumps(row)))
    conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()

    def hello(_: Request) -> Response:
        return JSONResponse({"hello": "world"})

    def read_row(_: Request) -> Response:
        body: Any = json.loads(conn.execute("SELECT body FROM rows WHERE id = ?", (ROW["id"],)).fetchone()[0])
        return JSONResponse(body)

    def read_rows(request: Request) -> Response:
        n = int(request.query_params.get("n", "1"))
        found = conn.execute("SELECT body FROM rows ORDER BY id LIMIT ?", (n,)).fetchall()
        return JSONResponse({"items": [json.loads(body) for (body,) in found]})

    def read_items(_: Request) -> Response:
        bodies = conn.execute("SELECT body FROM items ORDER BY id").fetchall()
        items = [json.loads(b[0]) for b in bodies]
        return JSONResponse({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})

    async def load_items(request: Request) -> Response:
        items = await request.json()
        conn.execute("DELETE FROM items")
        conn.executemany("INSERT INTO items VALUES (?, ?)", [(i, json.dumps(o)) for i, o in enumerate(items)])
        conn.commit()
        return JSONResponse({"rows": len(items)})

    async def threaded_hello(request: Request) -> Response:
        return await run_in_threadpool(hello, request)

    async def threaded_row(request: Request) -> Response:
        return await run_in_threadpool(read_row, request)

    async def threaded_rows(request: Request) -> Response:
        return await run_in_threadpool(read_rows, request)

    async def items(request: Request) -> Response:
        if request.method == "POST":
            return await load_items(request)
        return await run_in_threadpool(read_items, request)

    return Starlette(
        routes=[
            Route("/hello", threaded_hello),
            Route("/row", threaded_row),
            Route("/rows", threaded_rows),
            Route("/items", items, methods=["GET", "POST"]),
        ]
    )


if __name__ == "__main__":
    uvicorn.run(app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
