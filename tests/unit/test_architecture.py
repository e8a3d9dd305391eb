"""The layout's rules, checked on the source (docs/architecture.md explains them).

- No import cycle between modules — counting every import, also those inside functions or under
  ``TYPE_CHECKING``: a cycle hidden in a function is still a cycle.
- Imports point down: each package may import only the packages ``MAY_IMPORT`` lists for it (contract →
  SDK; contract → projections → runtime → operations → front doors). Nothing but ``cli`` imports ``cli``.
- Every exception class of the project derives from ``schemas.errors.KimError``, so a front door turns
  any of them into one ``error:`` line.
- No file of the project points at a document outside the repository.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOP = ("schemas", "projections", "streams", "infra", "analytics", "simulation", "web", "cli", "benchmarks")

# Each layer and what it may import besides itself. A layer is a top-level package, or a sub-package where
# the top level holds several concerns (streams/, web/).
CONTRACT = {"schemas"}
KAFKA = CONTRACT | {"streams.kafka"}
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": set(),
    "projections": CONTRACT,
    "streams.kafka": CONTRACT,
    "streams.sdk": KAFKA,
    "streams.runtime": KAFKA | {"projections"},
    "infra": KAFKA | {"projections"},
    "streams.operations": KAFKA | {"projections", "streams.runtime", "infra"},
    "streams.usecases": KAFKA | {"projections", "streams.sdk", "streams.runtime", "infra"},
    "analytics": CONTRACT | {"projections"},
    "simulation": CONTRACT | {"streams.sdk"},
    "web": CONTRACT,
    "web.gateway": KAFKA | {"web", "streams.sdk", "streams.usecases", "infra"},
    "web.analysts": CONTRACT | {"web", "projections", "analytics", "infra"},
    "cli": set(),  # filled below: everything but benchmarks
    "benchmarks": set(),  # everything but cli
}
EVERY = set(MAY_IMPORT)
MAY_IMPORT["cli"] = EVERY - {"cli", "benchmarks"}
MAY_IMPORT["benchmarks"] = EVERY - {"cli", "benchmarks"}


def layer_of(module: str) -> str:
    parts = module.split(".")
    two = ".".join(parts[:2])
    return two if two in MAY_IMPORT else parts[0]


def modules() -> dict[str, Path]:
    found = {}
    for top in TOP:
        for path in (REPO / top).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(module: str) -> set[str]:
    """Every module of the project that ``module`` imports, wherever in the file the import stands."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from package import module`` imports that module; ``from module import name`` the module
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


GRAPH = {module: imports(module) for module in MODULES}


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_the_project() -> None:
    assert {"schemas.codec", "streams.runtime.loop", "cli.main", "web.gateway.app"} <= set(MODULES)
    assert "schemas.codec" in GRAPH["streams.runtime.batch"]
    assert "schemas.domain" in GRAPH["schemas.codec"]


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles() == []


def test_cycles_are_found_where_they_are() -> None:
    """The cycle finder itself: a made-up loop is reported (with every module on the way round)."""
    GRAPH["schemas.topics"] = GRAPH["schemas.topics"] | {"schemas.codec"}
    try:
        found = cycles()
        assert len(found) == 1 and {"schemas.codec", "schemas.topics"} <= set(found[0])
    finally:
        GRAPH["schemas.topics"] = imports("schemas.topics")


def test_every_layer_imports_only_what_lies_below_it() -> None:
    upward = sorted(
        f"{module} imports {target} ({layer_of(module)} may import {sorted(MAY_IMPORT[layer_of(module)]) or 'nothing'})"
        for module, targets in GRAPH.items()
        for target in targets
        if layer_of(target) != layer_of(module) and layer_of(target) not in MAY_IMPORT[layer_of(module)]
    )
    assert upward == []


def test_the_layers_allowed_form_no_cycle_either() -> None:
    """The table itself points one way: no two layers may import each other, directly or around."""
    reach: dict[str, set[str]] = defaultdict(set)
    for layer in MAY_IMPORT:
        todo = list(MAY_IMPORT[layer])
        while todo:
            below = todo.pop()
            if below not in reach[layer]:
                reach[layer].add(below)
                todo.extend(MAY_IMPORT[below])
    assert [layer for layer in MAY_IMPORT if layer in reach[layer]] == []


def test_only_the_command_line_and_the_tests_import_cli() -> None:
    assert (
        sorted(m for m, targets in GRAPH.items() if layer_of(m) != "cli" for t in targets if layer_of(t) == "cli") == []
    )


def test_every_exception_class_of_the_project_is_a_kim_error() -> None:
    """One base, so front doors print any of them as one line; found by walking every class statement."""
    from schemas.errors import KimError

    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                found.append((module, node.name))
    errors = []
    for module, name in found:
        value = getattr(__import__(module, fromlist=[name]), name, None)
        if isinstance(value, type) and issubclass(value, BaseException) and not issubclass(value, KimError):
            errors.append(f"{module}.{name}")
    assert errors == []


OUTSIDE = re.compile(r"\.\./shared|\b(DOMAIN|FACTS|ARCHITECTURE)\.md\b")


@pytest.fixture(scope="module")
def tracked() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / n for n in names.splitlines() if (REPO / n).is_file()]


def test_no_file_points_at_a_document_outside_the_repository(tracked: list[Path]) -> None:
    hits = []
    for path in tracked:
        if path == Path(__file__):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(REPO)}:{text[: m.start()].count(chr(10)) + 1}" for m in OUTSIDE.finditer(text)]
    assert hits == []
