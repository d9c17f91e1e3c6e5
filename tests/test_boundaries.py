"""The dependency rules of docs/architecture.md ("Dependency rules"), checked on kymaprov's import graph.

import-linter is not installable here, so the graph is built with ``ast``: every ``import`` and
``from ... import`` in ``src/kymaprov`` (at module level, inside functions, under ``TYPE_CHECKING``),
plus ``importlib.import_module("...")`` with a literal name. Each contract is a function from the graph
to the list of its violations, so a broken rule names the module, the line and what it imported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "kymaprov"

# The client side (the SDK and the client CLI, including ``btp``), which ``pip install kymaprov`` installs
# without the server's dependencies.
CLIENT = ("kymaprov.client", "kymaprov.cli")
# ``kymaprov serve``: the server's one command, in the CLI package but on the server side, which
# ``kymaprov.cli.main`` imports only when the command is listed or run.
SERVER_COMMAND = "kymaprov.cli.serve"
LAZY_SERVE = ("kymaprov.cli.main", SERVER_COMMAND)
# Leaves both sides may use: they import nothing from kymaprov and nothing outside the standard library.
SHARED = frozenset({"kymaprov", "kymaprov.paths"})
# What the client may import from outside the standard library: pyproject's base dependencies.
CLIENT_DEPENDENCIES = frozenset({"httpx", "click", "rich", "yaml"})
# The embedded Kubernetes API server plays a cluster: it knows nothing of the service that provisions it.
KUBEAPI = "kubeapi"
KUBEAPI_MUST_NOT_IMPORT = frozenset(
    {"provisioning", "cis", "uaa", "admin", "accounts", "backends", "app", "server", "cliserver"}
)
# The service layers reach runtimes only through ``backends`` (and Kubernetes' own API over HTTPS); so does
# the CLI-server protocol, a thin HTTP layer over their public operations.
SERVICE_LAYERS = frozenset({"provisioning", "cis", "uaa", "accounts", "cliserver"})

# Imports inside functions, under TYPE_CHECKING or by importlib: each one allowed here, with the reason.
# Everything else is imported at the top of its module, so the graph the reader sees is the real one.
HIDDEN_ALLOWED: dict[tuple[str, str], str] = {
    # kymaprov serve is attached lazily so the client runs without the server's dependencies installed
    LAZY_SERVE: "the client's one way to the server",
    # kymaprov --help lists the client commands from their summaries; their modules load when one runs
    **{
        ("kymaprov.cli.main", f"kymaprov.cli.{m}"): "a client command, loaded when it runs"
        for m in ("admin", "bindings", "common", "environments", "exec_fast", "procedure", "profiles")
    },
    # exec-credential answers the common case with the standard library; the SDK only when it must
    ("kymaprov.cli.exec_fast", "kymaprov.client.exec_credential"): "the full plugin, loaded when needed",
    # the pytest plugin loads in every pytest run where kymaprov is installed, also client-only ones; only
    # its in-process server fixture needs the server
    ("kymaprov.testing", "kymaprov.config"): "kymaprov_inprocess fixture, needs kymaprov[server]",
    ("kymaprov.testing", "kymaprov.server"): "kymaprov_inprocess fixture, needs kymaprov[server]",
    # for the type of a parameter only: the object store applies strategies and CRDs, which take the store
    ("kymaprov.kubeapi.crds", "kymaprov.kubeapi.objects"): "ObjectStore, under TYPE_CHECKING",
    ("kymaprov.kubeapi.strategies", "kymaprov.kubeapi.objects"): "ObjectStore, under TYPE_CHECKING",
    ("kymaprov.kubeapi.pods", "kymaprov.kubeapi.objects"): "ObjectStore, under TYPE_CHECKING",
    ("kymaprov.kubeapi.disruption", "kymaprov.kubeapi.objects"): "ObjectStore, under TYPE_CHECKING",
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a kymaprov module, or the dotted name of an outside one
    line: int
    hidden: str  # "" at module level, else "function", "TYPE_CHECKING" or "importlib"

    def __str__(self) -> str:
        where = f" ({self.hidden})" if self.hidden else ""
        return f"{self.importer}:{self.line} imports {self.imported}{where}"


@dataclass(frozen=True, repr=False)
class Graph:
    package: str
    modules: frozenset[str]
    imports: tuple[Import, ...]

    def internal(self) -> Iterable[Import]:
        return (i for i in self.imports if i.imported in self.modules)

    def unit(self, module: str) -> str:
        """The top-level subpackage or module (``provisioning``, ``app``); "" for the package itself."""
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else ""


def _modules(root: Path, package: str) -> dict[str, Path]:
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_import_module(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name == "import_module" and bool(call.args) and isinstance(call.args[0], ast.Constant)


def build_graph(root: Path, package: str = PACKAGE) -> Graph:
    modules = _modules(root, package)
    names = frozenset(modules)
    imports: list[Import] = []

    def resolve(base: str, name: str | None) -> str:
        """``from base import name``: the submodule if ``name`` is one, else ``base``."""
        return f"{base}.{name}" if name and f"{base}.{name}" in names else base

    for module, path in modules.items():
        own_package = module if path.name == "__init__.py" else module.rpartition(".")[0]

        def visit(node: ast.AST, hidden: str, module: str = module, own_package: str = own_package) -> None:
            def add(target: str, how: str = hidden) -> None:
                imports.append(Import(module, target, node.lineno, how))  # type: ignore[attr-defined]

            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                    base = ".".join([*parts, node.module] if node.module else parts)
                else:
                    base = node.module or ""
                for alias in node.names:
                    add(resolve(base, alias.name))
            elif isinstance(node, ast.Call) and _is_import_module(node):
                add(str(node.args[0].value), hidden or "importlib")  # type: ignore[attr-defined]
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for statement in node.body:
                    visit(statement, "TYPE_CHECKING")
                for statement in node.orelse:
                    visit(statement, hidden)
                return
            inner = hidden or (
                "function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else ""
            )
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

        visit(ast.parse(path.read_text(), str(path)), "")
    return Graph(package, names, tuple(dict.fromkeys(imports)))  # one per line, not per imported name


# -- the contracts ----------------------------------------------------------------------------------


def _in(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _is_client(module: str) -> bool:
    return _in(module, CLIENT) and not _in(module, [SERVER_COMMAND])


def _outside_top(name: str) -> str:
    return name.partition(".")[0]


def client_imports_no_server(graph: Graph) -> list[str]:
    """(a) The client imports only the client, the shared leaves and its base dependencies."""
    problems = []
    for imp in graph.imports:
        if imp.importer in SHARED:
            if imp.imported in graph.modules or _outside_top(imp.imported) not in sys.stdlib_module_names:
                problems.append(f"shared leaf {imp}")
        elif _is_client(imp.importer) and (imp.importer, imp.imported) != LAZY_SERVE:
            if imp.imported in graph.modules:
                if not (_is_client(imp.imported) or imp.imported in SHARED):
                    problems.append(str(imp))
            elif _outside_top(imp.imported) not in sys.stdlib_module_names | CLIENT_DEPENDENCIES:
                problems.append(f"{imp}, not a base dependency")
    return problems


def kubeapi_stands_apart(graph: Graph) -> list[str]:
    """(b) The embedded Kubernetes API server imports none of the service's layers."""
    return [
        str(imp)
        for imp in graph.internal()
        if graph.unit(imp.importer) == KUBEAPI and graph.unit(imp.imported) in KUBEAPI_MUST_NOT_IMPORT
    ]


def services_reach_runtimes_through_backends(graph: Graph) -> list[str]:
    """(c) provisioning, cis, uaa and accounts never import the embedded Kubernetes API server."""
    return [
        str(imp)
        for imp in graph.internal()
        if graph.unit(imp.importer) in SERVICE_LAYERS and graph.unit(imp.imported) == KUBEAPI
    ]


def _cycles(imports: Iterable[Import], node: Callable[[str], str]) -> list[str]:
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        a, b = node(imp.importer), node(imp.imported)
        if a and b and a != b:
            edges.setdefault(a, {}).setdefault(b, imp)
    problems = []
    for component in _strongly_connected(edges):
        if len(component) > 1:
            witnesses = [
                str(edges[a][b])
                for a in sorted(component)
                for b in sorted(edges.get(a, {}))
                if b in component
            ]
            problems.append(f"cycle between {', '.join(sorted(component))}: " + "; ".join(witnesses))
    return problems


def no_cycles_between_units(graph: Graph) -> list[str]:
    """(d) The top-level subpackages and modules import each other without a cycle."""
    return _cycles(graph.internal(), graph.unit)


def no_cycles_between_modules(graph: Graph) -> list[str]:
    """(d) Nor do modules, but for the allowed hidden imports below (kubeapi's own)."""
    allowed = [i for i in graph.internal() if (i.importer, i.imported) not in HIDDEN_ALLOWED]
    return _cycles(allowed, lambda module: module)


def no_hidden_imports(graph: Graph) -> list[str]:
    """(d) kymaprov modules are imported at the top of a module, except the allowed ones listed above."""
    return [
        str(imp)
        for imp in graph.internal()
        if imp.hidden and (imp.importer, imp.imported) not in HIDDEN_ALLOWED
    ]


def _strongly_connected(edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm over the unit graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in edges.get(node, {}):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted({*edges, *(b for targets in edges.values() for b in targets)}):
        if node not in index:
            connect(node)
    return components


CONTRACTS: dict[str, Callable[[Graph], list[str]]] = {
    "client imports no server module": client_imports_no_server,
    "kubeapi imports no service layer": kubeapi_stands_apart,
    "service layers reach runtimes through backends": services_reach_runtimes_through_backends,
    "no cycles between top-level units": no_cycles_between_units,
    "no cycles between modules": no_cycles_between_modules,
    "no hidden imports": no_hidden_imports,
}


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(SRC)


@pytest.mark.parametrize("contract", list(CONTRACTS))
def test_contract(graph: Graph, contract: str) -> None:
    assert CONTRACTS[contract](graph) == []


def test_every_allowed_hidden_import_exists(graph: Graph) -> None:
    """An allowance whose import is gone would silently allow its return: drop it with the import."""
    hidden = {(imp.importer, imp.imported) for imp in graph.internal() if imp.hidden}
    assert set(HIDDEN_ALLOWED) - hidden == set()


def _declares_tables(path: Path) -> bool:
    return any(
        isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == "Table" or getattr(node.func, "id", None) == "Table")
        for node in ast.walk(ast.parse(path.read_text()))
    )


def test_the_server_registers_every_table_before_opening(graph: Graph) -> None:
    """``Context.open`` creates the tables imported so far; ``kymaprov.server`` imports all of them."""
    reached, todo = set(), ["kymaprov.server"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += [i.imported for i in graph.internal() if i.importer == module and not i.hidden]
    declaring = {m for m, path in _modules(SRC, PACKAGE).items() if _declares_tables(path)}
    assert "kymaprov.store" in declaring and len(declaring) > 3
    assert declaring - reached == set()


# -- the checker itself, on a tiny package that breaks each rule ------------------------------------


def _write_package(root: Path, files: dict[str, str]) -> Graph:
    for name, text in {"kymaprov/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            init = root / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
        path.write_text(text)
    return build_graph(root)


CLEAN = {
    "kymaprov/paths.py": "import os\n",
    "kymaprov/client/__init__.py": "import httpx\nfrom kymaprov.client import models\n",
    "kymaprov/client/models.py": "from .. import paths\n",
    "kymaprov/cli/main.py": (
        "import importlib\nfrom kymaprov.client import models\n\n"
        "def serve():\n    return importlib.import_module('kymaprov.cli.serve')\n"
    ),
    "kymaprov/cli/serve.py": "import starlette\nfrom kymaprov import server\n",
    "kymaprov/server.py": "from kymaprov.provisioning import models\nfrom kymaprov.kubeapi import app\n",
    "kymaprov/provisioning/models.py": "from kymaprov.backends import base\n",
    "kymaprov/backends/base.py": "from kymaprov.kubeapi import app\n",
    "kymaprov/kubeapi/app.py": "from .objects import ObjectStore\n",
    "kymaprov/kubeapi/objects.py": "import json\n",
}

BROKEN = {
    "client imports no server module": {
        "kymaprov/client/models.py": "from kymaprov.backends.base import ClusterAccess\n",
    },
    "kubeapi imports no service layer": {
        "kymaprov/admin/api.py": "",
        "kymaprov/kubeapi/objects.py": "from ..admin import api\n",
    },
    "service layers reach runtimes through backends": {
        "kymaprov/provisioning/models.py": "import kymaprov.kubeapi.objects\n",
    },
    "no cycles between top-level units": {
        "kymaprov/backends/base.py": "from kymaprov.kubeapi import app\nfrom kymaprov import server\n",
    },
    "no cycles between modules": {"kymaprov/kubeapi/objects.py": "from kymaprov.kubeapi.app import x\n"},
    "no hidden imports": {
        "kymaprov/provisioning/models.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kymaprov.backends import base\n"
        ),
    },
}


def test_the_checker_passes_a_clean_package(tmp_path: Path) -> None:
    graph = _write_package(tmp_path, CLEAN)
    assert Import("kymaprov.client.models", "kymaprov.paths", 1, "") in graph.imports  # relative imports
    assert Import("kymaprov.cli.main", "kymaprov.cli.serve", 5, "function") in graph.imports
    assert {name: CONTRACTS[name](graph) for name in CONTRACTS} == {name: [] for name in CONTRACTS}


@pytest.mark.parametrize("contract", list(BROKEN))
def test_the_checker_fails_a_broken_contract(tmp_path: Path, contract: str) -> None:
    graph = _write_package(tmp_path, {**CLEAN, **BROKEN[contract]})
    failing = {name for name in CONTRACTS if CONTRACTS[name](graph)}
    # a cycle between units is one between modules too
    also = {"no cycles between modules"} if contract == "no cycles between top-level units" else set()
    assert failing == {contract, *also}


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    graph = _write_package(
        tmp_path,
        {
            **CLEAN,
            "kymaprov/client/models.py": "def f():\n    import sqlalchemy\n    from kymaprov import server\n",
        },
    )
    assert client_imports_no_server(graph) == [
        "kymaprov.client.models:2 imports sqlalchemy (function), not a base dependency",
        "kymaprov.client.models:3 imports kymaprov.server (function)",
    ]
