"""The layout is a contract (docs/architecture.md): this test reads the project's own
imports with ast and fails on a cycle, on an import that goes the wrong way, on an
import hidden inside a function, on a module over the size limit, and on a package the
packaging does not list."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
#: the entry point defers heavy imports until a subcommand needs them
LAZY_IMPORTS_ALLOWED = {"micboardd.cli"}
#: the only modules that may import by name at run time (importlib.import_module), each
#: with its reason: an import the other rules cannot see must be declared here
DEFERRED_IMPORTS = {
    # a driver family is imported when a configured device uses it
    "micboardd.drivers": "family packages by driver id (driver_class)",
    # aiomqtt and paho cost a daemon without a broker (the default) start-up time and
    # memory for nothing: the bridge is imported when an mqtt section is configured
    "micboardd.mqtt.part": "micboardd.mqtt.bridge (aiomqtt, paho)",
}
PARTS = ("micboardd.history", "micboardd.alerts", "micboardd.mqtt", "micboardd.photos")

#: package -> packages it must never import (directly)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "micboardd.state": ("micboardd.server", *PARTS, "micboardd.links", "micboardd.daemon",
                        "micboardd.cli", "micboardd.control", "micboardd.parts",
                        "micboardd.simulate"),
    "micboardd.config": ("micboardd.state", "micboardd.server", *PARTS, "micboardd.links",
                         "micboardd.daemon", "micboardd.cli", "micboardd.control"),
    "micboardd.links": ("micboardd.server", *PARTS, "micboardd.daemon", "micboardd.cli",
                        "micboardd.control"),
    "micboardd.server": (*PARTS, "micboardd.links", "micboardd.daemon", "micboardd.cli",
                         "micboardd.control", "micboardd.parts"),
    "micboardd.history": ("micboardd.alerts", "micboardd.mqtt", "micboardd.daemon",
                          "micboardd.cli", "micboardd.links"),
    "micboardd.alerts": ("micboardd.history", "micboardd.mqtt", "micboardd.daemon",
                         "micboardd.cli", "micboardd.links"),
    "micboardd.mqtt": ("micboardd.history", "micboardd.alerts", "micboardd.daemon",
                       "micboardd.cli", "micboardd.links"),
    "micboardd.photos": ("micboardd.history", "micboardd.alerts", "micboardd.mqtt",
                         "micboardd.daemon", "micboardd.cli", "micboardd.links"),
    "micboardd.control": ("micboardd.server", *PARTS, "micboardd.daemon", "micboardd.cli"),
}


def sources() -> dict[str, Path]:
    """Module name -> file, as installed: drivers/ is micboardd.drivers."""
    out: dict[str, Path] = {}
    for top, name in ((ROOT / "micboardd", "micboardd"), (ROOT / "drivers", "micboardd.drivers")):
        for f in top.rglob("*.py"):
            parts = list(f.relative_to(top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([name, *parts])] = f
    return out


MODULES = sources()


def is_package(mod: str) -> bool:
    return MODULES[mod].name == "__init__.py"


def resolve(mod: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_package(mod) else mod.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports(mod: str) -> Iterator[tuple[str, ast.stmt, bool]]:
    """(imported project module, statement, inside a function) for every import."""
    tree = ast.parse(MODULES[mod].read_text())

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, ast.stmt, bool]]:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in MODULES:
                        yield alias.name, child, in_function
            elif isinstance(child, ast.ImportFrom):
                target = resolve(mod, child)
                if target in MODULES:
                    yield target, child, in_function
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    if sub in MODULES:
                        yield sub, child, in_function
            yield from walk(child, inner)

    yield from walk(tree, False)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod in MODULES:
        for target, _, _ in imports(mod):
            edges[mod].add(target)
            # importing a.b.c runs a/__init__ and a/b/__init__ first, unless the
            # importer is inside that package (then it is already being initialised)
            parts = target.split(".")
            for i in range(1, len(parts)):
                pkg = ".".join(parts[:i])
                if pkg in MODULES and not (mod == pkg or mod.startswith(pkg + ".")):
                    edges[mod].add(pkg)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def within(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def test_there_is_something_to_check() -> None:
    # a broken path would make every other test pass vacuously
    assert {"micboardd.daemon", "micboardd.state.store", "micboardd.drivers.base",
            "micboardd.drivers.shure_ulxd.driver", "micboardd.server.app"} <= set(MODULES)
    assert ("micboardd.state.store", "micboardd.drivers") in {
        (m, t) for m in MODULES for t, _, _ in imports(m)}


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_drivers_import_nothing_of_the_daemon() -> None:
    bad = [(m, t) for m in MODULES if within(m, "micboardd.drivers")
           for t, _, _ in imports(m) if not within(t, "micboardd.drivers")]
    assert bad == []


@pytest.mark.parametrize("pkg", sorted(FORBIDDEN))
def test_no_import_goes_the_wrong_way(pkg: str) -> None:
    bad = [(m, t) for m in MODULES if within(m, pkg) for t, _, _ in imports(m)
           if any(within(t, f) for f in FORBIDDEN[pkg])]
    assert bad == []


def test_only_the_command_line_imports_the_daemon() -> None:
    entry = ("micboardd.cli", "micboardd.__main__")  # python -m micboardd runs the cli
    bad = [(m, t) for m in MODULES for t, _, _ in imports(m)
           if t in ("micboardd.daemon", "micboardd.cli") and m not in entry]
    assert bad == []


def test_no_imports_hidden_in_functions() -> None:
    bad = [(m, t, stmt.lineno) for m in MODULES if m not in LAZY_IMPORTS_ALLOWED
           for t, stmt, in_function in imports(m) if in_function]
    assert bad == []


def import_module_calls(mod: str) -> list[int]:
    """Lines where ``mod`` calls ``importlib.import_module`` (or ``__import__``)."""
    tree = ast.parse(MODULES[mod].read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("import_module", "__import__"):
                out.append(node.lineno)
    return out


def test_imports_by_name_only_where_declared() -> None:
    found = {m: lines for m in MODULES if (lines := import_module_calls(m))}
    assert set(found) - set(DEFERRED_IMPORTS) - LAZY_IMPORTS_ALLOWED == set(), found
    # and each declared one still does it (a stale exception would hide nothing)
    assert set(DEFERRED_IMPORTS) <= set(found)


def test_a_daemon_without_a_broker_does_not_load_mqtt_libraries() -> None:
    code = ("import sys, micboardd.daemon; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiomqtt', 'paho')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_no_module_over_the_size_limit() -> None:
    big = {m: n for m, f in MODULES.items()
           if (n := len(f.read_text().splitlines())) > MAX_LINES}
    assert big == {}


def test_every_package_is_packaged() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    python = {m for m in MODULES if is_package(m)}
    assert python - listed == set()  # a package that is not listed would not ship
    # the others listed are data-only (the dashboard, configurations, the unit): each
    # is a folder without Python whose package-data globs ship at least one file
    data = listed - python
    assert data, "the dashboard, the examples and the unit ship as data packages"
    for pkg in sorted(data):
        # its folder: its own package-dir entry, or its parent's with the rest appended
        parent = max((p for p in cfg["package-dir"] if pkg == p or pkg.startswith(p + ".")),
                     key=len)
        folder = ROOT / cfg["package-dir"][parent] / pkg[len(parent) + 1:].replace(".", "/")
        globs = cfg["package-data"][pkg]
        assert folder.is_dir() and not list(folder.rglob("*.py")), pkg
        assert [f for g in globs for f in folder.glob(g) if f.is_file()], pkg
    assert cfg["package-dir"]["micboardd.drivers"] == "drivers"
